/*
 * The ceiling of pkgindex's protocol on this machine: a server that answers "OK\n" to every
 * line and does nothing else. One thread per core (issue 13: a ceiling on one core measures
 * one core), each with its own listening socket on the same port (SO_REUSEPORT, so the
 * kernel spreads connections over them) and its own non-blocking, level-triggered epoll loop,
 * like a good event-loop server: per read chunk it counts the '\n's and answers them all with
 * one write. While a client's replies cannot be written, it stops reading from that client.
 *
 * Built by the benchmark matrix (tools/matrix/child-server.ts) with the machine's gcc into tools/out/.
 * Usage: ceiling [port] [host] [threads]   (port 0 = any; threads 0 or absent = one per online
 * core; prints "listening on port N" once every thread listens).
 * It dies with its parent (PR_SET_PDEATHSIG), so a crashed benchmark never leaves it behind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536
#define MAX_EVENTS 256
#define MAX_FDS 65536

/* "OK\n" repeated: any run of owed replies, from any phase, is one slice of it. */
static char replies[3 * (READ_SIZE + 1)];

struct conn {
  unsigned long owed; /* bytes of the "OK\n" stream not yet written */
  unsigned phase;     /* offset of the next owed byte within "OK\n" */
};
/* Indexed by fd: descriptors are unique in the process, so threads never share an entry. */
static struct conn conns[MAX_FDS];
/* Each thread's epoll instance. */
static __thread int ep;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void drop(int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

static void watch(int fd, unsigned events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl");
}

/* Writes what is owed; returns 0 when all of it went out, 1 when the socket is full, -1 on error. */
static int flush_owed(int fd) {
  struct conn *c = &conns[fd];
  while (c->owed > 0) {
    size_t n = c->owed < sizeof replies - 3 ? c->owed : sizeof replies - 3;
    ssize_t w = write(fd, replies + c->phase, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 1;
      return -1;
    }
    c->owed -= (unsigned long)w;
    c->phase = (c->phase + (unsigned)(w % 3)) % 3;
  }
  return 0;
}

static void on_readable(int fd) {
  static __thread char buf[READ_SIZE];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    drop(fd);
    return;
  }
  unsigned long lines = 0;
  for (const char *p = buf, *end = buf + r; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) lines++;
  conns[fd].owed += 3 * lines;
  int s = flush_owed(fd);
  if (s < 0)
    drop(fd);
  else if (s > 0)
    watch(fd, EPOLLOUT);
}

static void on_writable(int fd) {
  int s = flush_owed(fd);
  if (s < 0)
    drop(fd);
  else if (s == 0)
    watch(fd, EPOLLIN);
}

static int listen_on(const char *host, int port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("SO_REUSEPORT");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("inet_pton");
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  return lfd;
}

static void *serve(void *arg) {
  int lfd = (int)(long)arg;
  int one = 1;
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int cfd;
        while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (cfd >= MAX_FDS) {
            close(cfd);
            continue;
          }
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[cfd] = (struct conn){0, 0};
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0) close(cfd);
        }
      } else if (events[i].events & EPOLLOUT) {
        on_writable(fd);
      } else {
        on_readable(fd);
      }
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  long threads = argc > 3 ? atol(argv[3]) : 0;
  if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN);
  if (threads <= 0) threads = 1;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i + 3 <= sizeof replies; i += 3) memcpy(replies + i, "OK\n", 3);

  /* The first socket picks the port (when 0); the others bind the same one. */
  int first = listen_on(host, port);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  getsockname(first, (struct sockaddr *)&addr, &len);
  port = ntohs(addr.sin_port);
  for (long t = 1; t < threads; t++) {
    pthread_t id;
    if (pthread_create(&id, NULL, serve, (void *)(long)listen_on(host, port)) != 0) die("pthread_create");
  }
  printf("listening on port %d (%ld threads)\n", port, threads);
  fflush(stdout);
  serve((void *)(long)first);
  return 0;
}

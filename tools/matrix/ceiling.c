/*
 * The ceiling of pkgindex's protocol on this machine: a server that answers "OK\n" to every
 * line and does nothing else. One thread per core (issue 13: a ceiling on one core measures
 * one core), each with its own listening socket on the same port (SO_REUSEPORT, so the
 * kernel spreads connections over them) and its own non-blocking, level-triggered epoll loop,
 * like a good event-loop server: per read chunk it counts the '\n's and answers them all with
 * one write. While a client's replies cannot be written, it stops reading from that client.
 *
 * With "ring" as its fourth argument it makes its calls the way pkgindex's native layer does
 * (ADR 0023): per turn, the readable connections' reads in one io_uring submission, then the
 * owed connections' writes in another (each MSG_DONTWAIT, so each completes during the
 * submission as the plain call would); one connection ready: the plain calls. On a host where
 * a system call's entry and exit are expensive this is the ceiling of a server that batches
 * its calls, which the plain one is not.
 *
 * Built by the benchmark matrix (tools/matrix/child-server.ts) with the machine's gcc into tools/out/.
 * Usage: ceiling [port] [host] [threads] [plain|ring]   (port 0 = any; threads 0 or absent = one
 * per online core; prints "listening on port N" once every thread listens).
 * It dies with its parent (PR_SET_PDEATHSIG), so a crashed benchmark never leaves it behind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

/* Owes "OK\n" for every line of what was read. */
static void count_lines(int fd, const char *buf, ssize_t r) {
  unsigned long lines = 0;
  for (const char *p = buf, *end = buf + r; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) lines++;
  conns[fd].owed += 3 * lines;
}

static void on_readable(int fd) {
  static __thread char buf[READ_SIZE];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    drop(fd);
    return;
  }
  count_lines(fd, buf, r);
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

/* ---- ring mode: a turn's reads, then its writes, in one io_uring submission each ---- */

#define RING_ENTRIES 256
#define ARENA_BYTES (256 * 1024)
#define SLICE_MIN 4096

static int ring_mode;

struct ring {
  int fd;
  unsigned *sq_head, *sq_tail, *sq_array, sq_mask;
  unsigned *cq_head, *cq_tail, cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  unsigned tail, queued;
};
static __thread struct ring ring;

static void ring_open(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
  if (fd < 0) die("io_uring_setup");
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (sq_len < cq_len) sq_len = cq_len; /* one mapping for both (IORING_FEAT_SINGLE_MMAP, 5.4+) */
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) die("io_uring: kernel too old (no single mmap)");
  char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || sqes == MAP_FAILED) die("mmap io_uring");
  ring.fd = fd;
  ring.sq_head = (unsigned *)(sq + p.sq_off.head);
  ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
  ring.sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  ring.sq_array = (unsigned *)(sq + p.sq_off.array);
  ring.cq_head = (unsigned *)(sq + p.cq_off.head);
  ring.cq_tail = (unsigned *)(sq + p.cq_off.tail);
  ring.cq_mask = *(unsigned *)(sq + p.cq_off.ring_mask);
  ring.cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
  ring.sqes = sqes;
  ring.tail = ring.queued = 0;
}

static void ring_queue(unsigned char op, int fd, void *buf, size_t n, unsigned flags, unsigned long tag) {
  unsigned index = ring.tail & ring.sq_mask;
  struct io_uring_sqe *e = &ring.sqes[index];
  memset(e, 0, sizeof *e);
  e->opcode = op;
  e->fd = fd;
  e->addr = (unsigned long)buf;
  e->len = (unsigned)n;
  e->msg_flags = flags;
  e->user_data = tag;
  ring.sq_array[index] = index;
  ring.tail++;
  ring.queued++;
}

/* Submits what is queued, waits for all of it, and puts each result at results[tag]. */
static void ring_run(int *results) {
  unsigned n = ring.queued;
  if (n == 0) return;
  __atomic_store_n(ring.sq_tail, ring.tail, __ATOMIC_RELEASE);
  while (syscall(__NR_io_uring_enter, ring.fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
    if (errno != EINTR) die("io_uring_enter");
  ring.queued = 0;
  unsigned head = *ring.cq_head, tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
  for (; head != tail; head++) results[ring.cqes[head & ring.cq_mask].user_data] = ring.cqes[head & ring.cq_mask].res;
  __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
}

/* Reads every fd of `ready` once, then writes what each owes, a submission each. */
static void serve_ring(const int *ready, int n) {
  static __thread char arena[ARENA_BYTES];
  int results[RING_ENTRIES];
  size_t slice = ARENA_BYTES / (size_t)n;
  slice = slice > READ_SIZE ? READ_SIZE : slice < SLICE_MIN ? SLICE_MIN : slice;
  int per_round = (int)(ARENA_BYTES / slice);
  int owing[MAX_EVENTS], owe = 0;
  for (int from = 0; from < n; from += per_round) {
    int to = from + per_round < n ? from + per_round : n;
    for (int i = from; i < to; i++)
      ring_queue(IORING_OP_RECV, ready[i], arena + (size_t)(i - from) * slice, slice, MSG_DONTWAIT, (unsigned long)(i - from));
    ring_run(results);
    for (int i = from; i < to; i++) {
      int r = results[i - from];
      if (r == -EAGAIN || r == -EINTR) continue;
      if (r <= 0) {
        drop(ready[i]);
        continue;
      }
      count_lines(ready[i], arena + (size_t)(i - from) * slice, r);
      owing[owe++] = ready[i];
    }
  }
  for (int i = 0; i < owe; i++) {
    struct conn *c = &conns[owing[i]];
    size_t len = c->owed < sizeof replies - 3 ? c->owed : sizeof replies - 3;
    ring_queue(IORING_OP_SEND, owing[i], replies + c->phase, len, MSG_DONTWAIT | MSG_NOSIGNAL, (unsigned long)i);
  }
  ring_run(results);
  for (int i = 0; i < owe; i++) {
    int fd = owing[i], w = results[i];
    struct conn *c = &conns[fd];
    if (w > 0) {
      c->owed -= (unsigned long)w;
      c->phase = (c->phase + (unsigned)(w % 3)) % 3;
    } else if (w != -EAGAIN && w != -EINTR) {
      drop(fd);
      continue;
    }
    if (c->owed > 0) watch(fd, EPOLLOUT);
  }
}

static void *serve(void *arg) {
  int lfd = (int)(long)arg;
  int one = 1;
  if (ring_mode) ring_open();
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
  struct epoll_event events[MAX_EVENTS];
  int ready[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    int readable = 0;
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
      } else if (ring_mode) {
        ready[readable++] = fd;
      } else {
        on_readable(fd);
      }
    }
    if (readable == 1)
      on_readable(ready[0]);
    else if (readable > 1)
      serve_ring(ready, readable);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  long threads = argc > 3 ? atol(argv[3]) : 0;
  if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN);
  if (threads <= 0) threads = 1;
  ring_mode = argc > 4 && strcmp(argv[4], "ring") == 0;
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
  printf("listening on port %d (%ld threads%s)\n", port, threads, ring_mode ? ", io_uring" : "");
  fflush(stdout);
  serve((void *)(long)first);
  return 0;
}

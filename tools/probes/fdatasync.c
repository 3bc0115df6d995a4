/*
 * fdatasync latency of this host's disk, the floor under a durable group commit.
 * Writes 300-byte records, each followed by fdatasync (mode 0: appended to a growing
 * file; mode 1: over a region of 4 MiB zeroed and synced first, so no size change has
 * to reach the journal; mode 2: appended, fsync; mode 3: appended, each a pwrite on an
 * O_DSYNC descriptor, as the durable log writes; mode 4: O_DSYNC over a zeroed region),
 * 2,000 times, in the current directory. Prints the mean latency and the process's CPU
 * time (user + system, getrusage) per record: the kernel's share of a commit.
 * Build and run: gcc -O2 -o /tmp/fdatasync tools/probes/fdatasync.c && /tmp/fdatasync 0
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  const int n = 2000;
  char record[300];
  memset(record, 'x', sizeof record);
  unlink("fdatasync-probe.dat");
  int dsync = mode >= 3;
  int fd = open("fdatasync-probe.dat", O_CREAT | O_RDWR | (dsync ? O_DSYNC : 0), 0644);
  if (fd < 0) { perror("open"); return 1; }
  if (mode == 1 || mode == 4) {
    char *zeros = calloc(1, 1 << 20);
    for (int i = 0; i < 4; i++) if (write(fd, zeros, 1 << 20) < 0) { perror("write"); return 1; }
    fsync(fd);
    lseek(fd, 0, SEEK_SET);
  }
  double start = now_us(), cpu = cpu_us(), worst = 0;
  for (int i = 0; i < n; i++) {
    double t = now_us();
    if (write(fd, record, sizeof record) < 0) { perror("write"); return 1; }
    if (mode == 2) fsync(fd);
    else if (!dsync) fdatasync(fd);
    double d = now_us() - t;
    if (d > worst) worst = d;
  }
  printf("mode %d: %d records, mean %.1f us, max %.1f us, CPU %.1f us per record\n", mode, n,
         (now_us() - start) / n, worst, (cpu_us() - cpu) / n);
  close(fd);
  unlink("fdatasync-probe.dat");
  return 0;
}

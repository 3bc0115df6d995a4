/*
 * What one system call's entry and exit cost on this host: the floor under every recv, send
 * and epoll_wait the server makes, and what ADR 0023's one submission per turn saves per
 * connection. Times 1,000,000 getppid(2) calls (no work in the kernel beyond entry and exit)
 * and prints the mean, three times. About 0.95 µs on the 2-core Firecracker VM (page-table
 * isolation without PCID: each entry and exit switches page tables); ~0.1 µs is usual on
 * bare metal with PCID. `grep -o 'pti\|pcid' /proc/cpuinfo | sort -u` and
 * `cat /sys/devices/system/cpu/vulnerabilities/meltdown` say which kind of host this is.
 * Build and run: gcc -O2 -o /tmp/syscall-cost tools/probes/syscall-cost.c && /tmp/syscall-cost
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  const long calls = 1000000;
  for (int run = 0; run < 3; run++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < calls; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    const double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("%.0f ns a system call (getppid, %ld calls)\n", ns / (double)calls, calls);
  }
  return 0;
}

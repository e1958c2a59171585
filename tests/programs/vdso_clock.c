// Test program: N clock_gettime and gettimeofday calls, which glibc answers from the vDSO without
// a syscall; prints whether time moved forward monotonically, and whether it moved in fine steps
// (the vDSO reads the TSC: a guest whose TSC is not the host's falls back to the kernel's last
// tick, 4 ms steps) and agrees with the kernel's own clock_gettime syscall.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(const struct timespec* t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  struct timespec prev, cur, sys;
  clock_gettime(CLOCK_MONOTONIC, &prev);
  int monotonic = 1;
  int64_t min_step = INT64_MAX;
  for (long i = 0; i < n; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &cur);
    int64_t step = ns(&cur) - ns(&prev);
    if (step < 0) monotonic = 0;
    if (step > 0 && step < min_step) min_step = step;
    prev = cur;
    struct timeval tv;
    gettimeofday(&tv, NULL);
  }
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sys);
  clock_gettime(CLOCK_MONOTONIC, &cur);
  int64_t skew = ns(&cur) - ns(&sys);
  printf("monotonic=%d\n", monotonic);
  printf("fine steps=%d\n", min_step < 1000000);  // under 1 ms
  // The vDSO read comes after the syscall: never before it, and not far after (a VM exit here
  // costs up to ~1 ms under emulation).
  printf("agrees with the kernel=%d\n", skew >= 0 && skew < 100000000);
  return 0;
}

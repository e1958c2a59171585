// Test program: N clock_gettime and gettimeofday calls, which glibc answers from the vDSO without
// a syscall; prints whether time moved forward monotonically.
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  struct timespec prev, cur;
  clock_gettime(CLOCK_MONOTONIC, &prev);
  int monotonic = 1;
  for (long i = 0; i < n; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &cur);
    if (cur.tv_sec < prev.tv_sec || (cur.tv_sec == prev.tv_sec && cur.tv_nsec < prev.tv_nsec)) monotonic = 0;
    prev = cur;
    struct timeval tv;
    gettimeofday(&tv, NULL);
  }
  printf("monotonic=%d\n", monotonic);
  return 0;
}

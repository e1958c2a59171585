// Test program: makes exactly N getpid syscalls (argv[1]) and prints the pid once.
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  long pid = 0;
  for (long i = 0; i < n; ++i) pid = syscall(SYS_getpid);
  printf("pid=%ld calls=%ld\n", pid, n);
  return 0;
}

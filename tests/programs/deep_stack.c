// Test program: uses 6 MiB of main-thread stack (growth far below the initial stack mapping),
// then reports a checksum computed natively the same way.
#include <stdio.h>
#include <string.h>

static unsigned long Walk(int depth) {
  volatile unsigned char frame[4096];
  memset((void*)frame, depth & 0xff, sizeof(frame));
  if (depth == 0) return frame[7];
  return Walk(depth - 1) + frame[100];
}

int main(void) {
  printf("sum=%lu\n", Walk(1500));
  return 0;
}

// Test program: dies the ways programs die. argv[1] picks: null (write to NULL), wild (jump to
// unmapped memory), ro (write to read-only memory), ud2 (invalid instruction), div0, abort,
// stack (unbounded recursion), int3, exit:N.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int Recurse(volatile int depth) {
  volatile char pad[1024];
  pad[0] = (char)depth;
  return Recurse(depth + 1) + pad[0];
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "null";
  if (!strcmp(mode, "null")) *(volatile int*)0 = 1;
  if (!strcmp(mode, "wild")) ((void (*)(void))0x7ff000001000ull)();
  if (!strcmp(mode, "ro")) {
    char* p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
  }
  if (!strcmp(mode, "ud2")) __asm__ volatile("ud2");
  if (!strcmp(mode, "div0")) {
    int q, z = 0;
    __asm__ volatile("cltd; idivl %2" : "=a"(q) : "a"(1), "r"(z) : "edx");
    printf("%d\n", q);
  }
  if (!strcmp(mode, "abort")) abort();
  if (!strcmp(mode, "stack")) return Recurse(0);
  if (!strcmp(mode, "int3")) __asm__ volatile("int3");
  if (!strncmp(mode, "exit:", 5)) return atoi(mode + 5);
  printf("survived %s\n", mode);
  return 0;
}

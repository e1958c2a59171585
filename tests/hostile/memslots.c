/* Hostile guest program, attack class 5 of issue 13: memory-slot exhaustion. Maps more small
 * anonymous regions than KVM has memory slots for (IX_HOSTILE_MEMSLOTS, default 17000 > 16384),
 * 4 KiB each and 2 MiB apart (so that no two can share a slot), MAP_FIXED_NOREPLACE in a range
 * reserved and freed for them, MAP_NORESERVE, and touches each. Each mmap must either succeed
 * with a region the program can then use (no SIGSEGV on the touch) or fail cleanly with
 * ENOMEM; the program goes on afterwards, unmaps everything and can still map and use memory.
 * Bounded by IX_HOSTILE_SECONDS (times 4: slot creation is the slow part). */
#include "hostile.h"

#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

static sigjmp_buf jump;
static void OnSegv(int sig) {
  (void)sig;
  siglongjmp(jump, 1);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RegionOrExit();
  const long want = EnvLong("IX_HOSTILE_MEMSLOTS", 17000);
  const size_t step = 2ul << 20;
  /* Find a hole for them all: reserve, then give the reservation back. */
  void* hole = mmap(NULL, (want + 1) * step, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (hole == MAP_FAILED) {
    printf("memslots FAILED cannot reserve %ld x 2 MiB: %s\n", want, strerror(errno));
    printf("done\n");
    return 0;
  }
  munmap(hole, (want + 1) * step);
  char* start = (char*)(((uintptr_t)hole + step - 1) & ~(step - 1));
  struct sigaction sa = {0};
  sa.sa_handler = OnSegv;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  long mapped = 0, enomem = 0, other = 0, segv = 0, i;
  int other_errno = 0;
  double t0 = NowSeconds();
  for (i = 0; i < want && NowSeconds() - t0 < 4 * BoundSeconds(); ++i) {
    char* at = start + i * step;
    void* p = mmap(at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                   -1, 0);
    if (p == MAP_FAILED) {
      if (errno == ENOMEM) ++enomem;
      else if (!other++) other_errno = errno;
      continue;
    }
    if (p != at) {
      munmap(p, 4096);
      if (!other++) other_errno = EEXIST;
      continue;
    }
    ++mapped;
    if (sigsetjmp(jump, 1) == 0) {
      *(volatile long*)at = i;
      if (*(volatile long*)at != i) ++segv;
    } else {
      ++segv;
    }
  }
  long tried = i;
  for (i = 0; i < tried; ++i) munmap(start + i * step, 4096);
  signal(SIGSEGV, SIG_DFL);
  signal(SIGBUS, SIG_DFL);
  /* Still usable afterwards. */
  char* after = malloc(8 << 20);
  memset(after, 1, 8 << 20);
  free(after);
  if (segv == 0 && other == 0) {
    printf("memslots ok tried=%ld mapped=%ld enomem=%ld (%.1f s)\n", tried, mapped, enomem, NowSeconds() - t0);
  } else {
    printf("memslots FAILED tried=%ld mapped=%ld enomem=%ld touch-faults=%ld other-errors=%ld (first %s)\n", tried,
           mapped, enomem, segv, other, other ? strerrorname_np(other_errno) : "-");
  }
  printf("expect-violations 0\n");
  printf("done\n");
  return 0;
}

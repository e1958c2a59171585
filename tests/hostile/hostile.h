/* Helpers shared by the hostile guest programs (tests/hostile/): finding ix-run's VMM-private
 * region, attempt and time bounds from the environment, raw and forged syscalls, and the verdict
 * lines hostile_test.cc reads.
 *
 * Output contract: every program prints "region" (or "no-region" and exits 0 when it runs
 * natively, where it proves nothing), then one line per attack, "NAME refused N/N ...",
 * "NAME survived ...", "NAME ok ..." or "NAME BREACH ...", and "done" last. */
#ifndef HOSTILE_H_
#define HOSTILE_H_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ix's own syscall numbers and the hypercall pages the LSTAR stub stores to (user-reachable, so
 * a ring-3 program can make the hypercall itself). */
#include "ix/hypercall.h"

/* The private region (vmm/vmm_state.h kPrivateSize) and the PROT_NONE guard on each side of it
 * (vmm/address_space.h kPrivateGuard). The VMM refuses anything in [base - guard, base + size +
 * guard). */
#define HOSTILE_REGION_SIZE (256ul << 20)
#define HOSTILE_GUARD (64ul << 10)


/* Finds the region from /proc/self/maps: 256 MiB between two 64 KiB ---p guards (the VMM maps
 * its kvm_run pages and the stats memfd inside it, so it shows as several lines). */
static inline int FindRegion(uintptr_t* base) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  char line[512];
  uintptr_t guard_ends[64];
  int nguards = 0, found = 0;
  while (!found && fgets(line, sizeof(line), f)) {
    uintptr_t lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    if (hi - lo != HOSTILE_GUARD || strncmp(perms, "---p", 4) != 0) continue;
    for (int i = 0; i < nguards; ++i) {
      if (guard_ends[i] + HOSTILE_REGION_SIZE == lo) {
        *base = guard_ends[i];
        found = 1;
      }
    }
    if (nguards < 64) guard_ends[nguards++] = hi;
  }
  fclose(f);
  return found;
}

static inline long EnvLong(const char* name, long fallback) {
  const char* v = getenv(name);
  if (v == NULL || *v == 0) return fallback;
  char* end;
  long n = strtol(v, &end, 10);
  return *end == 0 && n > 0 ? n : fallback;
}

/* Attempts per race (IX_HOSTILE_ATTEMPTS, default 10^4) and the time bound of each attack
 * (IX_HOSTILE_SECONDS, default 8): a race stops at whichever comes first and says how far it got. */
static inline long Attempts(void) { return EnvLong("IX_HOSTILE_ATTEMPTS", 10000); }
static inline double BoundSeconds(void) { return (double)EnvLong("IX_HOSTILE_SECONDS", 8); }

static inline double NowSeconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A syscall through the `syscall` instruction, with a full 64-bit number (glibc's syscall()
 * truncates nothing either, but this keeps errno out of it): returns -errno on failure. */
static inline long RawSyscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  long ret;
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register long r9 __asm__("r9") = a5;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

/* The guest ring the VMM reports (0 or 3), or -1 natively (ENOSYS). */
static inline int GuestRing(void) {
  long r = RawSyscall6(IX_SYSCALL_GUEST_RING, 0, 0, 0, 0, 0, 0);
  return r == 0 || r == 3 ? (int)r : -1;
}

/* Prints "region" and returns the base, or prints "no-region" and exits 0 (natively). */
static inline uintptr_t RegionOrExit(void) {
  uintptr_t base;
  if (!FindRegion(&base)) {
    printf("no-region\n");
    exit(0);
  }
  printf("region ring=%d\n", GuestRing());
  fflush(stdout);
  return base;
}

/* Maps one read-write page right below the low guard, so that pointers there are valid and a
 * length reaching past the page would run into the guard and the region. Call it before starting
 * threads: their stacks are otherwise placed right there. NULL if the page is taken. */
static inline char* PageBelowGuard(uintptr_t base) {
  uintptr_t at = base - HOSTILE_GUARD - 4096;
  void* p = mmap((void*)at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return p == MAP_FAILED || (uintptr_t)p != at ? NULL : (char*)p;
}

/* --- races ------------------------------------------------------------------------------------
 * A Flipper is a thread that rewrites one word of guest memory between two values as fast as it
 * can, while the attacking thread makes syscalls that read the structure holding it: a VMM that
 * checked the word and then let the kernel read it again (a double fetch) would lose the race in
 * some attempts. Start flippers before nothing else needs the page below the guard (see
 * PageBelowGuard). */
#include <pthread.h>

struct Flipper {
  volatile void* word;
  int width;  /* 4 or 8 bytes */
  uint64_t a, b;
  volatile int stop;
  pthread_t thread;
};

static void* FlipperLoop(void* arg) {
  struct Flipper* f = (struct Flipper*)arg;
  if (f->width == 4) {
    volatile uint32_t* w = (volatile uint32_t*)f->word;
    while (!f->stop) {
      *w = (uint32_t)f->b;
      *w = (uint32_t)f->a;
    }
  } else {
    volatile uint64_t* w = (volatile uint64_t*)f->word;
    while (!f->stop) {
      *w = f->b;
      *w = f->a;
    }
  }
  return NULL;
}

/* Starts flipping the `width`-byte word at `word` between a (its benign value, left there when
 * the flipper stops) and b. */
static inline void StartFlipper(struct Flipper* f, volatile void* word, int width, uint64_t a, uint64_t b) {
  f->word = word;
  f->width = width;
  f->a = a;
  f->b = b;
  f->stop = 0;
  if (pthread_create(&f->thread, NULL, FlipperLoop, f) != 0) abort();
}

static inline void StopFlipper(struct Flipper* f) {
  f->stop = 1;
  pthread_join(f->thread, NULL);
}

/* Bounds one race: true while attempt `i` may run: below `attempts`, or below 4 x `attempts` as
 * long as one of the two outcomes (`refused`, `succeeded`) has not happened yet (the flipper may
 * not have been scheduled beside this thread), and within BoundSeconds() of `t0` (the clock is
 * read every 32 attempts). */
static inline int RaceGoesOn(long i, long attempts, long refused, long succeeded, double t0) {
  if (i >= attempts && (i >= 4 * attempts || (refused > 0 && succeeded > 0))) return 0;
  return (i & 31) != 0 || NowSeconds() - t0 < BoundSeconds();
}

/* The verdict of one race: "NAME ok attempts=N refused=R succeeded=S[ extra]" when nothing
 * breached, else "NAME BREACH ...". The test also asserts that both outcomes happened, which
 * shows the flipper really raced the VMM. */
static inline void RaceVerdict(const char* name, long attempts, long refused, long succeeded, long breaches,
                               const char* breach_detail, const char* extra) {
  if (breaches == 0) {
    printf("%s ok attempts=%ld refused=%ld succeeded=%ld%s%s\n", name, attempts, refused, succeeded,
           extra && *extra ? " " : "", extra ? extra : "");
  } else {
    printf("%s BREACH %ld of %ld attempts: %s (refused=%ld succeeded=%ld)\n", name, breaches, attempts,
           breach_detail, refused, succeeded);
  }
}

#endif /* HOSTILE_H_ */

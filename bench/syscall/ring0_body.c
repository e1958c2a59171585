/* Freestanding guest code for the ring-0 measurements (built with -mgeneral-regs-only: guest ring 0
 * is emulated on kvm_pvm and cannot run SSE). Times N forwarded getpid calls, or N no-op
 * hypercalls, with rdtsc inside the guest, then leaves the guest. */
#include <stdint.h>

extern long ix_vmm_enter(void* thread);

static inline uint64_t Tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static long Syscall0(long nr) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
  return ret;
}

/* Returns TSC ticks for the n calls (>= 0), or what ix_vmm_enter returned natively (< 0). */
long IxBenchRing0(void* thread, long n, int nop) {
  long r = ix_vmm_enter(thread);
  if (r != 0) return r;
  uint64_t t0 = Tsc();
  if (nop) {
    for (long i = 0; i < n; ++i) __asm__ volatile(".byte 0xa3\n .quad 0xfffff88000002000" ::: "memory");
  } else {
    for (long i = 0; i < n; ++i) Syscall0(39);
  }
  uint64_t t1 = Tsc();
  Syscall0(0x1d0e0001 /* IX_SYSCALL_GUEST_EXIT */);
  return (long)(t1 - t0);
}

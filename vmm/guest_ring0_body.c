/* Guest code for the ring-0 test: freestanding (built with -mgeneral-regs-only, no libc), because
 * guest ring 0 is emulated instruction by instruction on kvm_pvm and cannot run SSE or glibc. */
#include <stdint.h>

extern long ix_vmm_enter(void* thread);

static long Syscall0(long nr) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
  return ret;
}

/* Enters the guest with the prepared vCPU thread, records what ring-0 code sees, makes `n`
 * forwarded getpid calls, and leaves. out: [0] CPL, [1] first getpid, [2] VMM's ring, [3] getpid
 * calls that agreed with the first, [4] CR3 (privileged: readable in ring 0 only). Returns 0, or
 * what ix_vmm_enter returned natively. */
long IxRing0Body(void* thread, long n, volatile long* out) {
  long r = ix_vmm_enter(thread);
  if (r != 0) return r;
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  out[0] = cs & 3;
  out[1] = Syscall0(39 /* getpid */);
  out[2] = Syscall0(0x1d0e0002 /* IX_SYSCALL_GUEST_RING */);
  long same = 0;
  for (long i = 0; i < n; ++i) same += Syscall0(39) == out[1];
  out[3] = same;
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  out[4] = (long)cr3;
  Syscall0(0x1d0e0001 /* IX_SYSCALL_GUEST_EXIT */);
  return 0;
}

/* The guest <-> VMM hypercall ABI of ix-run: what guestlib/ stubs running inside the guest and the
 * host side in vmm/ agree on. C-compatible and self-contained; bump IX_HC_ABI_VERSION on any change.
 *
 * A hypercall is a 4-byte store to an address with no memory slot behind it, which KVM turns into
 * KVM_EXIT_MMIO with the guest-physical address (vmcall never reaches user space on x86 KVM, see
 * shared/platform.md). The stored value is ignored; the host reads the guest's registers.
 *
 *   syscall hypercall   (guest LSTAR stub):  IN rax = nr, rdi rsi rdx r10 r8 r9 = args, rcx = return
 *                                            rip; OUT rax = result (or -errno), rip = rcx.
 *   exception hypercall (guest IDT stubs):   IN the ring-0 stack holds struct ix_exception_frame;
 *                                            the host decides (retry, signal, kill) and sets state.
 */
#ifndef IX_HYPERCALL_H_
#define IX_HYPERCALL_H_

#ifndef __ASSEMBLER__
#include <stdint.h>
#endif

#define IX_HC_ABI_VERSION 1

/* Guest-physical addresses at and above 2^47 are never host-virtual (user space ends below 2^47),
 * so no memory slot can cover them: a store there always exits. The guest reaches them through
 * supervisor-or-user upper-half virtual addresses that the VMM maps (PML4 slot 497). */
#define IX_HC_SYSCALL_GPA 0x0000800000000000ull
#define IX_HC_EXCEPTION_GPA 0x0000800000001000ull
#define IX_HC_SYSCALL_GVA 0xfffff88000000000ull
#define IX_HC_EXCEPTION_GVA 0xfffff88000001000ull
/* A hypercall that does nothing: the raw exit round trip, for benchmarks and liveness checks. */
#define IX_HC_NOP_GPA 0x0000800000002000ull
#define IX_HC_NOP_GVA 0xfffff88000002000ull

/* VMM-private memory (page tables, descriptor tables, ring-0 stacks, host-side state) is mapped in
 * the guest only here, supervisor-only, never at its host-virtual address (PML4 slot 496). */
#define IX_PRIVATE_GVA 0xfffff80000000000ull

/* Syscall numbers the VMM answers itself; no Linux syscall has these numbers. */
#define IX_SYSCALL_GUEST_EXIT 0x1d0e0001 /* leave the guest, continue natively (when allowed) */
#define IX_SYSCALL_GUEST_RING 0x1d0e0002 /* returns the guest ring the VMM configured (0 or 3) */

#ifndef __ASSEMBLER__
/* What the exception stubs leave on the ring-0 (IST) stack, lowest address first. */
struct ix_exception_frame {
  uint64_t vector;     /* OUT (guest): exception vector 0..31 */
  uint64_t error_code; /* OUT (guest): the CPU's error code, or 0 */
  uint64_t rip;        /* OUT (CPU): interrupted instruction */
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
};

#ifdef __cplusplus
static_assert(sizeof(struct ix_exception_frame) == 56, "ix_exception_frame layout");
static_assert(__builtin_offsetof(struct ix_exception_frame, rip) == 16, "ix_exception_frame layout");
#endif

#endif /* __ASSEMBLER__ */

#endif /* IX_HYPERCALL_H_ */

/* guestlib/entry.S — code that runs inside the guest: the syscall entry stub (MSR_LSTAR) and the
 * exception entry stubs of the guest IDT. Freestanding: no stack use in the syscall stub, and the
 * exception stubs only push onto the IST stack the VMM provides. See include/ix/hypercall.h. */
#include "ix/hypercall.h"

  .text
/* The guest's `syscall` lands here (at the guest's own CPL on kvm_pvm, at CPL 0 on hardware).
 * `movabs %eax, moffs64` stores to an absolute address without touching any register or the stack;
 * the host then sets rax and rip = rcx itself, so the jmp is only reached if it does not. */
  .globl ix_guest_syscall_entry
  .type ix_guest_syscall_entry, @function
ix_guest_syscall_entry:
  .byte 0xa3
  .quad IX_HC_SYSCALL_GVA
  jmp *%rcx
  .size ix_guest_syscall_entry, . - ix_guest_syscall_entry

/* Exception stubs: make the frame uniform (error code or 0, then the vector) and report. */
.macro IX_EXC_NOERR n
ix_guest_exc_\n:
  pushq $0
  pushq $\n
  jmp ix_guest_exc_common
.endm
.macro IX_EXC_ERR n
ix_guest_exc_\n:
  pushq $\n
  jmp ix_guest_exc_common
.endm
  IX_EXC_NOERR 0
  IX_EXC_NOERR 1
  IX_EXC_NOERR 2
  IX_EXC_NOERR 3
  IX_EXC_NOERR 4
  IX_EXC_NOERR 5
  IX_EXC_NOERR 6
  IX_EXC_NOERR 7
  IX_EXC_ERR 8
  IX_EXC_NOERR 9
  IX_EXC_ERR 10
  IX_EXC_ERR 11
  IX_EXC_ERR 12
  IX_EXC_ERR 13
  IX_EXC_ERR 14
  IX_EXC_NOERR 15
  IX_EXC_NOERR 16
  IX_EXC_ERR 17
  IX_EXC_NOERR 18
  IX_EXC_NOERR 19
  IX_EXC_NOERR 20
  IX_EXC_ERR 21
  IX_EXC_NOERR 22
  IX_EXC_NOERR 23
  IX_EXC_NOERR 24
  IX_EXC_NOERR 25
  IX_EXC_NOERR 26
  IX_EXC_NOERR 27
  IX_EXC_NOERR 28
  IX_EXC_ERR 29
  IX_EXC_ERR 30
  IX_EXC_NOERR 31
ix_guest_exc_common:
  .byte 0xa3
  .quad IX_HC_EXCEPTION_GVA
1:hlt
  jmp 1b

  .section .data.rel.ro, "aw"
  .globl ix_guest_exception_stubs
  .balign 8
ix_guest_exception_stubs:
  .irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad ix_guest_exc_\n
  .endr
  .section .note.GNU-stack, "", @progbits

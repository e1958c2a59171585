/* vmm/enter.S — host-side register juggling that C++ cannot express: "Dune enter" (the calling
 * thread's state becomes the guest's, the host side moves to a private stack), resuming natively
 * at a guest register state, starting a cloned host thread on its private stack, and a thread exit
 * that touches no stack after releasing its thread block. Offsets: struct EntryContext and
 * struct kvm_regs (vmm_state.h, linux/kvm.h). */

/* Saves the callee-saved registers, the caller's rsp (after return) and the return address into
 * the EntryContext at \ctx; clobbers rax. */
.macro IX_SAVE_CALLER ctx
  mov %rbx, 0(\ctx)
  mov %rbp, 8(\ctx)
  mov %r12, 16(\ctx)
  mov %r13, 24(\ctx)
  mov %r14, 32(\ctx)
  mov %r15, 40(\ctx)
  lea 8(%rsp), %rax
  mov %rax, 48(\ctx)
  mov (%rsp), %rax
  mov %rax, 56(\ctx)
.endm

  .text
/* int ix_vmm_enter(VcpuThread *t)
 * Saves callee-saved registers, the caller's rsp and return address into t->entry, switches to
 * t->entry.host_stack_top and calls ix_vmm_thread_main(t), which never returns. The guest resumes
 * at the return address with rax = 0, so in the guest ix_vmm_enter "returns 0". */
  .globl ix_vmm_enter
  .type ix_vmm_enter, @function
ix_vmm_enter:
  IX_SAVE_CALLER %rdi
  mov 64(%rdi), %rsp
  xor %ebp, %ebp
  call ix_vmm_thread_main
  ud2
  .size ix_vmm_enter, . - ix_vmm_enter

/* void ix_vmm_resume_native(const struct kvm_regs *r)  — noreturn
 * Continues natively with every general register, rflags, rsp and rip from *r. rip and rflags are
 * staged below the target's 128-byte red zone, which is left untouched. */
  .globl ix_vmm_resume_native
  .type ix_vmm_resume_native, @function
ix_vmm_resume_native:
  mov 48(%rdi), %rax
  lea -144(%rax), %rax
  mov 136(%rdi), %rcx
  mov %rcx, 0(%rax)
  mov 128(%rdi), %rcx
  mov %rcx, 8(%rax)
  mov %rax, %rsp
  mov 8(%rdi), %rbx
  mov 16(%rdi), %rcx
  mov 24(%rdi), %rdx
  mov 32(%rdi), %rsi
  mov 56(%rdi), %rbp
  mov 64(%rdi), %r8
  mov 72(%rdi), %r9
  mov 80(%rdi), %r10
  mov 88(%rdi), %r11
  mov 96(%rdi), %r12
  mov 104(%rdi), %r13
  mov 112(%rdi), %r14
  mov 120(%rdi), %r15
  mov 0(%rdi), %rax
  mov 40(%rdi), %rdi
  popfq
  ret $128
  .size ix_vmm_resume_native, . - ix_vmm_resume_native

/* long ix_vmm_probe_native(const struct kvm_regs *r, EntryContext *save)
 * Saves callee-saved registers, rsp and the return address in *save, then continues natively at
 * *r (ix_vmm_resume_native). "Returns" 1 when ix_vmm_probe_return(save) runs (probe.cc). */
  .globl ix_vmm_probe_native
  .type ix_vmm_probe_native, @function
ix_vmm_probe_native:
  IX_SAVE_CALLER %rsi
  jmp ix_vmm_resume_native
  .size ix_vmm_probe_native, . - ix_vmm_probe_native

/* void ix_vmm_probe_return(const EntryContext *save)  — noreturn
 * Back to where ix_vmm_probe_native was called, with its callee-saved registers. */
  .globl ix_vmm_probe_return
  .type ix_vmm_probe_return, @function
ix_vmm_probe_return:
  mov 0(%rdi), %rbx
  mov 8(%rdi), %rbp
  mov 16(%rdi), %r12
  mov 24(%rdi), %r13
  mov 32(%rdi), %r14
  mov 40(%rdi), %r15
  mov 48(%rdi), %rsp
  mov $1, %eax
  jmp *56(%rdi)
  .size ix_vmm_probe_return, . - ix_vmm_probe_return

/* long ix_vmm_clone_thread(unsigned long flags, void *host_stack_top, int *ptid, int *ctid,
 *                          unsigned long tls, VcpuThread *t)
 * clone(2) whose child starts in ix_vmm_thread_start(t) on host_stack_top. Returns the child's tid
 * or -errno in the parent. */
  .globl ix_vmm_clone_thread
  .type ix_vmm_clone_thread, @function
ix_vmm_clone_thread:
  mov %rcx, %r10
  sub $16, %rsi
  mov %r9, (%rsi)
  mov $56, %eax
  syscall
  test %rax, %rax
  jnz 1f
  xor %ebp, %ebp
  mov (%rsp), %rdi
  and $-16, %rsp
  call ix_vmm_thread_start
  ud2
1:ret
  .size ix_vmm_clone_thread, . - ix_vmm_clone_thread

/* void ix_vmm_exit_thread(int *in_use, int code)  — noreturn
 * Releases the thread block (its stack included) and exits the thread without touching memory
 * after the release. */
  .globl ix_vmm_exit_thread
  .type ix_vmm_exit_thread, @function
ix_vmm_exit_thread:
  mov %esi, %r8d
  movl $0, (%rdi)
  mov %r8d, %edi
  mov $60, %eax
  syscall
  ud2
  .size ix_vmm_exit_thread, . - ix_vmm_exit_thread

  .section .note.GNU-stack, "", @progbits

  .text
/* The restorer for the VMM's own host signal handlers: rt_sigreturn natively. */
  .globl ix_vmm_host_sigreturn
  .type ix_vmm_host_sigreturn, @function
ix_vmm_host_sigreturn:
  mov $15, %eax
  syscall
  ud2
  .size ix_vmm_host_sigreturn, . - ix_vmm_host_sigreturn
  .section .note.GNU-stack, "", @progbits

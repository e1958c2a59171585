// Signals with Linux semantics for a program running in the guest: the VMM keeps the program's
// sigactions and alternate stack, takes host signals with a handler of its own, and delivers them
// into the guest by building the kernel's rt_sigframe on the guest stack (handler, sa_mask,
// SA_RESTART, SA_ONSTACK, SA_RESETHAND, SA_NODEFER, rt_sigreturn with FPU state).
//
// The host thread's signal mask is the guest thread's mask (rt_sigprocmask is forwarded as is),
// so the kernel does the blocking and queueing; the VMM only redirects delivery.
#ifndef IX_VMM_SIGNALS_H_
#define IX_VMM_SIGNALS_H_

#include <linux/kvm.h>
#include <signal.h>

#include <cstdint>

#include "vmm/vmm_state.h"

namespace ix::vmm {

// The emulated syscalls. Each returns the guest's result (or -errno).
long SysRtSigaction(Vmm* vmm, int sig, uint64_t act, uint64_t oact, uint64_t sigsetsize);
long SysSigaltstack(Vmm* vmm, VcpuThread* t, const kvm_regs& regs, uint64_t ss, uint64_t old);
// Restores the guest state saved in the frame at regs.rsp. Returns false if the frame is bad (the
// caller then kills the process with SIGSEGV, as Linux does).
bool SysRtSigreturn(Vmm* vmm, VcpuThread* t, kvm_regs& regs);

// True if the syscall `nr` that returned -EINTR should be restarted after the pending signal's
// handler runs (SA_RESTART and a restartable call, see signal(7)).
bool ShouldRestartSyscall(Vmm* vmm, VcpuThread* t, long nr);

// Delivers every pending, unblocked signal into the guest (nesting frames as Linux does).
void DeliverPendingSignals(Vmm* vmm, VcpuThread* t, kvm_regs& regs);

// A synchronous fault of the guest: delivers `sig` to its handler, or kills the process with it
// when there is none or it is blocked (as Linux's force_sig does).
void ForceSignal(Vmm* vmm, VcpuThread* t, kvm_regs& regs, int sig, int code, uint64_t addr,
                 uint64_t trapno, uint64_t err, uint64_t cr2);

// Ends the process by `sig` with its default action (core dump where Linux would dump one).
[[noreturn]] void KillWithSignal(int sig);

// Installs the host-side disposition matching the guest's current one for every signal; used at
// start-up (the program may have set some before entry) and after fork.
void SyncHostSignalHandlers(Vmm* vmm);
// Sets the host's disposition for `sig` back to what the guest's sigaction implies (after a probe
// borrowed it). The caller holds vmm->signal_lock.
void RestoreHostDisposition(Vmm* vmm, int sig);

}  // namespace ix::vmm

#endif  // IX_VMM_SIGNALS_H_

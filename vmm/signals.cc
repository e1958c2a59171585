// Signals with Linux semantics for a program running in the guest (see signals.h).
#include "vmm/signals.h"

#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "vmm/cpu.h"
#include "vmm/exec_target.h"
#include "vmm/guest_memory.h"
#include "vmm/raw_syscall.h"
#include "vmm/threads.h"

extern "C" void ix_vmm_host_sigreturn();

namespace ix::vmm {
namespace {

// The kernel's x86-64 signal frame (arch/x86/include/asm/sigframe.h, uapi ucontext.h).
struct KernelUcontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  stack_t uc_stack;
  mcontext_t uc_mcontext;  // glibc's mcontext_t is the kernel's struct sigcontext
  uint64_t uc_sigmask;
};
static_assert(sizeof(KernelUcontext) == 304);
struct RtSigframe {
  uint64_t pretcode;
  KernelUcontext uc;
  siginfo_t info;
};
static_assert(offsetof(RtSigframe, info) == 312);

constexpr uint64_t kSaRestorer = 0x04000000;
constexpr uint64_t kUcFpXstate = 0x1, kUcSigcontextSs = 0x2, kUcStrictRestoreSs = 0x4;
constexpr uint64_t kFixFlags = 0x50dd5;  // CF PF AF ZF SF TF DF OF AC RF: what sigreturn may set
constexpr uint64_t kTf = 0x100, kDf = 0x400, kRf = 0x10000;
constexpr int kSsAutodisarm = 1 << 31;

uint64_t SigBit(int sig) { return 1ull << (sig - 1); }

uint64_t BlockedMask() {
  uint64_t cur = 0;
  RawSyscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, reinterpret_cast<long>(&cur), 8);
  return cur;
}

void SetMask(uint64_t mask) {
  RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&mask), 0, 8);
}

void HostSignalHandler(int sig, siginfo_t* info, void* uctx);

// Sets the host's disposition for `sig` to follow the guest's `act`.
void InstallHost(int sig, const KernelSigaction& act) {
  KernelSigaction host{};
  if (act.handler <= 1) {  // SIG_DFL / SIG_IGN: the kernel applies them natively
    host.handler = act.handler;
    host.flags = act.flags & (SA_NOCLDSTOP | SA_NOCLDWAIT);
  } else {
    host.handler = reinterpret_cast<uint64_t>(&HostSignalHandler);
    // No SA_RESTART: an interrupted forwarded syscall comes back with EINTR, and the VMM restarts
    // it after the guest's handler when the guest asked for SA_RESTART.
    host.flags = SA_SIGINFO | kSaRestorer | (act.flags & (SA_NOCLDSTOP | SA_NOCLDWAIT));
    host.restorer = reinterpret_cast<uint64_t>(&ix_vmm_host_sigreturn);
    host.mask = ~0ull;
  }
  RawSyscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&host), 0, 8);
}

void HostSignalHandler(int sig, siginfo_t* info, void* uctx) {
  if (IsExecLeaseBreak(sig, info)) return;  // the VMM's own, not the program's (exec_target.h)
  VcpuThread* t = CurrentVcpuThread();
  if (t == nullptr) {
    // Native code (before entry or after leaving the guest): call the program's handler directly.
    Vmm* vmm = CurrentVmm();
    if (vmm == nullptr) return;
    KernelSigaction act = vmm->sigactions[sig];
    if (act.handler <= 1) return;
    if (act.flags & SA_SIGINFO) {
      reinterpret_cast<void (*)(int, siginfo_t*, void*)>(act.handler)(sig, info, uctx);
    } else {
      reinterpret_cast<void (*)(int)>(act.handler)(sig);
    }
    return;
  }
  if (t->npending < kMaxPendingSignals) {
    t->pending[t->npending++].info = *info;
  } else if (t->vmm->stats) {
    __atomic_add_fetch(&t->vmm->stats->signals_dropped, 1, __ATOMIC_RELAXED);
  }
  if (t->run) t->run->immediate_exit = 1;
}

bool OnAltStack(const VcpuThread* t, uint64_t sp) {
  uint64_t base = reinterpret_cast<uint64_t>(t->altstack.ss_sp);
  return t->altstack.ss_size != 0 && sp > base && sp <= base + t->altstack.ss_size;
}

bool DefaultIsIgnore(int sig) {
  return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}
bool DefaultIsStop(int sig) {
  return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU || sig == SIGSTOP;
}

// Builds the rt_sigframe for `sig` and points the guest at its handler. False if the frame could
// not be written (bad stack): the caller kills with SIGSEGV, as Linux does.
// `blocked` is the thread's signal mask before delivery.
bool BuildFrame(Vmm* vmm, VcpuThread* t, kvm_regs& regs, const siginfo_t& info,
                const KernelSigaction& act, uint64_t blocked, uint64_t trapno, uint64_t err,
                uint64_t cr2) {
  if (!(act.flags & kSaRestorer)) return false;  // x86-64 Linux needs a restorer too
  uint64_t sp = regs.rsp;
  bool on_alt = OnAltStack(t, sp);
  bool alt_enabled = t->altstack.ss_size != 0 && !(t->altstack.ss_flags & SS_DISABLE);
  if ((act.flags & SA_ONSTACK) && alt_enabled && !on_alt) {
    sp = reinterpret_cast<uint64_t>(t->altstack.ss_sp) + t->altstack.ss_size;
  } else {
    sp -= 128;  // the red zone
  }
  uint64_t fpstate = 0;
  if (t->vcpu_fd >= 0 && RawSyscall(SYS_ioctl, t->vcpu_fd, kIoctlGetXsave,
                                    reinterpret_cast<long>(&t->xsave)) == 0) {
    sp = (sp - sizeof(t->xsave)) & ~63ull;
    fpstate = sp;
  }
  sp = ((sp - sizeof(RtSigframe)) & ~15ull) - 8;

  RtSigframe f;
  memset(&f, 0, sizeof(f));
  f.pretcode = act.restorer;
  f.uc.uc_flags = kUcSigcontextSs | kUcStrictRestoreSs | (fpstate ? kUcFpXstate : 0);
  f.uc.uc_stack = t->altstack;
  if (f.uc.uc_stack.ss_size == 0) f.uc.uc_stack.ss_flags = SS_DISABLE;
  else if (on_alt) f.uc.uc_stack.ss_flags |= SS_ONSTACK;
  greg_t* g = f.uc.uc_mcontext.gregs;
  g[REG_R8] = regs.r8, g[REG_R9] = regs.r9, g[REG_R10] = regs.r10, g[REG_R11] = regs.r11;
  g[REG_R12] = regs.r12, g[REG_R13] = regs.r13, g[REG_R14] = regs.r14, g[REG_R15] = regs.r15;
  g[REG_RDI] = regs.rdi, g[REG_RSI] = regs.rsi, g[REG_RBP] = regs.rbp, g[REG_RBX] = regs.rbx;
  g[REG_RDX] = regs.rdx, g[REG_RAX] = regs.rax, g[REG_RCX] = regs.rcx, g[REG_RSP] = regs.rsp;
  g[REG_RIP] = regs.rip, g[REG_EFL] = regs.rflags;
  uint64_t cs = vmm->opts.ring == 0 ? kSelKernelCode : kSelUserCode;
  uint64_t ss = vmm->opts.ring == 0 ? kSelKernelData : kSelUserData;
  g[REG_CSGSFS] = cs | (ss << 48);
  g[REG_ERR] = err, g[REG_TRAPNO] = trapno, g[REG_OLDMASK] = blocked, g[REG_CR2] = cr2;
  f.uc.uc_mcontext.fpregs = reinterpret_cast<fpregset_t>(fpstate);
  f.uc.uc_sigmask = blocked;
  f.info = info;

  if (fpstate && !CopyToGuest(vmm, fpstate, &t->xsave, sizeof(t->xsave))) return false;
  if (!CopyToGuest(vmm, sp, &f, sizeof(f))) return false;

  regs.rip = act.handler;
  regs.rdi = info.si_signo;
  regs.rsi = sp + offsetof(RtSigframe, info);
  regs.rdx = sp + offsetof(RtSigframe, uc);
  regs.rax = 0;
  regs.rsp = sp;
  regs.rflags &= ~(kTf | kDf | kRf);

  uint64_t mask = blocked | act.mask;
  if (!(act.flags & SA_NODEFER)) mask |= SigBit(info.si_signo);
  SetMask(mask);
  if (act.flags & SA_RESETHAND) {
    SpinGuard g2(vmm->signal_lock);
    vmm->sigactions[info.si_signo].handler = 0;
    InstallHost(info.si_signo, vmm->sigactions[info.si_signo]);
  }
  if (vmm->stats) __atomic_add_fetch(&vmm->stats->signals_delivered, 1, __ATOMIC_RELAXED);
  return true;
}

}  // namespace

void RestoreHostDisposition(Vmm* vmm, int sig) { InstallHost(sig, vmm->sigactions[sig]); }

void SyncHostSignalHandlers(Vmm* vmm) {
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (vmm->sigactions[sig].handler > 1) InstallHost(sig, vmm->sigactions[sig]);
  }
}

[[noreturn]] void KillWithSignal(int sig) {
  if (Vmm* vmm = CurrentVmm(); vmm != nullptr) ReleaseAllRobustLists(vmm);  // as the kernel would
  KernelSigaction dfl{};
  RawSyscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
  uint64_t unblock = SigBit(sig);
  RawSyscall(SYS_rt_sigprocmask, SIG_UNBLOCK, reinterpret_cast<long>(&unblock), 0, 8);
  long pid = RawSyscall(SYS_getpid);
  long tid = RawSyscall(SYS_gettid);
  RawSyscall(SYS_tgkill, pid, tid, sig);
  RawSyscall(SYS_tgkill, pid, tid, SIGKILL);
  for (;;) RawSyscall(SYS_exit_group, 128 + sig);
}

long SysRtSigaction(Vmm* vmm, int sig, uint64_t act, uint64_t oact, uint64_t sigsetsize) {
  if (sigsetsize != 8) return -EINVAL;
  if (sig < 1 || sig > kMaxSignal) return -EINVAL;
  KernelSigaction next{};
  if (act) {
    if (sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
    if (!CopyFromGuest(vmm, &next, act, sizeof(next))) return -EFAULT;
  }
  SpinGuard g(vmm->signal_lock);
  KernelSigaction prev = vmm->sigactions[sig];
  if (oact && !CopyToGuest(vmm, oact, &prev, sizeof(prev))) return -EFAULT;
  if (act) {
    next.mask &= ~(SigBit(SIGKILL) | SigBit(SIGSTOP));
    vmm->sigactions[sig] = next;
    InstallHost(sig, next);
  }
  return 0;
}

long SysSigaltstack(Vmm* vmm, VcpuThread* t, const kvm_regs& regs, uint64_t ss, uint64_t old) {
  bool on = OnAltStack(t, regs.rsp);
  if (old) {
    stack_t cur = t->altstack;
    if (cur.ss_size == 0) cur.ss_flags = SS_DISABLE;
    else if (on) cur.ss_flags |= SS_ONSTACK;
    if (!CopyToGuest(vmm, old, &cur, sizeof(cur))) return -EFAULT;
  }
  if (ss) {
    stack_t next;
    if (!CopyFromGuest(vmm, &next, ss, sizeof(next))) return -EFAULT;
    if (on) return -EPERM;
    if (next.ss_flags & SS_DISABLE) {
      t->altstack = stack_t{nullptr, SS_DISABLE, 0};
    } else {
      if (next.ss_flags & ~kSsAutodisarm) return -EINVAL;
      if (next.ss_size < static_cast<size_t>(MINSIGSTKSZ)) return -ENOMEM;
      if (vmm->as.OverlapsPrivate(reinterpret_cast<uint64_t>(next.ss_sp), next.ss_size)) return -EFAULT;
      t->altstack = next;
    }
  }
  return 0;
}

bool SysRtSigreturn(Vmm* vmm, VcpuThread* t, kvm_regs& regs) {
  KernelUcontext uc;
  uint64_t uc_addr = regs.rsp;  // the handler's `ret` popped pretcode
  if (!CopyFromGuest(vmm, &uc, uc_addr, sizeof(uc))) return false;
  const greg_t* g = uc.uc_mcontext.gregs;
  regs.r8 = g[REG_R8], regs.r9 = g[REG_R9], regs.r10 = g[REG_R10], regs.r11 = g[REG_R11];
  regs.r12 = g[REG_R12], regs.r13 = g[REG_R13], regs.r14 = g[REG_R14], regs.r15 = g[REG_R15];
  regs.rdi = g[REG_RDI], regs.rsi = g[REG_RSI], regs.rbp = g[REG_RBP], regs.rbx = g[REG_RBX];
  regs.rdx = g[REG_RDX], regs.rax = g[REG_RAX], regs.rcx = g[REG_RCX], regs.rsp = g[REG_RSP];
  regs.rip = g[REG_RIP];
  regs.rflags = (regs.rflags & ~kFixFlags) | (g[REG_EFL] & kFixFlags) | 0x202;
  uint64_t fp = reinterpret_cast<uint64_t>(uc.uc_mcontext.fpregs);
  if (fp != 0) {
    if (!CopyFromGuest(vmm, &t->xsave, fp, sizeof(t->xsave))) return false;
    RawSyscall(SYS_ioctl, t->vcpu_fd, kIoctlSetXsave, reinterpret_cast<long>(&t->xsave));
  }
  if (!(uc.uc_stack.ss_flags & SS_DISABLE) && uc.uc_stack.ss_size >= static_cast<size_t>(MINSIGSTKSZ) &&
      !vmm->as.OverlapsPrivate(reinterpret_cast<uint64_t>(uc.uc_stack.ss_sp), uc.uc_stack.ss_size)) {
    t->altstack = uc.uc_stack;
    t->altstack.ss_flags &= ~SS_ONSTACK;
  }
  SetMask(uc.uc_sigmask & ~(SigBit(SIGKILL) | SigBit(SIGSTOP)));
  return true;
}

bool ShouldRestartSyscall(Vmm* vmm, VcpuThread* t, long nr) {
  switch (nr) {  // never restarted after a handler, whatever SA_RESTART says (signal(7))
    case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
    case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_pause: case SYS_rt_sigsuspend:
    case SYS_rt_sigtimedwait: case SYS_io_getevents: case SYS_semop: case SYS_semtimedop:
    case SYS_msgrcv: case SYS_msgsnd: case SYS_io_pgetevents:
      return false;
    default: break;
  }
  uint64_t blocked = BlockedMask();
  for (int i = 0; i < t->npending; ++i) {
    int sig = t->pending[i].info.si_signo;
    if (blocked & SigBit(sig)) continue;
    const KernelSigaction& act = vmm->sigactions[sig];
    return act.handler > 1 && (act.flags & SA_RESTART);
  }
  return false;
}

void DeliverPendingSignals(Vmm* vmm, VcpuThread* t, kvm_regs& regs) {
  while (t->npending > 0) {
    // The host handler appends to t->pending on this thread: block everything while dequeuing.
    uint64_t all = ~0ull, blocked = 0;
    RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all),
               reinterpret_cast<long>(&blocked), 8);
    int i = 0;
    while (i < t->npending && (blocked & SigBit(t->pending[i].info.si_signo))) ++i;
    if (i == t->npending) {
      SetMask(blocked);
      return;
    }
    siginfo_t info = t->pending[i].info;
    memmove(&t->pending[i], &t->pending[i + 1], (t->npending - i - 1) * sizeof(PendingSignal));
    --t->npending;
    SetMask(blocked);
    int sig = info.si_signo;
    KernelSigaction act = vmm->sigactions[sig];
    if (act.handler == 1) continue;  // ignored since it was raised
    if (act.handler == 0) {
      if (DefaultIsIgnore(sig)) continue;
      if (DefaultIsStop(sig)) {
        InstallHost(sig, act);
        RawSyscall(SYS_tgkill, vmm->pid, RawSyscall(SYS_gettid), sig);
        continue;
      }
      KillWithSignal(sig);
    }
    if (!BuildFrame(vmm, t, regs, info, act, blocked, 0, 0, 0)) KillWithSignal(SIGSEGV);
  }
}

void ForceSignal(Vmm* vmm, VcpuThread* t, kvm_regs& regs, int sig, int code, uint64_t addr,
                 uint64_t trapno, uint64_t err, uint64_t cr2) {
  if (vmm->stats) __atomic_add_fetch(&vmm->stats->faults, 1, __ATOMIC_RELAXED);
  KernelSigaction act = vmm->sigactions[sig];
  uint64_t blocked = BlockedMask();
  if (act.handler <= 1 || (blocked & SigBit(sig))) KillWithSignal(sig);
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  info.si_signo = sig;
  info.si_code = code;
  info.si_addr = reinterpret_cast<void*>(addr);
  if (!BuildFrame(vmm, t, regs, info, act, blocked, trapno, err, cr2)) KillWithSignal(sig);
}

}  // namespace ix::vmm

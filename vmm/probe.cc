// Native single-step of a guest instruction the host could not back for KVM (see probe.h).
#include "vmm/probe.h"

#include <cpuid.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <cstring>

#include "vmm/guest_memory.h"
#include "vmm/raw_syscall.h"
#include "vmm/signals.h"
#include "vmm/spinlock.h"

extern "C" long ix_vmm_probe_native(const kvm_regs* r, ix::vmm::EntryContext* save);
extern "C" [[noreturn]] void ix_vmm_probe_return(const ix::vmm::EntryContext* save);
extern "C" void ix_vmm_host_sigreturn();

namespace ix::vmm {

namespace {

constexpr int kSyncSignals[] = {SIGSEGV, SIGBUS, SIGTRAP, SIGILL, SIGFPE};
constexpr uint64_t kTrapFlag = 0x100;
constexpr uint64_t kSaRestorer = 0x04000000;
constexpr uint64_t kRedZone = 128;

struct RawSigaction {
  uint64_t handler, flags, restorer, mask;
};

uint64_t SigBit(int sig) { return 1ull << (sig - 1); }

// Bytes an XSAVE of every enabled component needs (standard format).
uint32_t XsaveBytes() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) return 0;
  return b;
}

void Xsave(void* area) {
  memset(static_cast<char*>(area) + 512, 0, 64);  // header: XCOMP_BV and reserved bytes must be 0
  asm volatile("xsave64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory");
}
void Xrstor(const void* area) { asm volatile("xrstor64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory"); }

// True if the instruction at `p` (after legacy and REX prefixes) enters the kernel.
bool EntersKernel(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf0 || p[i] == 0xf2 || p[i] == 0xf3 ||
                   p[i] == 0x2e || p[i] == 0x36 || p[i] == 0x3e || p[i] == 0x26 || p[i] == 0x64 ||
                   p[i] == 0x65 || (p[i] & 0xf0) == 0x40)) {
    ++i;
  }
  if (i >= n) return true;  // all prefixes: refuse rather than guess
  if (p[i] == 0xcc || p[i] == 0xcd || p[i] == 0xce || p[i] == 0xf1) return true;  // int3, int n, into, int1
  return p[i] == 0x0f && i + 1 < n && (p[i + 1] == 0x05 || p[i + 1] == 0x34 || p[i + 1] == 0x07);
}

void ToKvm(const greg_t* g, kvm_regs* r) {
  r->rax = g[REG_RAX]; r->rbx = g[REG_RBX]; r->rcx = g[REG_RCX]; r->rdx = g[REG_RDX];
  r->rsi = g[REG_RSI]; r->rdi = g[REG_RDI]; r->rsp = g[REG_RSP]; r->rbp = g[REG_RBP];
  r->r8 = g[REG_R8];   r->r9 = g[REG_R9];   r->r10 = g[REG_R10]; r->r11 = g[REG_R11];
  r->r12 = g[REG_R12]; r->r13 = g[REG_R13]; r->r14 = g[REG_R14]; r->r15 = g[REG_R15];
  r->rip = g[REG_RIP];
  r->rflags = g[REG_EFL] & ~kTrapFlag;
}

void ProbeHandler(int sig, siginfo_t* info, void* uctx) {
  VcpuThread* t = CurrentVcpuThread();  // the handler runs on the thread block's IST area
  if (t == nullptr) return;
  ProbeState& p = t->probe;
  greg_t* g = static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs;
  // popfq sets TF one instruction early: the first trap comes before the guest instruction ran.
  if (sig == SIGTRAP && p.traps++ == 0 && static_cast<uint64_t>(g[REG_RIP]) == p.start_rip) return;
  ToKvm(g, &p.regs);
  p.signo = sig;
  p.code = info->si_code;
  p.addr = reinterpret_cast<uint64_t>(info->si_addr);
  p.trapno = g[REG_TRAPNO];
  p.err = g[REG_ERR];
  ix_vmm_probe_return(&p.host);
}

}  // namespace

bool ProbeInstruction(Vmm* vmm, VcpuThread* t, kvm_regs* regs, ProbeResult* out) {
  uint8_t insn[15];
  if (!CopyFromGuest(vmm, insn, regs->rip, sizeof(insn)) &&
      !CopyFromGuest(vmm, insn, regs->rip, 4096 - (regs->rip & 4095))) {
    return false;
  }
  if (EntersKernel(insn, sizeof(insn)) || XsaveBytes() > sizeof(t->probe_fpu) ||
      XsaveBytes() > sizeof(t->xsave)) {
    return false;
  }
  // ix_vmm_resume_native stages 16 bytes below the guest's red zone.
  uint8_t stage[16];
  uint64_t stage_at = regs->rsp - kRedZone - 16;
  if (!CopyFromGuest(vmm, stage, stage_at, 16) || !CopyToGuest(vmm, stage_at, stage, 16)) return false;
  if (RawSyscall(SYS_ioctl, t->vcpu_fd, kIoctlGetXsave, reinterpret_cast<long>(&t->xsave)) != 0) return false;

  // Only the synchronous signals, to the probe's handler, on the thread block's IST area. The
  // dispositions are process-wide: signal_lock keeps other threads' probes and sigaction calls out.
  SpinGuard lock(vmm->signal_lock);
  RawSigaction probe{reinterpret_cast<uint64_t>(&ProbeHandler), SA_SIGINFO | SA_ONSTACK | kSaRestorer,
                     reinterpret_cast<uint64_t>(&ix_vmm_host_sigreturn), ~0ull};
  uint64_t allow = 0;
  for (int sig : kSyncSignals) {
    RawSyscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&probe), 0, 8);
    allow |= SigBit(sig);
  }
  stack_t alt{}, saved_alt{};
  alt.ss_sp = reinterpret_cast<void*>(reinterpret_cast<uint64_t>(t) + kIstOffset);
  alt.ss_size = kIstTop - kIstOffset;
  RawSyscall(SYS_sigaltstack, reinterpret_cast<long>(&alt), reinterpret_cast<long>(&saved_alt));
  uint64_t mask = ~allow, saved_mask = 0;
  RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&mask), reinterpret_cast<long>(&saved_mask), 8);

  ProbeState& p = t->probe;
  p.traps = 0;
  p.start_rip = regs->rip;
  kvm_regs r = *regs;
  r.rflags |= kTrapFlag;
  Xsave(t->probe_fpu);
  Xrstor(t->xsave.region);
  ix_vmm_probe_native(&r, &p.host);  // comes back through ProbeHandler
  const bool completed = p.signo == SIGTRAP && p.code == TRAP_TRACE;
  if (completed) {
    Xsave(t->xsave.region);
    RawSyscall(SYS_ioctl, t->vcpu_fd, kIoctlSetXsave, reinterpret_cast<long>(&t->xsave));
  }
  Xrstor(t->probe_fpu);

  RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&saved_mask), 0, 8);
  RawSyscall(SYS_sigaltstack, reinterpret_cast<long>(&saved_alt), 0);
  for (int sig : kSyncSignals) RestoreHostDisposition(vmm, sig);
  *regs = p.regs;
  *out = ProbeResult{.completed = completed, .signo = p.signo, .code = p.code, .addr = p.addr,
                     .trapno = p.trapno, .err = p.err};
  return true;
}

}  // namespace ix::vmm

// The VMM's host side: entering the guest, the exit loop of each vCPU thread, and exceptions.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "ix/hypercall.h"
#include "vmm/cpu.h"
#include "vmm/exit.h"
#include "vmm/guest.h"
#include "vmm/line_buf.h"
#include "vmm/probe.h"
#include "vmm/raw_syscall.h"
#include "vmm/signals.h"
#include "vmm/syscalls.h"
#include "vmm/threads.h"

extern "C" long ix_vmm_enter(ix::vmm::VcpuThread* t);
extern "C" [[noreturn]] void ix_vmm_resume_native(const kvm_regs* regs);

namespace ix::vmm {

static_assert(static_cast<int>(ExitKind::kCount) <= kRunStatsExitKinds, "RunStats::exits too small");

namespace {


void WriteStderr(const char* msg) {
  RawSyscall(SYS_write, 2, reinterpret_cast<long>(msg), strlen(msg));
}

void WriteKillMessage(const char* why, uint64_t rip, uint64_t addr) {
  LineBuf b;
  b.Put("ix-run: ");
  b.Put(why);
  b.Put(" at rip ");
  b.Hex(rip);
  if (addr) {
    b.Put(", address ");
    b.Hex(addr);
  }
  b.Put("\n");
  RawSyscall(SYS_write, 2, reinterpret_cast<long>(b.buf), b.len);
}

// The main thread's stack grows on demand, but KVM faulting in guest pages does not grow it (GUP
// never extends a stack VMA). When the guest runs below the stack, the VMM maps the gap below it
// itself, within RLIMIT_STACK, and the guest retries. Returns false when `addr` is no stack growth.
bool GrowStack(Vmm* vmm, uint64_t addr) {
  SpinGuard g(vmm->thread_lock);
  if (addr < vmm->stack_floor || addr >= vmm->stack_low) return false;
  uint64_t new_low = addr > vmm->stack_floor + (256 << 10) ? (addr - (256 << 10)) & ~4095ull
                                                            : vmm->stack_floor;
  long r = RawSyscall6(SYS_mmap, new_low, vmm->stack_low - new_low, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (r < 0 || static_cast<uint64_t>(r) != new_low) return false;
  vmm->stack_low = new_low;
  return vmm->as.Cover(vmm->vm_fd, new_low, 4096) >= 0;
}

void HandleException(Vmm* vmm, VcpuThread* t) {
  kvm_regs& regs = t->run->s.regs.regs;
  kvm_sregs s;
  if (RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_GET_SREGS, reinterpret_cast<long>(&s)) < 0) {
    WriteStderr("ix-run: KVM_GET_SREGS failed while handling a guest exception\n");
    KillWithSignal(SIGKILL);
  }
  uint64_t block = ThreadBlockBase(t);
  uint64_t frame_hva = regs.rsp - vmm->as.PrivateGva(vmm->base) + vmm->base;
  if (!ExceptionFrameInBounds(frame_hva, sizeof(ix_exception_frame), block + kIstOffset,
                              block + kIstTop, s.cs.dpl)) {
    __atomic_add_fetch(&vmm->stats->protection_violations, 1, __ATOMIC_RELAXED);
    WriteKillMessage("forged exception report", regs.rip, 0);
    KillWithSignal(SIGSYS);
  }
  ix_exception_frame f;
  memcpy(&f, reinterpret_cast<void*>(frame_hva), sizeof(f));
  regs.rip = f.rip;
  regs.rsp = f.rsp;
  regs.rflags = ExceptionReturnRflags(f.rflags);  // the frame may be forged: never IOPL, VM, VIF
  SetRingSegments(&s, vmm->opts.ring);
  if (RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_SET_SREGS, reinterpret_cast<long>(&s)) < 0) {
    WriteStderr("ix-run: KVM_SET_SREGS failed while handling a guest exception\n");
    KillWithSignal(SIGKILL);
  }
  t->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  if (f.vector == 14 && !vmm->as.IsCovered(s.cr2)) {
    // Memory the process mapped without the VMM seeing it (or stack growth): cover and retry.
    if ((vmm->as.CoverFromProcMaps(vmm->vm_fd) > 0 && vmm->as.IsCovered(s.cr2)) ||
        GrowStack(vmm, s.cr2)) {
      __atomic_add_fetch(&vmm->stats->fault_retries, 1, __ATOMIC_RELAXED);
      return;
    }
  }
  ExitAction a = ExceptionToSignal(f.vector, f.error_code, s.cr2);
  if (a.kind == ExitActionKind::kKill) {
    WriteKillMessage(a.why, f.rip, 0);
    KillWithSignal(a.signo);
  }
  ForceSignal(vmm, t, regs, a.signo, a.si_code, a.addr, f.vector, f.error_code, s.cr2);
}

void HandleMemoryFault(Vmm* vmm, VcpuThread* t) {
  kvm_regs& regs = t->run->s.regs.regs;
  if (t->last_fault_rip != regs.rip || t->last_fault_rsp != regs.rsp) {
    t->last_fault_rip = regs.rip;
    t->last_fault_rsp = regs.rsp;
    if (GrowStack(vmm, regs.rsp - 128)) {
      __atomic_add_fetch(&vmm->stats->fault_retries, 1, __ATOMIC_RELAXED);
      return;
    }
  }
  t->last_fault_rip = 0;
  t->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  ProbeResult p;
  if (ProbeInstruction(vmm, t, &regs, &p)) {
    if (!p.completed) ForceSignal(vmm, t, regs, p.signo, p.code, p.addr, p.trapno, p.err, p.addr);
    return;
  }
  ForceSignal(vmm, t, regs, SIGSEGV, SEGV_ACCERR, 0, 14, 0, 0);
}

}  // namespace

// Set before entry; read by CurrentVcpuThread (in the signal handler) and the public API.
static Vmm* g_vmm;
Vmm* CurrentVmm() { return g_vmm; }
void SetCurrentVmm(Vmm* vmm) { g_vmm = vmm; }

VcpuThread* CurrentVcpuThread() {
  Vmm* vmm = g_vmm;
  if (vmm == nullptr) return nullptr;
  uint64_t sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  uint64_t lo = vmm->base + kThreadBlocksOffset, hi = vmm->base + kPrivateSize;
  if (sp < lo || sp >= hi) return nullptr;
  auto* t = reinterpret_cast<VcpuThread*>(sp & ~(kThreadBlockSize - 1));
  return t->in_use.load(std::memory_order_relaxed) ? t : nullptr;
}

[[noreturn]] void RunLoop(VcpuThread* t) {
  Vmm* vmm = t->vmm;
  kvm_run* run = t->run;
  for (;;) {
    if (t->npending > 0) {
      DeliverPendingSignals(vmm, t, run->s.regs.regs);
      run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    }
    int r = static_cast<int>(RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_RUN, 0));
    uint64_t exit_tsc = ReadTsc();
    run->immediate_exit = 0;
    if (r == 0) run->kvm_dirty_regs = 0;
    DecodedExit e = DecodeExit(r, *run);
    __atomic_add_fetch(&vmm->stats->exits[static_cast<int>(e.kind)], 1, __ATOMIC_RELAXED);
    ExitAction a = DecideExit(e);
    switch (a.kind) {
      case ExitActionKind::kSyscall:
        HandleSyscall(vmm, t);
        if (vmm->syscall_enters_cpl0) ReturnToUserSegments(t->run);
        vmm->stats->hypercall_cycles.RecordAtomic(ReadTsc() - exit_tsc);
        break;
      case ExitActionKind::kException:
        HandleException(vmm, t);
        break;
      case ExitActionKind::kResume:
        break;
      case ExitActionKind::kSignal:
        if (e.kind == ExitKind::kMemoryFault) {
          HandleMemoryFault(vmm, t);
        } else {
          if (e.kind == ExitKind::kIo || e.kind == ExitKind::kHlt) {  // ring-0 guest code probing the VMM
            __atomic_add_fetch(&vmm->stats->protection_violations, 1, __ATOMIC_RELAXED);
          }
          ForceSignal(vmm, t, run->s.regs.regs, a.signo, a.si_code, a.addr, 0, 0, 0);
          run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
        }
        break;
      case ExitActionKind::kKill:
        WriteKillMessage(a.why, run->s.regs.regs.rip, 0);
        KillWithSignal(a.signo);
    }
  }
}

}  // namespace ix::vmm

extern "C" [[noreturn]] void ix_vmm_thread_start(ix::vmm::VcpuThread* t) {
  t->tid = static_cast<int>(ix::vmm::RawSyscall(SYS_gettid));
  ix::vmm::RunLoop(t);
}

// The entering thread, now on its private stack: load the captured state into vCPU 0 and run.
extern "C" [[noreturn]] void ix_vmm_thread_main(ix::vmm::VcpuThread* t) {
  using namespace ix::vmm;
  kvm_regs regs{};
  regs.rip = t->entry.rip;
  regs.rsp = t->entry.rsp;
  regs.rbx = t->entry.rbx;
  regs.rbp = t->entry.rbp;
  regs.r12 = t->entry.r12;
  regs.r13 = t->entry.r13;
  regs.r14 = t->entry.r14;
  regs.r15 = t->entry.r15;
  regs.rflags = 0x202;
  uint64_t fs = 0;
  RawSyscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, reinterpret_cast<long>(&fs));
  int r = InitVcpu(t->vmm, t, regs, fs, 0);
  if (r == 0) r = LoadHostFpuControl(t->vcpu_fd, &t->xsave);
  if (r < 0) {
    regs.rax = static_cast<uint64_t>(r);  // ix_vmm_enter "returns" -errno natively
    ix_vmm_resume_native(&regs);
  }
  t->tid = static_cast<int>(RawSyscall(SYS_gettid));
  t->run->kvm_dirty_regs = 0;
  RunLoop(t);
}

// Unit tests of exit decoding and the decision for each exit, fed fabricated kvm_run contents.
#include "vmm/exit.h"

#include <signal.h>

#include <cerrno>

#include "gtest/gtest.h"
#include "ix/hypercall.h"

namespace ix::vmm {
namespace {

kvm_run Mmio(uint64_t gpa) {
  kvm_run r{};
  r.exit_reason = KVM_EXIT_MMIO;
  r.mmio.phys_addr = gpa;
  r.mmio.is_write = 1;
  r.mmio.len = 4;
  return r;
}

TEST(DecodeExit, HypercallsByAddress) {
  EXPECT_EQ(DecodeExit(0, Mmio(IX_HC_SYSCALL_GPA)).kind, ExitKind::kSyscall);
  EXPECT_EQ(DecodeExit(0, Mmio(IX_HC_EXCEPTION_GPA)).kind, ExitKind::kException);
  EXPECT_EQ(DecodeExit(0, Mmio(IX_HC_NOP_GPA)).kind, ExitKind::kNop);
  EXPECT_EQ(DecideExit(DecodeExit(0, Mmio(IX_HC_NOP_GPA))).kind, ExitActionKind::kResume);
  DecodedExit other = DecodeExit(0, Mmio(0x7f0012345678));
  EXPECT_EQ(other.kind, ExitKind::kUnbackedMmio);
  EXPECT_EQ(other.gpa, 0x7f0012345678u);
}

TEST(DecodeExit, RunErrors) {
  kvm_run r{};
  EXPECT_EQ(DecodeExit(-EINTR, r).kind, ExitKind::kInterrupted);
  EXPECT_EQ(DecodeExit(-EFAULT, r).kind, ExitKind::kMemoryFault);
  DecodedExit e = DecodeExit(-EINVAL, r);
  EXPECT_EQ(e.kind, ExitKind::kRunError);
  EXPECT_EQ(e.run_errno, EINVAL);
}

TEST(DecodeExit, Reasons) {
  kvm_run r{};
  r.exit_reason = KVM_EXIT_SHUTDOWN;
  EXPECT_EQ(DecodeExit(0, r).kind, ExitKind::kShutdown);
  r.exit_reason = KVM_EXIT_HLT;
  EXPECT_EQ(DecodeExit(0, r).kind, ExitKind::kHlt);
  r.exit_reason = KVM_EXIT_IO;
  EXPECT_EQ(DecodeExit(0, r).kind, ExitKind::kIo);
  r.exit_reason = KVM_EXIT_INTERNAL_ERROR;
  r.internal.suberror = 1;
  DecodedExit e = DecodeExit(0, r);
  EXPECT_EQ(e.kind, ExitKind::kInternalError);
  EXPECT_EQ(e.suberror, 1u);
  r.exit_reason = 9999;
  EXPECT_EQ(DecodeExit(0, r).kind, ExitKind::kOther);
}

TEST(DecideExit, EveryKindHasAnAction) {
  for (int k = 0; k < static_cast<int>(ExitKind::kCount); ++k) {
    DecodedExit e;
    e.kind = static_cast<ExitKind>(k);
    ExitAction a = DecideExit(e);
    if (a.kind == ExitActionKind::kKill || a.kind == ExitActionKind::kSignal) {
      EXPECT_GT(a.signo, 0) << ExitKindName(e.kind);
      EXPECT_NE(a.why, nullptr) << ExitKindName(e.kind);
    }
  }
}

TEST(DecideExit, GuestFaultsBecomeSignalsNotHostCrashes) {
  DecodedExit e;
  e.kind = ExitKind::kShutdown;
  EXPECT_EQ(DecideExit(e).kind, ExitActionKind::kKill);
  EXPECT_EQ(DecideExit(e).signo, SIGSEGV);
  e.kind = ExitKind::kUnbackedMmio;
  e.gpa = 0x1234;
  ExitAction a = DecideExit(e);
  EXPECT_EQ(a.kind, ExitActionKind::kSignal);
  EXPECT_EQ(a.signo, SIGSEGV);
  EXPECT_EQ(a.addr, 0x1234u);
  e.kind = ExitKind::kMemoryFault;
  EXPECT_EQ(DecideExit(e).signo, SIGSEGV);
  e.kind = ExitKind::kSyscall;
  EXPECT_EQ(DecideExit(e).kind, ExitActionKind::kSyscall);
}

TEST(ExceptionToSignal, LinuxMapping) {
  EXPECT_EQ(ExceptionToSignal(0, 0, 0).signo, SIGFPE);
  EXPECT_EQ(ExceptionToSignal(3, 0, 0).signo, SIGTRAP);
  EXPECT_EQ(ExceptionToSignal(6, 0, 0).signo, SIGILL);
  EXPECT_EQ(ExceptionToSignal(13, 0, 0).signo, SIGSEGV);
  ExitAction pf = ExceptionToSignal(14, 0, 0xdead000);
  EXPECT_EQ(pf.signo, SIGSEGV);
  EXPECT_EQ(pf.si_code, SEGV_MAPERR);
  EXPECT_EQ(pf.addr, 0xdead000u);
  EXPECT_EQ(ExceptionToSignal(14, 1, 0x1000).si_code, SEGV_ACCERR);
  EXPECT_EQ(ExceptionToSignal(8, 0, 0).kind, ExitActionKind::kKill);
  EXPECT_EQ(ExceptionToSignal(31, 0, 0).kind, ExitActionKind::kKill);
}

TEST(SyscallReturnRflags, KeepsWhatAProgramMaySetAndNothingPrivileged) {
  EXPECT_EQ(SyscallReturnRflags(0x246), 0x246u);             // ZF PF IF: an ordinary return
  EXPECT_EQ(SyscallReturnRflags(0x0), 0x202u);               // IF and bit 1 always set
  EXPECT_EQ(SyscallReturnRflags(0x3202), 0x202u);            // IOPL 3 dropped
  EXPECT_EQ(SyscallReturnRflags(0x1b0202), 0x202u);          // RF VM VIF VIP dropped
  EXPECT_EQ(SyscallReturnRflags(0x40d01), 0x40f03u);         // CF TF DF OF AC kept
  EXPECT_EQ(SyscallReturnRflags(~0ull), kUserRflags | 0x202);
}

}  // namespace
}  // namespace ix::vmm

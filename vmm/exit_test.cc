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
  for (uint64_t v : {10u, 11u, 12u}) {  // Linux: SIGSEGV for #TS, SIGBUS for #NP and #SS
    ExitAction a = ExceptionToSignal(v, 0x18, 0);
    EXPECT_EQ(a.kind, ExitActionKind::kSignal) << v;
    EXPECT_EQ(a.signo, v == 10 ? SIGSEGV : SIGBUS) << v;
    EXPECT_EQ(a.si_code, SI_KERNEL) << v;
  }
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

// The IST area of a thread block as HandleException passes it, and a 56-byte frame.
constexpr uint64_t kIstLo = 0x7f0000020000, kIstHi = 0x7f0000030000;
constexpr uint64_t kFrame = sizeof(ix_exception_frame);

TEST(ExceptionFrameInBounds, AcceptsFramesInsideTheIstArea) {
  EXPECT_TRUE(ExceptionFrameInBounds(kIstLo, kFrame, kIstLo, kIstHi, 0));
  EXPECT_TRUE(ExceptionFrameInBounds(kIstHi - kFrame, kFrame, kIstLo, kIstHi, 0));  // touches the top
  EXPECT_TRUE(ExceptionFrameInBounds(kIstHi - 0x100, kFrame, kIstLo, kIstHi, 0));
  EXPECT_TRUE(ExceptionFrameInBounds(kIstLo, kIstHi - kIstLo, kIstLo, kIstHi, 0));   // fills it
}

TEST(ExceptionFrameInBounds, RefusesForgedFrames) {
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo - 8, kFrame, kIstLo, kIstHi, 0));        // straddles lo
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo - kFrame, kFrame, kIstLo, kIstHi, 0));   // just below
  EXPECT_FALSE(ExceptionFrameInBounds(0, kFrame, kIstLo, kIstHi, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstHi - kFrame + 1, kFrame, kIstLo, kIstHi, 0));  // straddles hi
  EXPECT_FALSE(ExceptionFrameInBounds(kIstHi, kFrame, kIstLo, kIstHi, 0));             // just above
  EXPECT_FALSE(ExceptionFrameInBounds(kIstHi + 0x1000, kFrame, kIstLo, kIstHi, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo, kIstHi - kIstLo + 1, kIstLo, kIstHi, 0));  // too big
}

TEST(ExceptionFrameInBounds, RefusesWrappingAddressesAndSizes) {
  // frame_hva + size wraps to a small number below ist_hi: a naive `hva + size > hi` passes it.
  EXPECT_FALSE(ExceptionFrameInBounds(~0ull - 8, kFrame, kIstLo, kIstHi, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo + 8, ~0ull - 4, kIstLo, kIstHi, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo, ~0ull, kIstLo, kIstHi, 0));
  // An area at the very top of the address space still works, and nothing wraps past it.
  EXPECT_TRUE(ExceptionFrameInBounds(~0ull - kFrame, kFrame, ~0ull - 0x1000, ~0ull, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(~0ull - kFrame + 2, kFrame, ~0ull - 0x1000, ~0ull, 0));
  // Empty or inverted areas hold nothing.
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo, kFrame, kIstLo, kIstLo, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstLo, kFrame, kIstHi, kIstLo, 0));
  EXPECT_FALSE(ExceptionFrameInBounds(kIstHi - kFrame, kFrame, kIstHi, kIstLo, 0));
}

TEST(ExceptionFrameInBounds, RefusesReportsFromRing3) {
  for (int dpl : {1, 2, 3, -1}) {
    EXPECT_FALSE(ExceptionFrameInBounds(kIstLo + 0x100, kFrame, kIstLo, kIstHi, dpl)) << dpl;
  }
}

TEST(ExceptionReturnRflags, NothingPrivilegedFromAForgedFrame) {
  constexpr uint64_t kIopl3 = 0x3000, kRf = 1ull << 16, kVm = 1ull << 17, kVif = 1ull << 19,
                     kVip = 1ull << 20, kPrivileged = kIopl3 | kVm | kVif | kVip;
  EXPECT_EQ(ExceptionReturnRflags(0x246), 0x246u);  // an ordinary fault in user code
  EXPECT_EQ(ExceptionReturnRflags(0x10246), 0x246u);  // RF, as the CPU pushes it for a fault
  EXPECT_EQ(ExceptionReturnRflags(0), 0x202u);       // IF and bit 1 always set
  EXPECT_EQ(ExceptionReturnRflags(kIopl3 | 0x202), 0x202u);
  EXPECT_EQ(ExceptionReturnRflags(0x1000 | 0x202), 0x202u);  // IOPL 1
  EXPECT_EQ(ExceptionReturnRflags(kVm | 0x202), 0x202u);
  EXPECT_EQ(ExceptionReturnRflags(kVif | 0x202), 0x202u);
  EXPECT_EQ(ExceptionReturnRflags(kVip | 0x202), 0x202u);
  EXPECT_EQ(ExceptionReturnRflags(kPrivileged | kRf), 0x202u);
  EXPECT_EQ(ExceptionReturnRflags(0x40d01), 0x40f03u);  // CF TF DF OF AC kept
  EXPECT_EQ(ExceptionReturnRflags(~0ull), kUserRflags | 0x202);
  EXPECT_EQ(ExceptionReturnRflags(~0ull) & (kPrivileged | kRf), 0u);
}

}  // namespace
}  // namespace ix::vmm

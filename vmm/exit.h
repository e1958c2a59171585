// Decoding of KVM exits and the pure decision of what each one means for the guest program.
//
//   DecodedExit e = DecodeExit(vcpu.Run(), *vcpu.run());
//   ExitAction a = DecideExit(e);
//   switch (a.kind) { case ExitActionKind::kSyscall: ...; case ExitActionKind::kSignal: ... }
//
// Both functions are pure (no KVM, no I/O) so unit tests feed them exits directly.
#ifndef IX_VMM_EXIT_H_
#define IX_VMM_EXIT_H_

#include <linux/kvm.h>

#include <cstdint>

namespace ix::vmm {

enum class ExitKind : uint8_t {
  kSyscall,        // the LSTAR stub's hypercall
  kException,      // an IDT stub's hypercall: the frame is on the IST stack
  kNop,            // the no-op hypercall (benchmarks the bare exit round trip)
  kInterrupted,    // KVM_RUN returned -EINTR or KVM_EXIT_INTR: a host signal is pending
  kMemoryFault,    // KVM_RUN returned -EFAULT: a ring-3 access the host could not back
  kUnbackedMmio,   // ring-0 access to a guest-physical address with no slot (gpa is the address)
  kShutdown,       // triple fault
  kIo,             // port I/O from the guest program (only ring 0 can do it)
  kHlt,
  kInternalError,  // KVM could not emulate an instruction, or entry failed
  kRunError,       // KVM_RUN failed with another errno
  kOther,
  kCount,
};

struct DecodedExit {
  ExitKind kind = ExitKind::kOther;
  int run_errno = 0;        // for kRunError / kMemoryFault
  uint32_t reason = 0;      // kvm_run::exit_reason
  uint64_t gpa = 0;         // for MMIO exits
  uint32_t suberror = 0;    // for kInternalError
};

// `run_result` is what Vcpu::Run() returned (0 or -errno).
DecodedExit DecodeExit(int run_result, const kvm_run& run);
const char* ExitKindName(ExitKind kind);

enum class ExitActionKind : uint8_t {
  kSyscall,    // forward the syscall in the guest's registers
  kException,  // read the exception frame and turn it into a signal (or retry)
  kResume,     // nothing to do but deliver pending signals and re-enter
  kSignal,     // raise `signo` in the guest (synchronous fault), at `addr`
  kKill,       // the guest is beyond repair: kill the process with `signo`, print why
};

struct ExitAction {
  ExitActionKind kind;
  int signo = 0;
  int si_code = 0;
  uint64_t addr = 0;
  const char* why = nullptr;  // for kKill / kSignal: a short reason for --trace and stderr
};

ExitAction DecideExit(const DecodedExit& exit);

// The signal Linux sends for x86 exception `vector` raised by user code, and its si_code.
// `error_code` and `cr2` matter for #PF. Vectors a Linux program cannot raise as a fault (double
// fault, NMI, machine check, reserved ones, anything >= 32) give kKill, also with a signo.
ExitAction ExceptionToSignal(uint64_t vector, uint64_t error_code, uint64_t cr2);

// The RFLAGS a guest continues with after a forwarded syscall (or in a clone child), from the r11
// the guest handed in: only what a Linux program can set itself (CF PF AF ZF SF TF DF OF NT AC
// ID), with IF and the fixed bit 1 set. Never IOPL, RF, VM, VIF or VIP: guest ring 0 code can
// hand in any r11, and IOPL 3 would give a ring-3 guest cli/sti and port I/O.
inline constexpr uint64_t kUserRflags = 0x244dd5;
constexpr uint64_t SyscallReturnRflags(uint64_t r11) { return (r11 & kUserRflags) | 0x202; }

// Whether the exception frame the guest's IDT stub reported (at host address `frame_hva`,
// `frame_size` bytes) lies entirely inside the thread's IST stack [ist_lo, ist_hi) and was pushed
// by ring-0 code (`cs_dpl`, the DPL of the guest's CS at the hypercall, is 0). Everything here
// comes from guest registers, which guest ring-0 code can set at will: overflow-safe for any
// values (a frame that wraps around the address space, or an empty or inverted area, is out).
bool ExceptionFrameInBounds(uint64_t frame_hva, uint64_t frame_size, uint64_t ist_lo,
                            uint64_t ist_hi, int cs_dpl);

// The RFLAGS a guest continues with after an exception, from the frame's rflags: the same
// user-settable bits as SyscallReturnRflags (never IOPL, VM, VIF, VIP), IF and bit 1 set. The frame
// is guest memory that guest ring-0 code can forge, so it is no more trusted than r11. RF, which
// the CPU sets in the image of a fault, is dropped too: it only suppresses one instruction
// breakpoint, which a ring-3 program cannot arm (no debug registers, ptrace is refused), so at
// worst an armed breakpoint on a retried instruction fires again.
constexpr uint64_t ExceptionReturnRflags(uint64_t frame_rflags) {
  return SyscallReturnRflags(frame_rflags);
}

}  // namespace ix::vmm

#endif  // IX_VMM_EXIT_H_

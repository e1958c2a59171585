// Decoding of KVM exits and the pure decision of what each one means (see exit.h).
#include "vmm/exit.h"

#include <signal.h>

#include <cerrno>

#include "ix/hypercall.h"

namespace ix::vmm {

DecodedExit DecodeExit(int run_result, const kvm_run& run) {
  DecodedExit e;
  e.reason = run.exit_reason;
  if (run_result < 0) {
    e.run_errno = -run_result;
    if (run_result == -EINTR) e.kind = ExitKind::kInterrupted;
    else if (run_result == -EFAULT) e.kind = ExitKind::kMemoryFault;
    else e.kind = ExitKind::kRunError;
    return e;
  }
  switch (run.exit_reason) {
    case KVM_EXIT_MMIO:
      e.gpa = run.mmio.phys_addr;
      if (e.gpa == IX_HC_SYSCALL_GPA) e.kind = ExitKind::kSyscall;
      else if (e.gpa == IX_HC_EXCEPTION_GPA) e.kind = ExitKind::kException;
      else if (e.gpa == IX_HC_NOP_GPA) e.kind = ExitKind::kNop;
      else e.kind = ExitKind::kUnbackedMmio;
      break;
    case KVM_EXIT_INTR: e.kind = ExitKind::kInterrupted; break;
    case KVM_EXIT_SHUTDOWN: e.kind = ExitKind::kShutdown; break;
    case KVM_EXIT_IO: e.kind = ExitKind::kIo; break;
    case KVM_EXIT_HLT: e.kind = ExitKind::kHlt; break;
    case KVM_EXIT_INTERNAL_ERROR:
      e.kind = ExitKind::kInternalError;
      e.suberror = run.internal.suberror;
      break;
    case KVM_EXIT_FAIL_ENTRY: e.kind = ExitKind::kInternalError; break;
    default: e.kind = ExitKind::kOther; break;
  }
  return e;
}

const char* ExitKindName(ExitKind kind) {
  switch (kind) {
    case ExitKind::kSyscall: return "syscall";
    case ExitKind::kException: return "exception";
    case ExitKind::kNop: return "nop";
    case ExitKind::kInterrupted: return "interrupted";
    case ExitKind::kMemoryFault: return "memory_fault";
    case ExitKind::kUnbackedMmio: return "unbacked_mmio";
    case ExitKind::kShutdown: return "shutdown";
    case ExitKind::kIo: return "port_io";
    case ExitKind::kHlt: return "hlt";
    case ExitKind::kInternalError: return "internal_error";
    case ExitKind::kRunError: return "run_error";
    case ExitKind::kOther: return "other";
    case ExitKind::kCount: break;
  }
  return "?";
}

ExitAction DecideExit(const DecodedExit& exit) {
  switch (exit.kind) {
    case ExitKind::kSyscall: return {ExitActionKind::kSyscall};
    case ExitKind::kException: return {ExitActionKind::kException};
    case ExitKind::kNop:
    case ExitKind::kInterrupted: return {ExitActionKind::kResume};
    case ExitKind::kMemoryFault:
      // The guest touched memory its page tables map but the host cannot back with the access
      // asked (unmapped, PROT_NONE, read-only): Linux would send SIGSEGV. KVM gives no address.
      return {ExitActionKind::kSignal, SIGSEGV, SEGV_ACCERR, 0, "access to memory the process cannot use"};
    case ExitKind::kUnbackedMmio:
      // GPA == HVA, so the guest-physical address is the faulting virtual address.
      return {ExitActionKind::kSignal, SIGSEGV, SEGV_MAPERR, exit.gpa, "access to unmapped memory"};
    case ExitKind::kIo:
    case ExitKind::kHlt:
      // Privileged instructions a Linux process may not execute: #GP, which Linux turns into SIGSEGV.
      return {ExitActionKind::kSignal, SIGSEGV, SI_KERNEL, 0, "privileged instruction"};
    case ExitKind::kShutdown:
      return {ExitActionKind::kKill, SIGSEGV, 0, 0, "guest triple fault"};
    case ExitKind::kInternalError:
      return {ExitActionKind::kKill, SIGILL, 0, 0, "KVM could not emulate a guest instruction"};
    case ExitKind::kRunError:
      return {ExitActionKind::kKill, SIGKILL, 0, 0, "KVM_RUN failed"};
    case ExitKind::kOther:
    case ExitKind::kCount:
      break;
  }
  return {ExitActionKind::kKill, SIGKILL, 0, 0, "unexpected KVM exit"};
}

bool ExceptionFrameInBounds(uint64_t frame_hva, uint64_t frame_size, uint64_t ist_lo,
                            uint64_t ist_hi, int cs_dpl) {
  if (cs_dpl != 0 || ist_hi < ist_lo || frame_hva < ist_lo) return false;
  const uint64_t room = ist_hi - ist_lo;
  return frame_size <= room && frame_hva - ist_lo <= room - frame_size;
}

ExitAction ExceptionToSignal(uint64_t vector, uint64_t error_code, uint64_t cr2) {
  switch (vector) {
    case 0: return {ExitActionKind::kSignal, SIGFPE, FPE_INTDIV, 0, "divide error"};
    case 1: return {ExitActionKind::kSignal, SIGTRAP, TRAP_TRACE, 0, "debug trap"};
    case 3: return {ExitActionKind::kSignal, SIGTRAP, SI_KERNEL, 0, "breakpoint"};
    case 4: return {ExitActionKind::kSignal, SIGSEGV, SI_KERNEL, 0, "overflow"};
    case 5: return {ExitActionKind::kSignal, SIGSEGV, SI_KERNEL, 0, "bound range"};
    case 6: return {ExitActionKind::kSignal, SIGILL, ILL_ILLOPN, 0, "invalid opcode"};
    case 7: return {ExitActionKind::kSignal, SIGFPE, SI_KERNEL, 0, "device not available"};
    case 13: return {ExitActionKind::kSignal, SIGSEGV, SI_KERNEL, 0, "general protection"};
    // Segment faults a program can cause by loading its own selectors, as Linux delivers them.
    case 10: return {ExitActionKind::kSignal, SIGSEGV, SI_KERNEL, 0, "invalid TSS"};
    case 11: return {ExitActionKind::kSignal, SIGBUS, SI_KERNEL, 0, "segment not present"};
    case 12: return {ExitActionKind::kSignal, SIGBUS, SI_KERNEL, 0, "stack segment fault"};
    case 14: {
      // Error code bit 0: the page was present (protection violation) rather than not mapped.
      int code = (error_code & 1) ? SEGV_ACCERR : SEGV_MAPERR;
      return {ExitActionKind::kSignal, SIGSEGV, code, cr2, "page fault"};
    }
    case 16: return {ExitActionKind::kSignal, SIGFPE, FPE_FLTINV, 0, "x87 floating point error"};
    case 17: return {ExitActionKind::kSignal, SIGBUS, BUS_ADRALN, 0, "alignment check"};
    case 19: return {ExitActionKind::kSignal, SIGFPE, FPE_FLTINV, 0, "SIMD floating point error"};
    case 8: return {ExitActionKind::kKill, SIGSEGV, 0, 0, "double fault"};
    default: break;
  }
  return {ExitActionKind::kKill, SIGSEGV, 0, 0, "unexpected exception"};
}

}  // namespace ix::vmm

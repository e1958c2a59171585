// What a guest ring-3 instruction does that the host could not back for KVM: on kvm_pvm, KVM_RUN
// then fails with EFAULT and reports no address (platform.md), so the signal Linux would send
// cannot be built from the exit. The VMM finds out by running that one instruction natively in the
// same host thread, with the guest's registers and FPU state and the trap flag set:
//  - it faults: the kernel reports the exact signal, code and address (what Linux would have given
//    the program), and the registers at the fault (a rep string op's partial progress included);
//  - it completes (memory KVM cannot map but the process can, e.g. some device mappings): the guest
//    continues after it, with the native results.
// No other signal can be delivered meanwhile (the host mask blocks all but the synchronous ones),
// and an instruction that would enter the kernel (syscall, sysenter, int) is never run this way.
#ifndef IX_VMM_PROBE_H_
#define IX_VMM_PROBE_H_

#include <linux/kvm.h>

#include <cstdint>

#include "vmm/vmm_state.h"

namespace ix::vmm {

struct ProbeResult {
  bool completed = false;  // the instruction ran; *regs is the state after it
  int signo = 0;           // otherwise the fault: signal, si_code, si_addr, trap number, error code
  int code = 0;
  uint64_t addr = 0;
  uint64_t trapno = 0;
  uint64_t err = 0;
};

// Runs the guest instruction at regs->rip natively (see above). On true, *regs (and, when the
// instruction completed, the vCPU's FPU state) are updated and *out says what happened. On false
// the probe was not possible (nothing changed): unreadable or kernel-entering instruction, guest
// stack not writable for the entry sequence, or an FPU area larger than the buffers.
bool ProbeInstruction(Vmm* vmm, VcpuThread* t, kvm_regs* regs, ProbeResult* out);

}  // namespace ix::vmm

#endif  // IX_VMM_PROBE_H_

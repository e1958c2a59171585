// Guest CPU state: descriptor tables (GDT, TSS, IDT) in VMM-private memory, and the raw,
// allocation-free set-up of a vCPU for a host thread (used at start-up, for clone and after fork).
#ifndef IX_VMM_CPU_H_
#define IX_VMM_CPU_H_

#include <linux/kvm.h>

#include <cstdint>

#include "vmm/vmm_state.h"

namespace ix::vmm {

inline constexpr uint16_t kSelKernelCode = 0x10, kSelKernelData = 0x18;
inline constexpr uint16_t kSelUserCode32 = 0x23, kSelUserData = 0x2b, kSelUserCode = 0x33;
inline constexpr uint16_t kSelTss = 0x38;

inline constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSfmask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;

// Fills the shared IDT (exception vectors 0..31 -> guestlib stubs on IST 1).
void BuildIdt(Vmm* vmm);

// Builds vmm->sregs_template for the configured ring from a vCPU's reset state.
void BuildSregsTemplate(Vmm* vmm, const kvm_sregs& reset_state);

// Sets the code and stack segments of `s` for guest ring `ring` (0 or 3).
void SetRingSegments(kvm_sregs* s, int ring);

// After a syscall hypercall with vmm->syscall_enters_cpl0: if the exit left the vCPU in the LSTAR
// stub's kernel segments, puts CS/SS back to ring 3 through the sync registers (valid on every
// exit of such a vCPU, see CreateVcpu) and marks them dirty. Safe on the exit path.
void ReturnToUserSegments(kvm_run* run);

// Creates t's vCPU (kvm_run mapped inside t's block, CPUID set). Returns 0 or -errno.
int CreateVcpu(Vmm* vmm, VcpuThread* t);

// After a syscall hypercall with vmm->syscall_enters_cpl0: if the exit left the vCPU in the LSTAR
// stub's kernel segments, puts CS/SS back to ring 3 through the sync registers (valid on every
// exit of such a vCPU, see CreateVcpu) and marks them dirty. Safe on the exit path.
void ReturnToUserSegments(kvm_run* run);

// Creates t's vCPU if it has none (kvm_run mapped inside t's block) and loads the complete guest
// state: descriptor tables, control registers, syscall MSRs, FS/GS bases and `regs`.
// Returns 0 or -errno. Safe on the exit path.
int InitVcpu(Vmm* vmm, VcpuThread* t, const kvm_regs& regs, uint64_t fs_base, uint64_t gs_base);

// FPU/SSE/AVX state of a new vCPU. CopyFpuState gives `to_fd` the complete state of `from_fd`
// (a clone child starts with its parent's registers, as on Linux). LoadHostFpuControl gives a vCPU
// the calling host thread's x87 control word and MXCSR, the FPU state the SysV ABI preserves across
// the call that enters the guest. Both use `scratch`; 0 or -errno; safe on the exit path.
int CopyFpuState(int from_fd, int to_fd, XsaveBuffer* scratch);
int LoadHostFpuControl(int vcpu_fd, XsaveBuffer* scratch);

}  // namespace ix::vmm

#endif  // IX_VMM_CPU_H_

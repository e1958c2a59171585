// The guest's CPU features: what a vCPU reports through CPUID and which XSAVE components it
// enables, made consistent with the host process the guest continues.
//
// The program entering the guest already chose its code paths natively: glibc's ifuncs and the
// dynamic linker's XSAVE trampoline follow the host's CPUID and XCR0. On VT-x/SVM the guest's
// CPUID is what KVM_SET_CPUID2 says and its XCR0 is what KVM_SET_XCRS says (KVM's reset value is
// x87 only), so a guest left at KVM's defaults dies of SIGILL at its first AVX instruction. Hence:
//
//   CpuidFn host = HostCpuid;                         // the real CPUID instruction
//   FitCpuidToHost(entries, n, host);                 // report nothing the host lacks
//   GuestFpuConfig fpu = FitXsaveToHost(entries, n, HostXcr0());
//   // CR4.OSXSAVE when fpu.osxsave; KVM_SET_XCRS with fpu.xcr0.
//
// On kvm_pvm guest ring 3 runs natively, but its CPUID.OSXSAVE still follows the guest's CR4: a
// guest left without it tells a program that checks CPUID that AVX is unusable.
#ifndef IX_VMM_CPU_FEATURES_H_
#define IX_VMM_CPU_FEATURES_H_

#include <linux/kvm.h>

#include <cstdint>

namespace ix::vmm {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
// Executes (or, in tests, fakes) CPUID for leaf `function`, subleaf `index`.
using CpuidFn = CpuidRegs (*)(uint32_t function, uint32_t index);

CpuidRegs HostCpuid(uint32_t function, uint32_t index);
// The host's XCR0 (xgetbv 0), or 0 when the host OS has not enabled XSAVE (CR4.OSXSAVE clear).
uint64_t HostXcr0();

inline constexpr uint64_t kXcr0X87 = 1, kXcr0Sse = 2;
inline constexpr uint32_t kCpuid1EcxXsave = 1u << 26, kCpuid1EcxOsxsave = 1u << 27;
inline constexpr uint64_t kCr4Osxsave = 1ull << 18;

// Clears, in KVM's supported-CPUID table, every feature flag the host's CPUID does not report
// (leaves 1, 7.0, 0xD.0/0xD.1, 0x80000001), so the guest never learns of a feature its own
// native code was not built around. Flags KVM computes from guest state at run time (OSXSAVE,
// OSPKE) and non-flag fields (APIC ids, sizes) are left as they are.
void FitCpuidToHost(kvm_cpuid_entry2* entries, int n, CpuidFn host);

struct GuestFpuConfig {
  bool osxsave = false;  // set CR4.OSXSAVE and XCR0
  uint64_t xcr0 = 0;     // the guest's XCR0 when osxsave
  uint64_t dropped = 0;  // host XCR0 components KVM cannot give the guest
};

// The guest's XSAVE configuration: the host's XCR0 limited to the components the CPUID table
// supports (leaf 0xD.0), whenever the host has XSAVE enabled and the table has leaf 0xD; then the
// table's leaf 1 also reports XSAVE, which KVM requires before it accepts CR4.OSXSAVE.
GuestFpuConfig FitXsaveToHost(kvm_cpuid_entry2* entries, int n, uint64_t host_xcr0);

// Both of the above with the real host CPUID and XCR0: what every vCPU of a VM gets (guest.cc) and
// what `ix-run --info` reports.
GuestFpuConfig FitCpuToHost(kvm_cpuid_entry2* entries, int n);

// The entry for (function, index) in a CPUID table, or nullptr.
kvm_cpuid_entry2* FindCpuid(kvm_cpuid_entry2* entries, int n, uint32_t function, uint32_t index);
const kvm_cpuid_entry2* FindCpuid(const kvm_cpuid_entry2* entries, int n, uint32_t function,
                                  uint32_t index);

}  // namespace ix::vmm

#endif  // IX_VMM_CPU_FEATURES_H_

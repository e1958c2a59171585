// The guest's CPU features (see cpu_features.h).
#include "vmm/cpu_features.h"

#include <cpuid.h>

namespace ix::vmm {

CpuidRegs HostCpuid(uint32_t function, uint32_t index) {
  CpuidRegs r;
  __cpuid_count(function, index, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

uint64_t HostXcr0() {
  if (!(HostCpuid(1, 0).ecx & kCpuid1EcxOsxsave)) return 0;
  uint32_t lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

const kvm_cpuid_entry2* FindCpuid(const kvm_cpuid_entry2* entries, int n, uint32_t function,
                                  uint32_t index) {
  for (int i = 0; i < n; ++i) {
    const kvm_cpuid_entry2& e = entries[i];
    if (e.function != function) continue;
    if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e.index != index) continue;
    return &e;
  }
  return nullptr;
}

kvm_cpuid_entry2* FindCpuid(kvm_cpuid_entry2* entries, int n, uint32_t function, uint32_t index) {
  return const_cast<kvm_cpuid_entry2*>(
      FindCpuid(static_cast<const kvm_cpuid_entry2*>(entries), n, function, index));
}

void FitCpuidToHost(kvm_cpuid_entry2* entries, int n, CpuidFn host) {
  const uint32_t max_basic = host(0, 0).eax, max_ext = host(0x80000000, 0).eax;
  auto known = [&](uint32_t function) {
    return function >= 0x80000000 ? function <= max_ext : function <= max_basic;
  };
  // Which registers of which leaves are feature flags, and the bits KVM owns at run time.
  struct FlagLeaf {
    uint32_t function, index;
    bool eax, ebx, ecx, edx;
    uint32_t keep_ecx;
  };
  constexpr uint32_t kOspke = 1u << 4;  // leaf 7 ecx, follows guest CR4.PKE
  constexpr FlagLeaf kLeaves[] = {
      {1, 0, false, false, true, true, kCpuid1EcxOsxsave},
      {7, 0, false, true, true, true, kOspke},
      {0xd, 0, true, false, false, true, 0},  // supported XCR0 bits (edx:eax)
      {0xd, 1, true, false, false, false, 0},  // XSAVEOPT, XSAVEC, XGETBV1, XSAVES
      {0x80000001, 0, false, false, true, true, 0},
  };
  for (const FlagLeaf& l : kLeaves) {
    kvm_cpuid_entry2* e = FindCpuid(entries, n, l.function, l.index);
    if (e == nullptr) continue;
    CpuidRegs h = known(l.function) ? host(l.function, l.index) : CpuidRegs{};
    if (l.eax) e->eax &= h.eax;
    if (l.ebx) e->ebx &= h.ebx;
    if (l.ecx) e->ecx &= h.ecx | l.keep_ecx;
    if (l.edx) e->edx &= h.edx;
  }
}

GuestFpuConfig FitXsaveToHost(kvm_cpuid_entry2* entries, int n, uint64_t host_xcr0) {
  GuestFpuConfig c;
  kvm_cpuid_entry2* leaf1 = FindCpuid(entries, n, 1, 0);
  const kvm_cpuid_entry2* leafd = FindCpuid(entries, n, 0xd, 0);
  if (host_xcr0 == 0 || leaf1 == nullptr || leafd == nullptr) return c;
  const uint64_t supported = (uint64_t{leafd->edx} << 32) | leafd->eax;
  if (supported == 0) return c;
  c.osxsave = true;
  c.xcr0 = (host_xcr0 & supported) | kXcr0X87;
  // AVX state needs SSE state (XCR0 rules): an XCR0 without SSE would be refused by KVM.
  if (c.xcr0 & ~kXcr0X87) c.xcr0 |= kXcr0Sse;
  c.dropped = host_xcr0 & ~c.xcr0;
  // KVM takes CR4.OSXSAVE only when the guest's CPUID reports XSAVE. kvm_pvm's supported table
  // leaves XSAVE out (its ring-0 emulator cannot execute it) while guest ring 3 runs XSAVE and AVX
  // natively; the host has XSAVE (host_xcr0 != 0), so the guest reports it too.
  leaf1->ecx |= kCpuid1EcxXsave;
  return c;
}

GuestFpuConfig FitCpuToHost(kvm_cpuid_entry2* entries, int n) {
  FitCpuidToHost(entries, n, HostCpuid);
  return FitXsaveToHost(entries, n, HostXcr0());
}

}  // namespace ix::vmm

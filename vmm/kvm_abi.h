// Fixed-size replacements for linux/kvm.h's flexible-array structs, with their ioctl numbers.
//
// In C++, the uapi headers' __DECLARE_FLEX_ARRAY expands to an empty struct (size 1), so
// sizeof(kvm_cpuid2), sizeof(kvm_msrs) and sizeof(kvm_xsave) differ from C and so do the _IOW/_IOR
// numbers that encode them: the kernel answers EINVAL. These use the C layout.
#ifndef IX_VMM_KVM_ABI_H_
#define IX_VMM_KVM_ABI_H_

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace ix::vmm {

struct CpuidBuffer {
  uint32_t nent;
  uint32_t padding;
  kvm_cpuid_entry2 entries[256];
};
struct MsrBuffer {
  uint32_t nmsrs;
  uint32_t pad;
  kvm_msr_entry entries[16];
};
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);
// struct kvm_xsave as C sees it: the vCPU's XSAVE area, standard (non-compacted) format.
struct alignas(64) XsaveBuffer {
  uint32_t region[1024];
};
static_assert(sizeof(XsaveBuffer) == 4096);

inline constexpr unsigned long kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, uint64_t);
inline constexpr unsigned long kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, uint64_t);
inline constexpr unsigned long kIoctlGetMsrs = _IOWR(KVMIO, 0x88, uint64_t);
inline constexpr unsigned long kIoctlSetMsrs = _IOW(KVMIO, 0x89, uint64_t);
inline constexpr unsigned long kIoctlGetXsave = _IOR(KVMIO, 0xa4, XsaveBuffer);
inline constexpr unsigned long kIoctlSetXsave = _IOW(KVMIO, 0xa5, XsaveBuffer);

}  // namespace ix::vmm

#endif  // IX_VMM_KVM_ABI_H_

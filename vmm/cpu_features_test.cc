// Unit tests of the guest CPU-feature choice, over fabricated CPUID tables and a fake host CPUID.
#include "vmm/cpu_features.h"

#include <vector>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr uint32_t kAvx = 1u << 28, kSse3 = 1u << 0, kAvx2 = 1u << 5, kAvx512f = 1u << 16;

// A host with SSE3, AVX, XSAVE (OS-enabled), AVX2, no AVX-512; XCR0 = x87|SSE|AVX.
CpuidRegs FakeHost(uint32_t function, uint32_t index) {
  switch (function) {
    case 0: return {0xd, 0, 0, 0};
    case 1: return {0, 0, kSse3 | kAvx | kCpuid1EcxXsave | kCpuid1EcxOsxsave, 0x178bfbff};
    case 7: return index == 0 ? CpuidRegs{0, kAvx2, 0, 0} : CpuidRegs{};
    case 0xd: return index == 0 ? CpuidRegs{0x7, 0, 0, 0} : CpuidRegs{0x1, 0, 0, 0};
    case 0x80000000: return {0x80000001, 0, 0, 0};
    case 0x80000001: return {0, 0, 0x1, 0x20100800};
    default: return {};
  }
}

kvm_cpuid_entry2 Entry(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                       uint32_t edx, bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// What KVM on a bigger CPU would offer: AVX-512 too, plus the hypervisor bit.
std::vector<kvm_cpuid_entry2> KvmTable() {
  return {Entry(0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65),
          Entry(1, 0, 0x00a00f11, 0x00000800, kSse3 | kAvx | kCpuid1EcxXsave | (1u << 31), 0x178bfbff),
          Entry(7, 0, 0, kAvx2 | kAvx512f, 0, 0, true),
          Entry(0xd, 0, 0xe7, 0x340, 0xa88, 0, true),
          Entry(0xd, 1, 0xf, 0, 0, 0, true),
          Entry(0xd, 2, 0x100, 0x240, 0, 0, true),
          Entry(0x80000001, 0, 0, 0, 0x3, 0x2fd3fbff)};
}

TEST(FitCpuidToHost, ClearsWhatTheHostLacksAndKeepsTheRest) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  FitCpuidToHost(t.data(), static_cast<int>(t.size()), FakeHost);
  const kvm_cpuid_entry2* l1 = FindCpuid(t.data(), static_cast<int>(t.size()), 1, 0);
  EXPECT_EQ(l1->ecx, kSse3 | kAvx | kCpuid1EcxXsave);  // hypervisor bit: the host has none
  EXPECT_EQ(l1->eax, 0x00a00f11u);                        // signature untouched
  EXPECT_EQ(l1->ebx, 0x00000800u);                        // APIC id field untouched
  EXPECT_EQ(FindCpuid(t.data(), 7, 7, 0)->ebx, kAvx2);    // no AVX-512
  EXPECT_EQ(FindCpuid(t.data(), 7, 0xd, 0)->eax, 0x7u);
  EXPECT_EQ(FindCpuid(t.data(), 7, 0xd, 1)->eax, 0x1u);
  EXPECT_EQ(FindCpuid(t.data(), 7, 0xd, 2)->ebx, 0x240u);  // component offsets untouched
  EXPECT_EQ(FindCpuid(t.data(), 7, 0x80000001, 0)->ecx, 0x1u);
}

TEST(FitCpuidToHost, KeepsFlagsKvmComputesAtRunTime) {
  std::vector<kvm_cpuid_entry2> t = {Entry(1, 0, 0, 0, kCpuid1EcxOsxsave, 0)};
  FitCpuidToHost(t.data(), 1, [](uint32_t f, uint32_t) { return f == 0 ? CpuidRegs{1} : CpuidRegs{}; });
  EXPECT_EQ(t[0].ecx, kCpuid1EcxOsxsave);
}

TEST(FindCpuid, HonoursTheIndexOnlyWhereItIsSignificant) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  int n = static_cast<int>(t.size());
  EXPECT_EQ(FindCpuid(t.data(), n, 1, 5)->function, 1u);  // leaf 1 has no subleaves
  EXPECT_EQ(FindCpuid(t.data(), n, 0xd, 1)->eax, 0xfu);
  EXPECT_EQ(FindCpuid(t.data(), n, 0xd, 3), nullptr);
  EXPECT_EQ(FindCpuid(t.data(), n, 0x40000000, 0), nullptr);
}

TEST(FitXsaveToHost, GuestXcr0IsTheHostsWithinWhatKvmSupports) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  int n = static_cast<int>(t.size());
  GuestFpuConfig c = FitXsaveToHost(t.data(), n, 0x7);
  EXPECT_TRUE(c.osxsave);
  EXPECT_EQ(c.xcr0, 0x7u);
  EXPECT_EQ(c.dropped, 0u);
  // Host with AVX-512 and PKRU (0x2e7) on a KVM that supports 0xe7: PKRU cannot be given.
  c = FitXsaveToHost(t.data(), n, 0x2e7);
  EXPECT_EQ(c.xcr0, 0xe7u);
  EXPECT_EQ(c.dropped, 0x200u);
}

TEST(FitXsaveToHost, LeavesXcr0AloneWithoutHostXsaveOrLeaf0xd) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  int n = static_cast<int>(t.size());
  EXPECT_FALSE(FitXsaveToHost(t.data(), n, 0).osxsave);    // host OS never enabled XSAVE
  EXPECT_FALSE(FitXsaveToHost(t.data(), 2, 0x7).osxsave);  // no leaf 0xD at all
  t[3].eax = t[3].edx = 0;
  EXPECT_FALSE(FitXsaveToHost(t.data(), n, 0x7).osxsave);  // leaf 0xD supports nothing
}

TEST(FitXsaveToHost, ReportsXsaveWhereKvmPvmLeavesItOut) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  int n = static_cast<int>(t.size());
  t[1].ecx &= ~kCpuid1EcxXsave;  // kvm_pvm's table: no XSAVE bit, leaf 0xD with 0xe7
  GuestFpuConfig c = FitXsaveToHost(t.data(), n, 0xe7);
  EXPECT_TRUE(c.osxsave);
  EXPECT_EQ(c.xcr0, 0xe7u);
  EXPECT_NE(t[1].ecx & kCpuid1EcxXsave, 0u);
}

TEST(FitXsaveToHost, NeverEnablesAvxWithoutSse) {
  std::vector<kvm_cpuid_entry2> t = KvmTable();
  t[3].eax = 0x5;  // a table claiming x87 and AVX but not SSE
  GuestFpuConfig c = FitXsaveToHost(t.data(), static_cast<int>(t.size()), 0x7);
  EXPECT_EQ(c.xcr0 & 0x3, 0x3u);
}

TEST(HostCpu, RealCpuidAndXcr0AgreeWithEachOther) {
  // On any x86-64 Linux: SSE state is enabled whenever XSAVE is.
  uint64_t xcr0 = HostXcr0();
  if (HostCpuid(1, 0).ecx & kCpuid1EcxOsxsave) {
    EXPECT_EQ(xcr0 & 0x3, 0x3u);
  } else {
    EXPECT_EQ(xcr0, 0u);
  }
}

}  // namespace
}  // namespace ix::vmm

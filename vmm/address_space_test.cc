// Tests of guest memory coverage against a real VM (the slots are KVM's): chunks, merging,
// the private region never identity-mapped, page 0 never mapped.
#include "vmm/address_space.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

class AddressSpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kvm_ = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_ < 0) GTEST_SKIP() << "no usable /dev/kvm";
    vm_ = ioctl(kvm_, KVM_CREATE_VM, 0);
    ASSERT_GE(vm_, 0);
    pool_ = mmap(nullptr, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(pool_, MAP_FAILED);
    as_ = std::make_unique<AddressSpace>();
    // A pretend private region at 1 TiB (never used by this test process).
    as_->Init(1ull << 40, 4 * kChunk, reinterpret_cast<uint64_t>(pool_), 64);
  }
  void TearDown() override {
    if (pool_) munmap(pool_, 64 * 4096);
    if (vm_ >= 0) close(vm_);
    if (kvm_ >= 0) close(kvm_);
  }
  int kvm_ = -1, vm_ = -1;
  void* pool_ = nullptr;
  std::unique_ptr<AddressSpace> as_;
};

TEST_F(AddressSpaceTest, CoversWholeChunksAndMerges) {
  uint64_t a = 0x500000000000;
  EXPECT_EQ(as_->Cover(vm_, a + 100, 10), 1);
  EXPECT_TRUE(as_->IsCovered(a));
  EXPECT_TRUE(as_->IsCovered(a + kChunk - 1));
  EXPECT_FALSE(as_->IsCovered(a + kChunk));
  EXPECT_EQ(as_->Cover(vm_, a, 10), 0);                  // already covered
  EXPECT_EQ(as_->Cover(vm_, a + kChunk, kChunk * 2), 2);  // adjacent: merged range
  EXPECT_TRUE(as_->IsCovered(a + 3 * kChunk - 1));
  EXPECT_EQ(as_->covered_bytes(), 3 * kChunk);
  EXPECT_EQ(as_->slot_count(), 2);
}

TEST_F(AddressSpaceTest, NeverCoversPageZeroOrThePrivateRegion) {
  EXPECT_EQ(as_->Cover(vm_, 0, 4096), 0);
  EXPECT_FALSE(as_->IsCovered(0));
  uint64_t priv = 1ull << 40;
  EXPECT_EQ(as_->Cover(vm_, priv - kChunk, 6 * kChunk), 2);
  EXPECT_TRUE(as_->IsCovered(priv - 1));
  EXPECT_FALSE(as_->IsCovered(priv));
  EXPECT_FALSE(as_->IsCovered(priv + 4 * kChunk - 1));
  EXPECT_TRUE(as_->IsCovered(priv + 4 * kChunk));
  EXPECT_TRUE(as_->OverlapsPrivate(priv + 5, 1));
  EXPECT_TRUE(as_->OverlapsPrivate(priv - 10, 10));  // the guard below
  EXPECT_FALSE(as_->OverlapsPrivate(priv - kPrivateGuard - 10, 10));
  EXPECT_TRUE(as_->OverlapsPrivate(~0ull - 5, 100));  // wrap-around counts as overlap
}

TEST_F(AddressSpaceTest, CoversThisProcess) {
  int added = as_->CoverFromProcMaps(vm_);
  ASSERT_GT(added, 0);
  int local = 0;
  EXPECT_TRUE(as_->IsCovered(reinterpret_cast<uint64_t>(&local)));
  EXPECT_TRUE(as_->IsCovered(reinterpret_cast<uint64_t>(&close)));
  EXPECT_EQ(as_->CoverFromProcMaps(vm_), 0);  // idempotent
}

}  // namespace
}  // namespace ix::vmm

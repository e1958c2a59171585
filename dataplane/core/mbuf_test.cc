// Tests for MbufPool: layout, O(1) alloc/free, exhaustion, huge-page policy, shareable regions.
#include "dataplane/core/mbuf.h"

#include <sys/mman.h>

#include <cstring>
#include <set>

#include "gtest/gtest.h"

namespace ix::core {
namespace {

std::unique_ptr<MbufPool> MakePool(uint32_t n, uint32_t size = 2048, uint32_t headroom = 256) {
  MbufPoolOptions o;
  o.num_buffers = n;
  o.buffer_size = size;
  o.headroom = headroom;
  o.huge_pages = HugePagePolicy::kNever;
  absl::StatusOr<std::unique_ptr<MbufPool>> pool = MbufPool::Create(o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

TEST(MbufPool, LayoutIsIndexTimesSize) {
  auto pool = MakePool(64, 4096, 128);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->capacity(), 64u);
  EXPECT_EQ(pool->buffer_size(), 4096u);
  EXPECT_EQ(pool->headroom(), 128u);
  EXPECT_EQ(pool->region_bytes(), 64u * 4096u);
  EXPECT_GE(pool->mapped_bytes(), pool->region_bytes());
  EXPECT_EQ(pool->page_kind(), PageKind::kNormal);
  EXPECT_FALSE(pool->huge_pages());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pool->base()) % 4096, 0u);
  for (uint32_t i = 0; i < 64; ++i) {
    EXPECT_EQ(pool->Data(i), pool->base() + uint64_t{i} * 4096);
    EXPECT_EQ(pool->Offset(i), uint64_t{i} * 4096);
    EXPECT_EQ(pool->IndexOf(pool->Offset(i) + 100), i);
    EXPECT_EQ(pool->OffsetInBuffer(pool->Offset(i) + 100), 100u);
  }
}

TEST(MbufPool, AllocatesEveryBufferOnceThenReportsExhaustion) {
  auto pool = MakePool(128);
  ASSERT_NE(pool, nullptr);
  std::set<uint32_t> seen;
  for (int i = 0; i < 128; ++i) {
    uint32_t b = pool->Alloc();
    ASSERT_NE(b, MbufPool::kNoBuffer);
    ASSERT_LT(b, 128u);
    EXPECT_TRUE(seen.insert(b).second) << "buffer " << b << " handed out twice";
    EXPECT_TRUE(pool->IsAllocated(b));
  }
  EXPECT_EQ(pool->available(), 0u);
  EXPECT_EQ(pool->Alloc(), MbufPool::kNoBuffer);
  EXPECT_EQ(pool->Alloc(), MbufPool::kNoBuffer);
  EXPECT_EQ(pool->stats().exhausted, 2u);
  EXPECT_EQ(pool->stats().allocs, 128u);
  EXPECT_EQ(pool->stats().min_free, 0u);
  for (uint32_t b : seen) pool->Free(b);
  EXPECT_EQ(pool->available(), 128u);
  EXPECT_EQ(pool->in_use(), 0u);
  EXPECT_EQ(pool->stats().frees, 128u);
}

TEST(MbufPool, FreeIsLifo) {
  auto pool = MakePool(16);
  ASSERT_NE(pool, nullptr);
  uint32_t a = pool->Alloc();
  uint32_t b = pool->Alloc();
  EXPECT_EQ(a, 0u);  // documented: the first Alloc returns buffer 0
  pool->Free(a);
  EXPECT_EQ(pool->Alloc(), a);
  pool->Free(b);
  EXPECT_EQ(pool->Alloc(), b);
}

TEST(MbufPool, AllocBulkStopsAtExhaustion) {
  auto pool = MakePool(8);
  ASSERT_NE(pool, nullptr);
  uint32_t out[8];
  EXPECT_EQ(pool->AllocBulk(out, 5), 5);
  EXPECT_EQ(pool->stats().exhausted, 0u);
  EXPECT_EQ(pool->AllocBulk(out + 5, 5), 3);
  EXPECT_EQ(pool->stats().exhausted, 1u);
  std::set<uint32_t> distinct(out, out + 8);
  EXPECT_EQ(distinct.size(), 8u);
  pool->FreeBulk(out, 8);
  EXPECT_EQ(pool->available(), 8u);
}

TEST(MbufPool, BuffersDoNotOverlap) {
  auto pool = MakePool(32, 2048);
  ASSERT_NE(pool, nullptr);
  for (uint32_t i = 0; i < 32; ++i) memset(pool->Data(i), static_cast<int>(i + 1), 2048);
  for (uint32_t i = 0; i < 32; ++i) {
    const uint8_t* d = pool->Data(i);
    for (uint32_t j = 0; j < 2048; ++j) ASSERT_EQ(d[j], i + 1) << "buffer " << i << " byte " << j;
  }
}

TEST(MbufPool, RejectsBadOptions) {
  MbufPoolOptions o;
  o.huge_pages = HugePagePolicy::kNever;
  o.buffer_size = 3000;
  EXPECT_EQ(MbufPool::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.buffer_size = 2048;
  o.headroom = 2048;
  EXPECT_EQ(MbufPool::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.headroom = 0;
  o.num_buffers = 0;
  EXPECT_EQ(MbufPool::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Whether hugetlb pages exist depends on the machine: check whichever behaviour applies.
TEST(MbufPool, HugePagePolicy) {
  MbufPoolOptions o;
  o.num_buffers = 1024;  // 2 MiB: one huge page
  o.huge_pages = HugePagePolicy::kRequire;
  const uint64_t free_before = FreeHugePages2M();
  absl::StatusOr<std::unique_ptr<MbufPool>> required = MbufPool::Create(o);
  if (free_before >= 1) {
    ASSERT_TRUE(required.ok()) << required.status();
    EXPECT_TRUE((*required)->huge_pages());
    EXPECT_EQ((*required)->page_kind(), PageKind::kHugeTlb);
    EXPECT_EQ((*required)->mapped_bytes() % (2u << 20), 0u);
    memset((*required)->base(), 0xab, (*required)->region_bytes());
  } else {
    ASSERT_FALSE(required.ok());
    EXPECT_EQ(required.status().code(), absl::StatusCode::kResourceExhausted) << required.status();
    EXPECT_NE(required.status().message().find("MAP_HUGETLB"), absl::string_view::npos);
    o.huge_pages = HugePagePolicy::kTry;
    absl::StatusOr<std::unique_ptr<MbufPool>> fallback = MbufPool::Create(o);
    ASSERT_TRUE(fallback.ok()) << fallback.status();
    EXPECT_EQ((*fallback)->page_kind(), PageKind::kNormal);
    memset((*fallback)->base(), 0xab, (*fallback)->region_bytes());
  }
}

TEST(MbufPool, ShareableRegionIsVisibleThroughItsFd) {
  MbufPoolOptions o;
  o.num_buffers = 16;
  o.huge_pages = HugePagePolicy::kNever;
  o.shareable = true;
  absl::StatusOr<std::unique_ptr<MbufPool>> pool = MbufPool::Create(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_GE((*pool)->fd(), 0);
  const uint32_t b = (*pool)->Alloc();
  strcpy(reinterpret_cast<char*>((*pool)->Data(b) + 7), "through the memfd");
  void* view = mmap(nullptr, (*pool)->region_bytes(), PROT_READ, MAP_SHARED, (*pool)->fd(), 0);
  ASSERT_NE(view, MAP_FAILED);
  EXPECT_STREQ(static_cast<const char*>(view) + (*pool)->Offset(b) + 7, "through the memfd");
  munmap(view, (*pool)->region_bytes());
}

TEST(MbufPoolDeathTest, DoubleFreeAborts) {
  auto pool = MakePool(4);
  ASSERT_NE(pool, nullptr);
  uint32_t b = pool->Alloc();
  pool->Free(b);
  EXPECT_DEATH(pool->Free(b), "not allocated");
  EXPECT_DEATH(pool->Free(99), "out of range");
}

}  // namespace
}  // namespace ix::core

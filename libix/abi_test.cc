// include/ix/abi.h compiled as C++: layouts, limits, and the SPSC ring helpers across two threads.
#include "ix/abi.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <type_traits>

#include "gtest/gtest.h"

namespace {

static_assert(std::is_standard_layout_v<ix_cmd> && std::is_trivially_copyable_v<ix_cmd>);
static_assert(std::is_standard_layout_v<ix_event> && std::is_trivially_copyable_v<ix_event>);
static_assert(std::is_standard_layout_v<ix_qp_header>);
static_assert(alignof(ix_qp_header) == IX_CACHE_LINE);

TEST(AbiTest, Layouts) {
  EXPECT_EQ(sizeof(ix_cmd), 64u);
  EXPECT_EQ(sizeof(ix_event), 64u);
  EXPECT_EQ(offsetof(ix_cmd, len), 32u);
  EXPECT_EQ(offsetof(ix_cmd, iov_cnt), 36u);
  EXPECT_EQ(offsetof(ix_cmd, port), 44u);
  EXPECT_EQ(offsetof(ix_cmd, local_port), 46u);
  EXPECT_EQ(offsetof(ix_event, len), 28u);
  EXPECT_EQ(offsetof(ix_event, remote_port), 44u);
  // Every index on its own cache line.
  EXPECT_EQ(offsetof(ix_qp_header, cmd_prod) % 64, 0u);
  EXPECT_EQ(offsetof(ix_qp_header, cmd_cons) - offsetof(ix_qp_header, cmd_prod), 64u);
  EXPECT_EQ(offsetof(ix_qp_header, ev_prod) - offsetof(ix_qp_header, cmd_cons), 64u);
  EXPECT_EQ(offsetof(ix_qp_header, ev_cons) - offsetof(ix_qp_header, ev_prod), 64u);
  EXPECT_EQ(sizeof(ix_attach_req), 72u);
  EXPECT_EQ(offsetof(ix_attach_req, tx_bytes), 32u);
  EXPECT_EQ(offsetof(ix_attach_resp, qp_bytes), 16u);
}

TEST(AbiTest, ErrorCodesAreSmallAndDistinct) {
  EXPECT_LT(IX_ENOSYS, IX_ERROR_COUNT);
  EXPECT_EQ(IX_OK, 0);
  EXPECT_LT(IX_CMD_TIMER_CANCEL, IX_CMD_OP_COUNT);
  EXPECT_LT(IX_EV_TIMER, IX_EV_TYPE_COUNT);
}

// Every code has its own words, and none is the fallback for codes outside the enum.
TEST(AbiTest, EveryErrorCodeHasDistinctWords) {
  const std::string unknown = ix_strerror(IX_ERROR_COUNT);
  EXPECT_EQ(unknown, ix_strerror(-1));
  EXPECT_EQ(unknown, ix_strerror(1000));
  std::set<std::string> seen;
  for (int e = IX_OK; e < IX_ERROR_COUNT; ++e) {
    const char* text = ix_strerror(e);
    ASSERT_NE(text, nullptr) << e;
    EXPECT_STRNE(text, "") << e;
    EXPECT_NE(text, unknown) << e;
    EXPECT_TRUE(seen.insert(text).second) << e << ": '" << text << "' is used twice";
  }
  EXPECT_EQ(seen.size(), size_t{IX_ERROR_COUNT});
  EXPECT_STREQ(ix_strerror(IX_EPERM), "the port belongs to another application");
}

// A producer thread pushes a million commands through an 8-entry ring; the consumer checks order
// and writes return codes that the producer checks. Exercises acquire/release across cores.
TEST(AbiTest, SpscRingAcrossThreads) {
  constexpr uint32_t kEntries = 8;
  constexpr uint64_t kCount = 200000;
  const size_t bytes = ix_qp_area_bytes(kEntries, kEntries);
  void* mem = std::aligned_alloc(64, bytes);
  ASSERT_NE(mem, nullptr);
  std::memset(mem, 0, bytes);
  auto* h = static_cast<ix_qp_header*>(mem);
  auto* ring = reinterpret_cast<ix_cmd*>(static_cast<char*>(mem) + sizeof(*h));
  uint64_t bad_ret = 0;
  std::thread producer([&] {
    uint32_t prod = 0;
    uint32_t checked = 0;
    for (uint64_t i = 0; i < kCount;) {
      const uint32_t cons = ix_load_acquire(&h->cmd_cons.value);
      // Check return codes of completed slots before reusing them.
      for (; checked != cons; ++checked) {
        if (ix_load_ret(&ring[checked & (kEntries - 1)].ret) != static_cast<int64_t>(checked) * 3) {
          ++bad_ret;
        }
      }
      if (prod - cons == kEntries) continue;
      ix_cmd& c = ring[prod & (kEntries - 1)];
      c.op = IX_CMD_NOP;
      c.cookie = i;
      c.ret = -1;
      ix_store_release(&h->cmd_prod.value, ++prod);
      ++i;
    }
  });
  uint32_t cons = 0;
  uint64_t expect = 0, wrong = 0;
  while (expect < kCount) {
    const uint32_t prod = ix_load_acquire(&h->cmd_prod.value);
    for (; cons != prod; ++cons, ++expect) {
      ix_cmd& c = ring[cons & (kEntries - 1)];
      if (c.cookie != expect) ++wrong;
      ix_store_ret(&c.ret, static_cast<int64_t>(cons) * 3);
      ix_store_release(&h->cmd_cons.value, cons + 1);
    }
  }
  producer.join();
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(bad_ret, 0u);
  std::free(mem);
}

}  // namespace

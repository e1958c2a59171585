// Unit tests for counters.h: each Drop maps to exactly one distinct counter and name.
#include "dataplane/net/counters.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace ix::net {
namespace {

uint64_t Total(const NetCounters& c) {
  uint64_t total = 0;
  ForEachNetCounter(c, [&](absl::string_view, uint64_t v) { total += v; });
  return total;
}

TEST(CountersTest, EveryDropIncrementsExactlyOneDistinctCounter) {
  std::set<std::string> names;
  for (size_t i = 1; i <= kNumDrops; ++i) {
    const auto drop = static_cast<Drop>(i);
    NetCounters c;
    CountDrop(&c, drop);
    EXPECT_EQ(Total(c), 1u) << DropName(drop);
    int nonzero = 0;
    ForEachNetCounter(c, [&](absl::string_view name, uint64_t v) {
      if (v != 0) {
        ++nonzero;
        EXPECT_EQ(name, DropName(drop));
      }
    });
    EXPECT_EQ(nonzero, 1);
    EXPECT_EQ(*CounterFor(&c, drop), 1u);
    names.insert(std::string(DropName(drop)));
    EXPECT_NE(DropDescription(drop), "unknown");
  }
  EXPECT_EQ(names.size(), kNumDrops);
}

TEST(CountersTest, NoneCountsNothing) {
  NetCounters c;
  CountDrop(&c, Drop::kNone);
  EXPECT_EQ(Total(c), 0u);
  EXPECT_EQ(CounterFor(&c, Drop::kNone), nullptr);
  EXPECT_EQ(DropName(Drop::kNone), "none");
}

TEST(CountersTest, VisitsEveryFieldOnceAndAdds) {
  NetCounters a;
  a.ip_bad_checksum = 3;
  a.arp_queue_full = 2;
  NetCounters b;
  b.ip_bad_checksum = 1;
  b.udp_truncated = 5;
  a += b;
  EXPECT_EQ(a.ip_bad_checksum, 4u);
  EXPECT_EQ(a.arp_queue_full, 2u);
  EXPECT_EQ(a.udp_truncated, 5u);
  size_t visited = 0;
  ForEachNetCounter(a, [&](absl::string_view, uint64_t) { ++visited; });
  EXPECT_EQ(visited, kNumDrops);
  EXPECT_EQ(Total(a), 11u);
  EXPECT_FALSE(a == b);
}

}  // namespace
}  // namespace ix::net

// Tests for MemPair: clean delivery, each fault kind in deterministic mode, seeded random mode,
// on-demand injection, and the limits (receiver pool empty, wire full, oversize frames).
#include "dataplane/nic/mem_pair.h"

#include <cstring>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace ix::nic {
namespace {

std::unique_ptr<core::MbufPool> MakePool(uint32_t n, uint32_t size = 2048,
                                         uint32_t headroom = 256) {
  core::MbufPoolOptions o;
  o.num_buffers = n;
  o.buffer_size = size;
  o.headroom = headroom;
  o.huge_pages = core::HugePagePolicy::kNever;
  auto pool = core::MbufPool::Create(o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return std::move(*pool);
}

// A test frame: 4-byte sequence number then bytes derived from it.
std::vector<uint8_t> FrameBytes(uint32_t seq, size_t len = 100) {
  std::vector<uint8_t> b(len);
  memcpy(b.data(), &seq, 4);
  for (size_t i = 4; i < len; ++i) b[i] = static_cast<uint8_t>(seq * 13 + i);
  return b;
}

class MemPairTest : public ::testing::Test {
 protected:
  MemPairTest() : pool_a_(MakePool(512)), pool_b_(MakePool(512)) {}

  void MakePair(uint64_t seed = 1, uint32_t capacity = 4096) {
    pair_ = std::make_unique<MemPair>(pool_a_.get(), pool_b_.get(), seed, capacity);
  }

  // Sends frames with the given sequence numbers from `from`; returns how many were accepted.
  int Send(Queue& from, uint32_t first, uint32_t count, size_t len = 100) {
    std::vector<Packet> pkts;
    for (uint32_t s = first; s < first + count; ++s) {
      const uint32_t b = from.pool().Alloc();
      EXPECT_NE(b, core::MbufPool::kNoBuffer);
      const std::vector<uint8_t> bytes = FrameBytes(s, len);
      const uint16_t off = static_cast<uint16_t>(from.pool().headroom());
      memcpy(from.pool().Data(b) + off, bytes.data(), len);
      pkts.push_back(Packet{b, off, static_cast<uint16_t>(len)});
    }
    const int accepted = from.TxBurst(pkts.data(), static_cast<int>(pkts.size()));
    for (size_t i = static_cast<size_t>(accepted); i < pkts.size(); ++i)
      from.pool().Free(pkts[i].buf);
    return accepted;
  }

  // One RxBurst; returns the frames' bytes and frees the buffers.
  std::vector<std::vector<uint8_t>> ReceiveOnce(Queue& to, int max = 64) {
    std::vector<Packet> pkts(static_cast<size_t>(max));
    const int n = to.RxBurst(pkts.data(), max);
    std::vector<std::vector<uint8_t>> out;
    for (int i = 0; i < n; ++i) {
      const uint8_t* d = PacketData(to.pool(), pkts[i]);
      out.emplace_back(d, d + pkts[i].len);
      to.pool().Free(pkts[i].buf);
    }
    return out;
  }

  static std::vector<uint32_t> Seqs(const std::vector<std::vector<uint8_t>>& frames) {
    std::vector<uint32_t> s;
    for (const auto& f : frames) {
      uint32_t v;
      memcpy(&v, f.data(), 4);
      s.push_back(v);
    }
    return s;
  }

  std::vector<uint32_t> ReceiveSeqs(Queue& to) { return Seqs(ReceiveOnce(to)); }

  std::unique_ptr<core::MbufPool> pool_a_, pool_b_;
  std::unique_ptr<MemPair> pair_;
};

TEST_F(MemPairTest, DeliversInOrderAndCopiesBytes) {
  MakePair();
  ASSERT_EQ(Send(pair_->a(), 1, 10, 300), 10);
  EXPECT_EQ(pool_a_->in_use(), 0u);  // TX completes at once: the sender's buffers are back
  EXPECT_EQ(pair_->in_flight(Direction::kAToB), 10u);
  auto frames = ReceiveOnce(pair_->b());
  ASSERT_EQ(frames.size(), 10u);
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(frames[i], FrameBytes(i + 1, 300));
  EXPECT_EQ(pool_b_->in_use(), 0u);
  EXPECT_EQ(pair_->counters(Direction::kAToB).sent, 10u);
  EXPECT_EQ(pair_->counters(Direction::kAToB).delivered, 10u);
  EXPECT_EQ(pair_->a().stats().tx_packets, 10u);
  EXPECT_EQ(pair_->a().stats().tx_completed, 10u);
  EXPECT_EQ(pair_->b().stats().rx_packets, 10u);
  EXPECT_EQ(pair_->b().stats().rx_bytes, 3000u);
  // The other direction is independent and empty.
  EXPECT_TRUE(ReceiveOnce(pair_->a()).empty());
  ASSERT_EQ(Send(pair_->b(), 100, 2), 2);
  EXPECT_EQ(ReceiveSeqs(pair_->a()), std::vector<uint32_t>({100, 101}));
}

TEST_F(MemPairTest, ReceivedFrameStartsAtPoolHeadroom) {
  MakePair();
  ASSERT_EQ(Send(pair_->a(), 7, 1), 1);
  Packet p;
  ASSERT_EQ(pair_->b().RxBurst(&p, 1), 1);
  EXPECT_EQ(p.data_off, pool_b_->headroom());
  EXPECT_EQ(p.len, 100);
  EXPECT_TRUE(pool_b_->IsAllocated(p.buf));
  pool_b_->Free(p.buf);
}

TEST_F(MemPairTest, DeterministicDrop) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.drop.every = 3;
  pair_->SetFaults(Direction::kAToB, f);
  ASSERT_EQ(Send(pair_->a(), 1, 10), 10);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 4, 5, 7, 8, 10}));
  EXPECT_EQ(pair_->counters(Direction::kAToB).dropped, 3u);
  EXPECT_EQ(pool_a_->in_use(), 0u);  // dropped frames' buffers were freed too
}

TEST_F(MemPairTest, DeterministicDuplicate) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.duplicate.every = 4;
  pair_->SetFaults(Direction::kAToB, f);
  ASSERT_EQ(Send(pair_->a(), 1, 8), 8);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 3, 4, 4, 5, 6, 7, 8, 8}));
  EXPECT_EQ(pair_->counters(Direction::kAToB).duplicated, 2u);
  EXPECT_EQ(pair_->counters(Direction::kAToB).delivered, 10u);
}

TEST_F(MemPairTest, DeterministicCorruptFlipsExactlyTheAskedBytesPastTheOffset) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.corrupt.every = 2;
  f.corrupt_bytes = 3;
  f.corrupt_min_offset = 14;
  pair_->SetFaults(Direction::kAToB, f);
  ASSERT_EQ(Send(pair_->a(), 1, 6, 64), 6);
  auto frames = ReceiveOnce(pair_->b());
  ASSERT_EQ(frames.size(), 6u);
  for (uint32_t i = 0; i < 6; ++i) {
    const std::vector<uint8_t> want = FrameBytes(i + 1, 64);
    int diffs = 0;
    for (size_t k = 0; k < 64; ++k) {
      if (frames[i][k] != want[k]) {
        ++diffs;
        EXPECT_GE(k, 14u);
        EXPECT_EQ(frames[i][k], want[k] ^ 0xff);
      }
    }
    EXPECT_EQ(diffs, (i + 1) % 2 == 0 ? 3 : 0) << "frame " << i + 1;
  }
  EXPECT_EQ(pair_->counters(Direction::kAToB).corrupted, 3u);
}

TEST_F(MemPairTest, DuplicateOfACorruptedFrameIsClean) {
  MakePair();
  pair_->Inject(Direction::kAToB, Fault::kDuplicate, 1);
  pair_->Inject(Direction::kAToB, Fault::kCorrupt, 1);
  ASSERT_EQ(Send(pair_->a(), 5, 1), 1);
  auto frames = ReceiveOnce(pair_->b());
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0], FrameBytes(5));
  EXPECT_EQ(frames[1], FrameBytes(5));
}

TEST_F(MemPairTest, DelayByPolls) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.delay.every = 1;  // only while we say so: reset below
  f.delay_polls = 3;
  pair_->SetFaults(Direction::kAToB, f);
  ASSERT_EQ(Send(pair_->a(), 1, 1), 1);
  pair_->SetFaults(Direction::kAToB, LinkFaults{});
  ASSERT_EQ(Send(pair_->a(), 2, 2), 2);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({2, 3}));  // poll 1: frame 1 skipped
  EXPECT_TRUE(ReceiveSeqs(pair_->b()).empty());                       // poll 2
  EXPECT_TRUE(ReceiveSeqs(pair_->b()).empty());                       // poll 3
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1}));     // poll 4
  EXPECT_EQ(pair_->counters(Direction::kAToB).delayed, 1u);
}

TEST_F(MemPairTest, DelayByTime) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.delay.every = 2;
  f.delay_polls = 0;
  f.delay_ns = 1'000'000;
  pair_->SetFaults(Direction::kAToB, f);
  pair_->SetNowNs(5'000'000);
  ASSERT_EQ(Send(pair_->a(), 1, 4), 4);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 3}));
  pair_->SetNowNs(5'999'999);
  EXPECT_TRUE(ReceiveSeqs(pair_->b()).empty());
  pair_->SetNowNs(6'000'000);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({2, 4}));
}

TEST_F(MemPairTest, ReorderPutsTheFrameBehindTheGap) {
  MakePair();
  LinkFaults f;
  f.deterministic = true;
  f.reorder.every = 5;
  f.reorder_gap = 2;
  pair_->SetFaults(Direction::kAToB, f);
  ASSERT_EQ(Send(pair_->a(), 1, 10), 10);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 3, 4, 6, 7, 5, 8, 9}));
  // Frame 10 waits for two later frames; none come, so it is released after reorder_max_polls.
  for (uint32_t i = 1; i < f.reorder_max_polls - 1; ++i)
    EXPECT_TRUE(ReceiveSeqs(pair_->b()).empty());
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({10}));
  EXPECT_EQ(pair_->counters(Direction::kAToB).reordered, 2u);
}

TEST_F(MemPairTest, ReorderAcrossBursts) {
  MakePair();
  pair_->Inject(Direction::kAToB, Fault::kReorder, 1);
  ASSERT_EQ(Send(pair_->a(), 1, 1), 1);
  EXPECT_TRUE(ReceiveSeqs(pair_->b()).empty());  // held
  ASSERT_EQ(Send(pair_->a(), 2, 1), 1);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({2, 1}));
}

TEST_F(MemPairTest, InjectOnDemandHitsExactlyTheNextFrames) {
  MakePair();
  ASSERT_EQ(Send(pair_->a(), 1, 2), 2);
  pair_->Inject(Direction::kAToB, Fault::kDrop, 2);
  ASSERT_EQ(Send(pair_->a(), 3, 4), 4);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 5, 6}));
  EXPECT_EQ(pair_->counters(Direction::kAToB).dropped, 2u);
  // The other direction was not touched.
  ASSERT_EQ(Send(pair_->b(), 1, 2), 2);
  EXPECT_EQ(ReceiveSeqs(pair_->a()), std::vector<uint32_t>({1, 2}));
}

// Random mode: the same seed gives the same faults; rates come out near what was asked.
TEST_F(MemPairTest, RandomModeIsReproducibleFromTheSeed) {
  LinkFaults f;
  f.drop.rate = 0.1;
  f.duplicate.rate = 0.05;
  f.corrupt.rate = 0.05;
  f.reorder.rate = 0.05;
  f.delay.rate = 0.05;
  f.delay_polls = 2;
  auto run = [&](uint64_t seed) {
    MakePair(seed);
    pair_->SetFaults(Direction::kAToB, f);
    std::vector<std::vector<uint8_t>> all;
    for (uint32_t batch = 0; batch < 50; ++batch) {
      EXPECT_EQ(Send(pair_->a(), batch * 20, 20), 20);
      auto got = ReceiveOnce(pair_->b(), 64);
      all.insert(all.end(), got.begin(), got.end());
    }
    for (int i = 0; i < 40; ++i) {
      auto got = ReceiveOnce(pair_->b(), 64);
      all.insert(all.end(), got.begin(), got.end());
    }
    EXPECT_EQ(pair_->in_flight(Direction::kAToB), 0u);
    return std::make_pair(all, pair_->counters(Direction::kAToB));
  };
  auto [frames1, c1] = run(42);
  auto [frames2, c2] = run(42);
  auto [frames3, c3] = run(43);
  EXPECT_EQ(frames1, frames2);
  EXPECT_EQ(c1.dropped, c2.dropped);
  EXPECT_EQ(c1.reordered, c2.reordered);
  EXPECT_NE(frames1, frames3);
  // 1000 frames: expect ~100 drops and ~50 of each other fault (loose 5-sigma-ish bounds).
  EXPECT_GT(c1.dropped, 50u);
  EXPECT_LT(c1.dropped, 150u);
  for (uint64_t v : {c1.duplicated, c1.corrupted, c1.reordered, c1.delayed}) {
    EXPECT_GT(v, 15u);
    EXPECT_LT(v, 95u);
  }
  EXPECT_EQ(c1.delivered, c1.sent - c1.dropped + c1.duplicated);
  EXPECT_EQ(frames1.size(), c1.delivered);
}

TEST_F(MemPairTest, EmptyReceiverPoolDropsAndCounts) {
  pool_b_ = MakePool(4);
  MakePair();
  ASSERT_EQ(Send(pair_->a(), 1, 10), 10);
  std::vector<Packet> pkts(32);
  EXPECT_EQ(pair_->b().RxBurst(pkts.data(), 32), 4);
  EXPECT_EQ(pair_->counters(Direction::kAToB).no_buffer, 6u);
  EXPECT_EQ(pair_->b().stats().rx_no_buffer, 6u);
  EXPECT_EQ(pair_->b().stats().rx_dropped, 6u);
  EXPECT_EQ(pool_b_->stats().exhausted, 6u);
  for (int i = 0; i < 4; ++i) pool_b_->Free(pkts[i].buf);
}

TEST_F(MemPairTest, FullWireAcceptsAPrefix) {
  MakePair(1, /*capacity=*/4);
  EXPECT_EQ(Send(pair_->a(), 1, 6), 4);
  EXPECT_EQ(pair_->counters(Direction::kAToB).wire_full, 1u);
  EXPECT_EQ(pair_->a().stats().tx_ring_full, 1u);
  EXPECT_EQ(pool_a_->in_use(), 0u);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 3, 4}));
}

TEST_F(MemPairTest, OversizeFrameIsDropped) {
  pool_b_ = MakePool(8, 256, 128);  // room for 128-byte frames only
  MakePair();
  ASSERT_EQ(Send(pair_->a(), 1, 1, 128), 1);
  ASSERT_EQ(Send(pair_->a(), 2, 1, 129), 1);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1}));
  EXPECT_EQ(pair_->counters(Direction::kAToB).oversize, 1u);
}

TEST_F(MemPairTest, BothEndsMayShareOnePool) {
  pair_ = std::make_unique<MemPair>(pool_a_.get(), pool_a_.get());
  ASSERT_EQ(Send(pair_->a(), 1, 3), 3);
  ASSERT_EQ(Send(pair_->b(), 9, 1), 1);
  EXPECT_EQ(ReceiveSeqs(pair_->b()), std::vector<uint32_t>({1, 2, 3}));
  EXPECT_EQ(ReceiveSeqs(pair_->a()), std::vector<uint32_t>({9}));
  EXPECT_EQ(pool_a_->in_use(), 0u);
}

}  // namespace
}  // namespace ix::nic

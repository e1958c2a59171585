// Unit tests for ipv4_reasm.h: completion in any order, every drop of the policy with its one
// counter, the limits (datagrams, memory, fragments, output area, timeout) and a seeded flood of
// hostile fragments around legitimate datagrams.
#include "dataplane/net/ipv4_reasm.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/wire.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1000 * kMs;
constexpr Ipv4Address kSrc = 0x0a000002;
constexpr Ipv4Address kDst = 0x0a000001;

struct Key {
  Ipv4Address src = kSrc;
  Ipv4Address dst = kDst;
  uint8_t protocol = kIpProtoUdp;
  uint16_t id = 1;
};

struct Opts {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  size_t options_len = 0;  // a multiple of 4, up to 40 (NOPs)
};

// The bytes of one fragment: `data` at payload offset `offset` (a multiple of 8), MF as given.
std::vector<uint8_t> FragmentBytes(const Key& k, uint32_t offset, bool mf,
                                   const std::vector<uint8_t>& data, const Opts& o = {}) {
  const size_t hl = kIpv4HeaderLen + o.options_len;
  std::vector<uint8_t> b(hl + data.size(), 1);  // options: NOPs
  const Ipv4Header h{
      .src = k.src, .dst = k.dst, .protocol = k.protocol, .ttl = o.ttl, .tos = o.tos, .id = k.id};
  if (BuildIpv4Header(absl::MakeSpan(b), h, hl - kIpv4HeaderLen + data.size()) == 0) abort();
  b[0] = static_cast<uint8_t>(0x40 | (hl / 4));
  StoreBe16(&b[6], static_cast<uint16_t>((mf ? 0x2000 : 0) | (offset / 8)));
  StoreBe16(&b[10], 0);
  StoreBe16(&b[10], ntohs(InternetChecksum(absl::MakeConstSpan(b.data(), hl))));
  std::copy(data.begin(), data.end(), b.begin() + static_cast<ptrdiff_t>(hl));
  return b;
}

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i * 7 + i / 251);
  return v;
}

struct Piece {
  uint32_t offset;
  bool mf;
  std::vector<uint8_t> data;
};

// `payload` cut into pieces of `piece` bytes (a multiple of 8), the last one shorter.
std::vector<Piece> Cut(const std::vector<uint8_t>& payload, size_t piece) {
  std::vector<Piece> out;
  for (size_t off = 0; off < payload.size(); off += piece) {
    const size_t n = std::min(piece, payload.size() - off);
    out.push_back({static_cast<uint32_t>(off), off + n < payload.size(),
                   std::vector<uint8_t>(payload.begin() + static_cast<ptrdiff_t>(off),
                                        payload.begin() + static_cast<ptrdiff_t>(off + n))});
  }
  return out;
}

std::vector<uint8_t> Bytes(absl::Span<const uint8_t> s) { return {s.begin(), s.end()}; }

// `w` is exactly what ParseIpv4 gives for the unfragmented datagram carrying `payload`.
void ExpectWhole(const Ipv4Packet& w, const Key& k, const std::vector<uint8_t>& payload,
                 uint8_t ttl = 64, uint8_t tos = 0) {
  EXPECT_EQ(w.src, k.src);
  EXPECT_EQ(w.dst, k.dst);
  EXPECT_EQ(w.protocol, k.protocol);
  EXPECT_EQ(w.id, k.id);
  EXPECT_EQ(w.ttl, ttl);
  EXPECT_EQ(w.tos, tos);
  EXPECT_FALSE(w.IsFragment());
  EXPECT_FALSE(w.dont_fragment);
  EXPECT_EQ(w.header_len, kIpv4HeaderLen);
  EXPECT_TRUE(w.options.empty());
  ASSERT_EQ(w.header.size(), kIpv4HeaderLen);
  EXPECT_EQ(LoadBe16(w.header.data() + 2), kIpv4HeaderLen + payload.size());
  EXPECT_EQ(LoadBe16(w.header.data() + 6), 0u);  // no flags, offset 0
  EXPECT_EQ(InternetChecksum(w.header), 0);
  EXPECT_EQ(w.payload.data(), w.header.data() + kIpv4HeaderLen);
  EXPECT_TRUE(Bytes(w.payload) == payload) << "payload differs, size " << w.payload.size();
  Ipv4Packet again;
  ASSERT_EQ(ParseIpv4(absl::MakeConstSpan(w.header.data(), kIpv4HeaderLen + payload.size()),
                      &again),
            Drop::kNone);
  EXPECT_EQ(again.payload.size(), payload.size());
}

class ReasmTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }

  void Make(const Ipv4ReasmConfig& c) {
    reasm_.reset();
    absl::StatusOr<Ipv4Reassembler> r = Ipv4Reassembler::Create(c, &counters_);
    ASSERT_TRUE(r.ok()) << r.status();
    reasm_.emplace(*std::move(r));
  }

  // Adds one fragment, then scribbles over its bytes: the reassembler must have copied them.
  ReasmResult Feed(const Key& k, uint32_t offset, bool mf, const std::vector<uint8_t>& data,
                   uint64_t now_ns = 0, const Opts& o = {}) {
    std::vector<uint8_t> b = FragmentBytes(k, offset, mf, data, o);
    Ipv4Packet ip;
    EXPECT_EQ(ParseIpv4(b, &ip), Drop::kNone);
    const ReasmResult r = reasm_->Add(ip, now_ns, &whole_);
    std::fill(b.begin(), b.end(), 0xee);
    return r;
  }
  ReasmResult Feed(const Key& k, const Piece& p, uint64_t now_ns = 0) {
    return Feed(k, p.offset, p.mf, p.data, now_ns);
  }

  // Feeds pieces[order[i]]: all but the last must be held; returns the last result.
  ReasmResult FeedAll(const Key& k, const std::vector<Piece>& pieces,
                      const std::vector<size_t>& order, uint64_t now_ns = 0) {
    for (size_t i = 0; i + 1 < order.size(); ++i) {
      EXPECT_EQ(Feed(k, pieces[order[i]], now_ns), ReasmResult::kHeld) << "piece " << order[i];
    }
    return Feed(k, pieces[order.back()], now_ns);
  }

  // Since `before`: counter `d` up by `n`, every other one unchanged.
  void ExpectCounted(NetCounters before, Drop d, uint64_t n = 1) {
    for (size_t i = 1; i <= kNumDrops; ++i) {
      const auto x = static_cast<Drop>(i);
      EXPECT_EQ(*CounterFor(&counters_, x) - *CounterFor(&before, x), x == d ? n : 0)
          << DropName(x);
    }
  }
  void ExpectNothingCounted() { EXPECT_EQ(counters_, NetCounters{}); }

  void ExpectEmpty() {
    EXPECT_EQ(reasm_->datagrams(), 0u);
    EXPECT_EQ(reasm_->bytes_held(), 0u);
    EXPECT_EQ(reasm_->NextDeadline(), Ipv4Reassembler::kNoDeadline);
  }

  NetCounters counters_;
  std::optional<Ipv4Reassembler> reasm_;
  Ipv4Packet whole_;
};

std::vector<size_t> InOrder(size_t n) {
  std::vector<size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// --- Create ---

TEST(ReasmCreateTest, AcceptsDefaultsAndBoundsRejectsOutOfRange) {
  NetCounters c;
  auto ok = [&](Ipv4ReasmConfig cfg) { return Ipv4Reassembler::Create(cfg, &c).status(); };
  EXPECT_TRUE(ok({}).ok());
  struct Case {
    uint32_t Ipv4ReasmConfig::*field;
    uint32_t lo, hi;
  };
  for (const Case& k : {Case{&Ipv4ReasmConfig::max_datagrams, 1, 1024},
                        Case{&Ipv4ReasmConfig::max_bytes, 1024, 64 << 20},
                        Case{&Ipv4ReasmConfig::max_fragments, 2, 1024},
                        Case{&Ipv4ReasmConfig::output_bytes, 65535, 64 << 20}}) {
    Ipv4ReasmConfig cfg;
    cfg.*k.field = k.lo;
    EXPECT_TRUE(ok(cfg).ok()) << k.lo;
    cfg.*k.field = k.hi;
    EXPECT_TRUE(ok(cfg).ok()) << k.hi;
    cfg.*k.field = k.lo - 1;
    EXPECT_EQ(ok(cfg).code(), absl::StatusCode::kInvalidArgument) << k.lo - 1;
    cfg.*k.field = k.hi + 1;
    EXPECT_EQ(ok(cfg).code(), absl::StatusCode::kInvalidArgument) << k.hi + 1;
  }
  Ipv4ReasmConfig cfg;
  cfg.timeout_ns = kMs;
  EXPECT_TRUE(ok(cfg).ok());
  cfg.timeout_ns = 3600 * kSec;
  EXPECT_TRUE(ok(cfg).ok());
  cfg.timeout_ns = kMs - 1;
  EXPECT_EQ(ok(cfg).code(), absl::StatusCode::kInvalidArgument);
  cfg.timeout_ns = 3600 * kSec + 1;
  EXPECT_EQ(ok(cfg).code(), absl::StatusCode::kInvalidArgument);
  cfg = {};
  cfg.max_datagrams = 0;  // "off" is the caller's business: it creates no reassembler
  EXPECT_EQ(ok(cfg).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ipv4Reassembler::Create({}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReasmCreateTest, MemoryIsRoundedDownToWholeBlocks) {
  NetCounters c;
  Ipv4ReasmConfig cfg;
  cfg.max_bytes = 2047;
  absl::StatusOr<Ipv4Reassembler> r = Ipv4Reassembler::Create(cfg, &c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->capacity_bytes(), 1024u);
  EXPECT_EQ(r->bytes_held(), 0u);
  EXPECT_EQ(r->datagrams(), 0u);
  EXPECT_EQ(r->NextDeadline(), Ipv4Reassembler::kNoDeadline);
  EXPECT_EQ(Ipv4Reassembler::Create({}, &c)->capacity_bytes(), 256u * 1024);
}

// --- completion ---

TEST_F(ReasmTest, InOrderCompletes) {
  const Key k;
  const std::vector<uint8_t> payload = Pattern(4000, 1);
  const std::vector<Piece> pieces = Cut(payload, 1480);
  ASSERT_EQ(pieces.size(), 3u);
  ASSERT_EQ(FeedAll(k, pieces, InOrder(3)), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
  ExpectNothingCounted();
  ExpectEmpty();
  EXPECT_EQ(reasm_->output_in_use(), kIpv4HeaderLen + payload.size());
}

TEST_F(ReasmTest, ReverseOrderCompletes) {
  const Key k{.protocol = kIpProtoTcp, .id = 0xbeef};
  const std::vector<uint8_t> payload = Pattern(3001, 2);
  const std::vector<Piece> pieces = Cut(payload, 512);
  std::vector<size_t> order = InOrder(pieces.size());
  std::reverse(order.begin(), order.end());
  ASSERT_EQ(FeedAll(k, pieces, order), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
  ExpectNothingCounted();
  ExpectEmpty();
}

TEST_F(ReasmTest, RandomOrdersAndSizesComplete) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    const Key k{.id = static_cast<uint16_t>(round)};
    const size_t size = 1 + rng() % 20000;
    const size_t piece = 8 * (1 + rng() % 300);
    const std::vector<uint8_t> payload = Pattern(size, round);
    const std::vector<Piece> pieces = Cut(payload, piece);
    if (pieces.size() > 64) continue;  // max_fragments
    std::vector<size_t> order = InOrder(pieces.size());
    std::shuffle(order.begin(), order.end(), rng);
    ASSERT_EQ(FeedAll(k, pieces, order, round * kMs), ReasmResult::kComplete) << round;
    ExpectWhole(whole_, k, payload);
    reasm_->Release();
  }
  ExpectNothingCounted();
  ExpectEmpty();
}

TEST_F(ReasmTest, TtlAndTosComeFromTheFirstFragmentAndOptionsAreDropped) {
  const Key k;
  const std::vector<uint8_t> payload = Pattern(24, 3);
  EXPECT_EQ(Feed(k, 16, false, {payload.begin() + 16, payload.end()}, 0, {.ttl = 9, .tos = 9}),
            ReasmResult::kHeld);
  EXPECT_EQ(Feed(k, 0, true, {payload.begin(), payload.begin() + 8}, 0,
                 {.ttl = 33, .tos = 0x2e, .options_len = 8}),
            ReasmResult::kHeld);
  EXPECT_EQ(Feed(k, 8, true, {payload.begin() + 8, payload.begin() + 16}, 0,
                 {.ttl = 200, .tos = 1, .options_len = 40}),
            ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload, 33, 0x2e);
}

TEST_F(ReasmTest, DatagramsAreKeyedBySrcDstProtocolAndId) {
  const std::vector<Key> keys = {Key{}, Key{.src = kSrc + 1}, Key{.dst = kDst + 1},
                                 Key{.protocol = kIpProtoIcmp}, Key{.id = 2}};
  std::vector<std::vector<uint8_t>> payloads;
  for (size_t i = 0; i < keys.size(); ++i) {
    payloads.push_back(Pattern(100, static_cast<uint32_t>(i)));
    EXPECT_EQ(Feed(keys[i], 0, true, {payloads[i].begin(), payloads[i].begin() + 64}),
              ReasmResult::kHeld);
  }
  EXPECT_EQ(reasm_->datagrams(), keys.size());
  for (size_t i = keys.size(); i-- > 0;) {
    ASSERT_EQ(Feed(keys[i], 64, false, {payloads[i].begin() + 64, payloads[i].end()}),
              ReasmResult::kComplete);
    ExpectWhole(whole_, keys[i], payloads[i]);
  }
  ExpectNothingCounted();
  ExpectEmpty();
}

TEST_F(ReasmTest, LargestDatagramCompletesOneByteMoreIsTooLong) {
  const Key k;
  const std::vector<uint8_t> payload = Pattern(Ipv4Reassembler::kMaxPayload, 4);
  const std::vector<Piece> pieces = Cut(payload, 1480);
  std::vector<size_t> order = InOrder(pieces.size());
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  ASSERT_EQ(FeedAll(k, pieces, order), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
  EXPECT_EQ(reasm_->output_in_use(), kIpv4MaxTotalLen);
  reasm_->Release();

  // 65516 bytes: the last fragment ends one byte too far.
  const Key k2{.id = 2};
  const std::vector<uint8_t> big = Pattern(Ipv4Reassembler::kMaxPayload + 1, 5);
  const std::vector<Piece> big_pieces = Cut(big, 1480);
  for (size_t i = 0; i + 1 < big_pieces.size(); ++i) {
    EXPECT_EQ(Feed(k2, big_pieces[i]), ReasmResult::kHeld);
  }
  const NetCounters before = counters_;
  EXPECT_EQ(Feed(k2, big_pieces.back()), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTooLong);
  EXPECT_EQ(reasm_->datagrams(), 1u);  // only the fragment was dropped
}

// --- drops of single fragments ---

TEST_F(ReasmTest, BadLengthFragmentsAreDropped) {
  const Key k;
  NetCounters before = counters_;
  EXPECT_EQ(Feed(k, 0, true, Pattern(12, 0)), ReasmResult::kDropped);  // not a multiple of 8
  ExpectCounted(before, Drop::kIpReasmBadLength);
  before = counters_;
  EXPECT_EQ(Feed(k, 8, true, {}), ReasmResult::kDropped);  // empty, not last
  ExpectCounted(before, Drop::kIpReasmBadLength);
  before = counters_;
  EXPECT_EQ(Feed(k, 8, false, {}), ReasmResult::kDropped);  // empty last
  ExpectCounted(before, Drop::kIpReasmBadLength);
  ExpectEmpty();  // nothing was opened for them

  // A held datagram keeps going after a bad fragment of it.
  EXPECT_EQ(Feed(k, 0, true, Pattern(8, 0)), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(k, 8, true, Pattern(9, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmBadLength);
  EXPECT_EQ(reasm_->datagrams(), 1u);
  EXPECT_EQ(Feed(k, 8, false, Pattern(9, 0)), ReasmResult::kComplete);  // last: any length
}

TEST_F(ReasmTest, FragmentsEndingPastTheMaximumAreTooLong) {
  const Key k;
  NetCounters before = counters_;
  EXPECT_EQ(Feed(k, 65512, true, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTooLong);
  before = counters_;
  EXPECT_EQ(Feed(k, 65528, false, Pattern(1, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTooLong);
  before = counters_;
  EXPECT_EQ(Feed(k, 8, false, Pattern(65508, 0)), ReasmResult::kDropped);  // ends at 65516
  ExpectCounted(before, Drop::kIpReasmTooLong);
  ExpectEmpty();
  EXPECT_EQ(Feed(k, 65512, false, Pattern(3, 0)), ReasmResult::kHeld);  // ends at 65515
}

TEST_F(ReasmTest, ExactDuplicateIsDroppedDatagramKept) {
  const Key k;
  const std::vector<uint8_t> payload = Pattern(40, 6);
  const std::vector<Piece> pieces = Cut(payload, 16);  // [0,16) [16,32) [32,40)
  EXPECT_EQ(Feed(k, pieces[1]), ReasmResult::kHeld);
  NetCounters before = counters_;
  EXPECT_EQ(Feed(k, pieces[1]), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmDuplicate);
  EXPECT_EQ(Feed(k, pieces[2]), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(k, pieces[2]), ReasmResult::kDropped);  // the last one repeated
  ExpectCounted(before, Drop::kIpReasmDuplicate);
  EXPECT_EQ(reasm_->datagrams(), 1u);
  EXPECT_EQ(Feed(k, pieces[0]), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
  EXPECT_EQ(counters_.ip_reasm_duplicate, 2u);
  ExpectEmpty();
}

// --- drops that discard the datagram ---

TEST_F(ReasmTest, OverlapDiscardsTheDatagram) {
  const Key k;
  struct Case {
    uint32_t held_offset;
    size_t held_len;
    uint32_t offset;
    size_t len;
    bool mf;
  };
  for (const Case& c : {Case{16, 16, 24, 16, true},   // overlaps the end
                        Case{16, 16, 8, 16, true},    // overlaps the start
                        Case{16, 16, 8, 32, true},    // covers it
                        Case{16, 32, 24, 8, true},    // inside it
                        Case{16, 16, 16, 24, true},   // same start, longer
                        Case{16, 16, 24, 19, false}}) {  // a last one over the end
    EXPECT_EQ(Feed(k, 0, true, Pattern(8, 0)), ReasmResult::kHeld);
    EXPECT_EQ(Feed(k, c.held_offset, true, Pattern(c.held_len, 0)), ReasmResult::kHeld);
    const NetCounters before = counters_;
    EXPECT_EQ(Feed(k, c.offset, c.mf, Pattern(c.len, 0)), ReasmResult::kDropped) << c.offset;
    ExpectCounted(before, Drop::kIpReasmOverlap);  // once, not per held fragment
    ExpectEmpty();
  }
  // The next fragment with that key starts a new datagram.
  EXPECT_EQ(Feed(k, 8, false, Pattern(8, 0)), ReasmResult::kHeld);
  EXPECT_EQ(reasm_->datagrams(), 1u);
}

TEST_F(ReasmTest, InconsistentEndsDiscardTheDatagram) {
  const Key k;
  // Two last fragments with different ends.
  EXPECT_EQ(Feed(k, 16, false, Pattern(8, 0)), ReasmResult::kHeld);
  NetCounters before = counters_;
  EXPECT_EQ(Feed(k, 32, false, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmBadEnd);
  ExpectEmpty();
  // A last fragment ending before bytes already held.
  EXPECT_EQ(Feed(k, 32, true, Pattern(8, 0)), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(k, 8, false, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmBadEnd);
  ExpectEmpty();
  // A fragment ending past the last fragment's end.
  EXPECT_EQ(Feed(k, 16, false, Pattern(8, 0)), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(k, 24, true, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmBadEnd);
  ExpectEmpty();
  // Same offset and length as a held fragment but now claiming to be the last, with more held
  // after it: its end contradicts the held bytes.
  EXPECT_EQ(Feed(k, 0, true, Pattern(8, 0)), ReasmResult::kHeld);
  EXPECT_EQ(Feed(k, 16, true, Pattern(8, 0)), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(k, 0, false, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmBadEnd);
  ExpectEmpty();
}

TEST_F(ReasmTest, TooManyFragmentsDiscardsTheDatagram) {
  Ipv4ReasmConfig cfg;
  cfg.max_fragments = 4;
  ASSERT_NO_FATAL_FAILURE(Make(cfg));
  const Key k;
  // Exactly max_fragments completes.
  const std::vector<uint8_t> payload = Pattern(30, 7);
  ASSERT_EQ(FeedAll(k, Cut(payload, 8), {3, 1, 0, 2}), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
  // One more is too many.
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(Feed(k, 8 * i, true, Pattern(8, 0)), ReasmResult::kHeld);
  const NetCounters before = counters_;
  EXPECT_EQ(Feed(k, 32, false, Pattern(8, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTooManyFragments);
  ExpectEmpty();
}

// --- limits ---

TEST_F(ReasmTest, FullTableDropsNewDatagramsUntilExpire) {
  Ipv4ReasmConfig cfg;
  cfg.max_datagrams = 2;
  cfg.timeout_ns = 1 * kSec;
  ASSERT_NO_FATAL_FAILURE(Make(cfg));
  EXPECT_EQ(Feed(Key{.id = 1}, 0, true, Pattern(8, 0), 0), ReasmResult::kHeld);
  EXPECT_EQ(Feed(Key{.id = 2}, 0, true, Pattern(8, 0), 10), ReasmResult::kHeld);
  NetCounters before = counters_;
  EXPECT_EQ(Feed(Key{.id = 3}, 0, true, Pattern(8, 0), 20), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTableFull);
  EXPECT_EQ(reasm_->datagrams(), 2u);
  // Datagrams in progress still take fragments.
  EXPECT_EQ(Feed(Key{.id = 2}, 8, false, Pattern(8, 0), 30), ReasmResult::kComplete);
  EXPECT_EQ(Feed(Key{.id = 3}, 0, true, Pattern(8, 0), 40), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(Key{.id = 4}, 0, true, Pattern(8, 0), 50), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmTableFull);
  // Once the first one expires, a new datagram fits.
  before = counters_;
  EXPECT_EQ(reasm_->Expire(1 * kSec), 1u);
  ExpectCounted(before, Drop::kIpReasmTimeout);
  EXPECT_EQ(reasm_->datagrams(), 1u);
  const std::vector<uint8_t> payload = Pattern(16, 8);
  const Key k4{.id = 4};
  ASSERT_EQ(FeedAll(k4, Cut(payload, 8), {0, 1}, 1 * kSec), ReasmResult::kComplete);
  ExpectWhole(whole_, k4, payload);
}

TEST_F(ReasmTest, MemoryLimitDropsFragmentsBlocksAreShared) {
  Ipv4ReasmConfig cfg;
  cfg.max_bytes = 2 * 1024;
  ASSERT_NO_FATAL_FAILURE(Make(cfg));
  const Key a{.id = 1}, b{.id = 2};
  const std::vector<uint8_t> payload = Pattern(1032, 9);
  // a: [0,8) uses block 0 of a.
  EXPECT_EQ(Feed(a, 0, true, {payload.begin(), payload.begin() + 8}), ReasmResult::kHeld);
  EXPECT_EQ(reasm_->bytes_held(), 1024u);
  // b: 8 bytes straddling two blocks need two blocks; one is free.
  NetCounters before = counters_;
  EXPECT_EQ(Feed(b, 1016, true, Pattern(16, 0)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmNoMemory);
  EXPECT_EQ(reasm_->datagrams(), 1u);  // b was not opened
  EXPECT_EQ(Feed(b, 0, true, Pattern(8, 0)), ReasmResult::kHeld);
  EXPECT_EQ(reasm_->bytes_held(), 2048u);
  // a: more bytes in its block 0 need no new block; its block 1 does.
  EXPECT_EQ(Feed(a, 8, true, {payload.begin() + 8, payload.begin() + 1016}), ReasmResult::kHeld);
  before = counters_;
  EXPECT_EQ(Feed(a, 1016, false, {payload.begin() + 1016, payload.end()}), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmNoMemory);
  EXPECT_EQ(reasm_->datagrams(), 2u);  // kept
  EXPECT_LE(reasm_->bytes_held(), reasm_->capacity_bytes());
  // Freeing b makes room for a's end.
  EXPECT_EQ(Feed(b, 8, false, Pattern(8, 0)), ReasmResult::kComplete);
  EXPECT_EQ(reasm_->bytes_held(), 1024u);
  ASSERT_EQ(Feed(a, 1016, false, {payload.begin() + 1016, payload.end()}),
            ReasmResult::kComplete);
  ExpectWhole(whole_, a, payload);
  ExpectEmpty();
}

TEST_F(ReasmTest, TimeoutByExpireAndNextDeadline) {
  const uint64_t t = reasm_->config().timeout_ns;
  EXPECT_EQ(reasm_->NextDeadline(), Ipv4Reassembler::kNoDeadline);
  EXPECT_EQ(reasm_->Expire(1000 * kSec), 0u);
  EXPECT_EQ(Feed(Key{.id = 1}, 0, true, Pattern(8, 0), 100), ReasmResult::kHeld);
  EXPECT_EQ(Feed(Key{.id = 2}, 0, true, Pattern(8, 0), 200), ReasmResult::kHeld);
  EXPECT_EQ(Feed(Key{.id = 3}, 0, true, Pattern(8, 0), 300), ReasmResult::kHeld);
  EXPECT_EQ(reasm_->NextDeadline(), 100 + t);
  // A later fragment does not move the deadline (it counts from the first).
  EXPECT_EQ(Feed(Key{.id = 1}, 16, true, Pattern(8, 0), 150), ReasmResult::kHeld);
  EXPECT_EQ(reasm_->NextDeadline(), 100 + t);
  // Completing the oldest moves the deadline to the next one.
  EXPECT_EQ(Feed(Key{.id = 1}, 8, true, Pattern(8, 0), 160), ReasmResult::kHeld);
  EXPECT_EQ(Feed(Key{.id = 1}, 24, false, Pattern(8, 0), 170), ReasmResult::kComplete);
  EXPECT_EQ(reasm_->NextDeadline(), 200 + t);
  EXPECT_EQ(reasm_->Expire(200 + t - 1), 0u);
  ExpectNothingCounted();
  EXPECT_EQ(reasm_->Expire(200 + t), 1u);  // at the deadline exactly
  EXPECT_EQ(counters_.ip_reasm_timeout, 1u);
  EXPECT_EQ(reasm_->NextDeadline(), 300 + t);
  EXPECT_EQ(reasm_->Expire(1000 * kSec), 1u);
  EXPECT_EQ(counters_.ip_reasm_timeout, 2u);
  ExpectEmpty();
}

TEST_F(ReasmTest, TimeoutByAddAndExpiredPiecesAreNotReused) {
  const uint64_t t = reasm_->config().timeout_ns;
  const Key k;
  const std::vector<uint8_t> payload = Pattern(16, 10);
  EXPECT_EQ(Feed(k, 0, true, {payload.begin(), payload.begin() + 8}, 0), ReasmResult::kHeld);
  EXPECT_EQ(Feed(Key{.id = 9}, 0, true, Pattern(8, 0), 1), ReasmResult::kHeld);
  // Another datagram's fragment at the deadline frees the expired one first.
  const NetCounters before = counters_;
  EXPECT_EQ(Feed(Key{.id = 7}, 0, true, Pattern(8, 0), t), ReasmResult::kHeld);
  ExpectCounted(before, Drop::kIpReasmTimeout);
  EXPECT_EQ(reasm_->datagrams(), 2u);
  // The rest of the expired datagram starts a new one rather than completing the old.
  EXPECT_EQ(Feed(k, 8, false, {payload.begin() + 8, payload.end()}, t), ReasmResult::kHeld);
  EXPECT_EQ(Feed(k, 0, true, {payload.begin(), payload.begin() + 8}, t), ReasmResult::kComplete);
  ExpectWhole(whole_, k, payload);
}

TEST_F(ReasmTest, OutputAreaFullDiscardsReleaseFreesIt) {
  Ipv4ReasmConfig cfg;
  cfg.output_bytes = 65535;
  ASSERT_NO_FATAL_FAILURE(Make(cfg));
  const Key a{.id = 1}, b{.id = 2}, c{.id = 3};
  const std::vector<uint8_t> pa = Pattern(40000, 11), pb = Pattern(30000, 12);
  ASSERT_EQ(FeedAll(a, Cut(pa, 1480), InOrder(28)), ReasmResult::kComplete);
  const Ipv4Packet whole_a = whole_;
  EXPECT_EQ(reasm_->output_in_use(), 40020u);
  const NetCounters before = counters_;
  EXPECT_EQ(FeedAll(b, Cut(pb, 1480), InOrder(21)), ReasmResult::kDropped);
  ExpectCounted(before, Drop::kIpReasmOutputFull);
  ExpectEmpty();
  ExpectWhole(whole_a, a, pa);  // still valid: not released
  reasm_->Release();
  EXPECT_EQ(reasm_->output_in_use(), 0u);
  ASSERT_EQ(FeedAll(b, Cut(pb, 1480), InOrder(21)), ReasmResult::kComplete);
  ExpectWhole(whole_, b, pb);

  // ReleaseLast frees only the most recent one, once.
  const Ipv4Packet whole_b = whole_;
  const std::vector<uint8_t> pc = Pattern(20000, 13);
  ASSERT_EQ(FeedAll(c, Cut(pc, 1480), InOrder(14)), ReasmResult::kComplete);
  EXPECT_EQ(reasm_->output_in_use(), 30020u + 20020u);
  reasm_->ReleaseLast();
  EXPECT_EQ(reasm_->output_in_use(), 30020u);
  reasm_->ReleaseLast();
  EXPECT_EQ(reasm_->output_in_use(), 30020u);
  ExpectWhole(whole_b, b, pb);
  ASSERT_EQ(FeedAll(c, Cut(pc, 1480), InOrder(14)), ReasmResult::kComplete);  // fits again
  ExpectWhole(whole_, c, pc);
  ExpectWhole(whole_b, b, pb);
  reasm_->Release();
  reasm_->ReleaseLast();
  EXPECT_EQ(reasm_->output_in_use(), 0u);
}

// --- flood ---

// Thousands of hostile fragments (random keys from a small and a large space, offsets, lengths,
// flags) with a legitimate datagram every kEvery of them, its fragments shuffled and spread out.
// The limits always hold, every legitimate datagram none of whose fragments was dropped completes
// byte-exact, every kDropped is counted exactly once, and Expire frees everything at the end.
class ReasmFloodTest : public ReasmTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(ReasmFloodTest, LimitsHoldAndLegitimateDatagramsComplete) {
  Ipv4ReasmConfig cfg;
  cfg.timeout_ns = 200 * kMs;
  cfg.max_bytes = 128 * 1024;  // half the default: the flood reaches it
  ASSERT_NO_FATAL_FAILURE(Make(cfg));
  std::mt19937 rng(GetParam());
  constexpr int kSteps = 30000;
  constexpr int kEvery = 40;
  constexpr Ipv4Address kLegitSrc = 0x0a090909;

  struct Legit {
    Key key;
    std::vector<uint8_t> payload;
    std::vector<Piece> pieces;
    size_t next = 0;
    bool dropped = false;
  };
  std::optional<Legit> legit;
  uint16_t legit_id = 0;
  int legit_started = 0, legit_expected = 0, legit_completed = 0;
  uint64_t dropped_results = 0;

  auto reasm_drops = [&] {
    uint64_t n = 0;
    for (size_t i = 1; i <= kNumDrops; ++i) {
      const auto d = static_cast<Drop>(i);
      if (d != Drop::kIpReasmTimeout) n += *CounterFor(&counters_, d);
    }
    return n;
  };
  auto check_limits = [&] {
    ASSERT_LE(reasm_->bytes_held(), reasm_->capacity_bytes());
    ASSERT_LE(reasm_->datagrams(), cfg.max_datagrams);
    ASSERT_LE(reasm_->output_in_use(), cfg.output_bytes);
  };

  for (int step = 0; step < kSteps; ++step) {
    const uint64_t now = step * kMs;
    reasm_->Release();  // the Stack's iteration
    if (reasm_->NextDeadline() <= now) reasm_->Expire(now);

    // One hostile fragment.
    Key hk{.src = static_cast<Ipv4Address>(kSrc + rng() % 2),
           .protocol = static_cast<uint8_t>(rng() % 2 ? 17 : 6)};
    hk.id = static_cast<uint16_t>(rng() % 10 < 8 ? rng() % 16 : rng());
    const bool mf = rng() % 4 != 0;
    uint32_t offset = 8 * (rng() % 8192);
    if (rng() % 2) offset = 8 * (rng() % 64);  // pile up near the start
    size_t len = rng() % 1500;
    if (rng() % 3) len &= ~size_t{7};
    const ReasmResult hr = Feed(hk, offset, mf, Pattern(len, step), now);
    if (hr == ReasmResult::kDropped) ++dropped_results;
    if (hr == ReasmResult::kComplete) {
      EXPECT_EQ(InternetChecksum(whole_.header), 0);
      EXPECT_EQ(whole_.src, hk.src);
    }
    ASSERT_NO_FATAL_FAILURE(check_limits());

    // The legitimate traffic.
    if (!legit && step % kEvery == 0) {
      legit.emplace();
      legit->key = Key{.src = kLegitSrc, .id = legit_id++};
      legit->payload = Pattern(1 + rng() % 6000, rng());
      legit->pieces = Cut(legit->payload, 8 * (100 + rng() % 100));
      std::shuffle(legit->pieces.begin(), legit->pieces.end(), rng);
      ++legit_started;
    }
    if (legit && step % 3 == 0) {
      const bool last = legit->next + 1 == legit->pieces.size();
      const ReasmResult r = Feed(legit->key, legit->pieces[legit->next++], now);
      if (r == ReasmResult::kDropped) {
        ++dropped_results;
        legit->dropped = true;
      }
      if (!last) {
        EXPECT_NE(r, ReasmResult::kComplete) << "legit " << legit->key.id << " completed early";
      } else {
        if (!legit->dropped) {
          ++legit_expected;
          EXPECT_EQ(r, ReasmResult::kComplete) << "legit " << legit->key.id;
          if (r == ReasmResult::kComplete) {
            ++legit_completed;
            ExpectWhole(whole_, legit->key, legit->payload);
          }
        }
        legit.reset();
      }
      ASSERT_NO_FATAL_FAILURE(check_limits());
    }
    ASSERT_EQ(reasm_drops(), dropped_results) << "step " << step;
  }
  std::printf("legit: %d started, %d had room, %d completed; timeouts %lu, table_full %lu, "
              "no_memory %lu, overlap %lu, bad_end %lu, too_many %lu, duplicate %lu\n",
              legit_started, legit_expected, legit_completed,
              static_cast<unsigned long>(counters_.ip_reasm_timeout),
              static_cast<unsigned long>(counters_.ip_reasm_table_full),
              static_cast<unsigned long>(counters_.ip_reasm_no_memory),
              static_cast<unsigned long>(counters_.ip_reasm_overlap),
              static_cast<unsigned long>(counters_.ip_reasm_bad_end),
              static_cast<unsigned long>(counters_.ip_reasm_too_many_fragments),
              static_cast<unsigned long>(counters_.ip_reasm_duplicate));
  // The flood must have pushed every limit, and still let most legitimate datagrams through.
  EXPECT_GT(counters_.ip_reasm_table_full, 0u);
  EXPECT_GT(counters_.ip_reasm_no_memory, 0u);
  EXPECT_GT(counters_.ip_reasm_overlap, 0u);
  EXPECT_GT(counters_.ip_reasm_timeout, 0u);
  EXPECT_GT(counters_.ip_reasm_bad_length, 0u);
  EXPECT_GT(counters_.ip_reasm_too_long, 0u);
  EXPECT_GT(legit_expected, legit_started / 2);
  EXPECT_EQ(legit_completed, legit_expected);

  reasm_->Expire(~uint64_t{0} - 1);
  reasm_->Release();
  ExpectEmpty();
  EXPECT_EQ(reasm_->output_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReasmFloodTest, ::testing::Values(1u, 2u, 3u));

}  // namespace
}  // namespace ix::net

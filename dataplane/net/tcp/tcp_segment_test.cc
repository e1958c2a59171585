// Tests for segment parsing/building, sequence arithmetic, the byte ring and keyed hashing.
#include "dataplane/net/tcp/tcp_segment.h"

#include <cstring>
#include <vector>

#include "dataplane/net/checksum.h"
#include "dataplane/net/tcp/tcp_hash.h"
#include "dataplane/net/tcp/tcp_ring.h"
#include "dataplane/net/tcp/tcp_seq.h"
#include "gtest/gtest.h"

namespace ix::net::tcp {
namespace {

constexpr uint32_t kSrc = 0x0a000001;
constexpr uint32_t kDst = 0x0a000002;

TcpSegmentView BasicSegment() {
  TcpSegmentView s;
  s.src_ip = kSrc;
  s.dst_ip = kDst;
  s.src_port = 12345;
  s.dst_port = 80;
  s.seq = 0x01020304;
  s.ack = 0xa0b0c0d0;
  s.flags = kTcpAck | kTcpPsh;
  s.window = 0x1234;
  return s;
}

std::vector<uint8_t> Build(const TcpSegmentView& s) {
  std::vector<uint8_t> out(s.WireSize());
  EXPECT_EQ(BuildTcpSegment(s, absl::MakeSpan(out)), out.size());
  return out;
}

TEST(TcpSeqTest, WrapsAround) {
  EXPECT_TRUE(SeqLt(0xfffffff0u, 0x10u));
  EXPECT_TRUE(SeqGt(0x10u, 0xfffffff0u));
  EXPECT_TRUE(SeqLeq(5u, 5u));
  EXPECT_FALSE(SeqLt(5u, 5u));
  EXPECT_TRUE(SeqInRange(0u, 0xfffffffeu, 2u));
  EXPECT_FALSE(SeqInRange(2u, 0xfffffffeu, 2u));
  EXPECT_EQ(SeqMax(0xffffffffu, 1u), 1u);
  EXPECT_EQ(SeqMin(0xffffffffu, 1u), 0xffffffffu);
}

TEST(TcpSegmentTest, HeaderFieldsRoundTrip) {
  TcpSegmentView s = BasicSegment();
  const uint8_t payload[] = {'h', 'e', 'l', 'l', 'o'};
  s.payload[0] = absl::MakeConstSpan(payload);
  std::vector<uint8_t> wire = Build(s);
  ASSERT_EQ(wire.size(), 25u);
  EXPECT_EQ(wire[12] >> 4, 5);  // data offset
  // The checksum verifies with the shared helper.
  uint32_t sum = ix::net::PseudoHeaderSum(kSrc, kDst, kIpProtoTcp, wire.size());
  EXPECT_EQ(ix::net::ChecksumFold(ix::net::ChecksumPartial(wire, sum)), 0);

  TcpSegmentView p;
  ASSERT_EQ(ParseTcpSegment(kSrc, kDst, wire, true, &p), TcpParseResult::kOk);
  EXPECT_EQ(p.src_port, 12345);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.seq, 0x01020304u);
  EXPECT_EQ(p.ack, 0xa0b0c0d0u);
  EXPECT_EQ(p.flags, kTcpAck | kTcpPsh);
  EXPECT_EQ(p.window, 0x1234);
  ASSERT_EQ(p.PayloadSize(), 5u);
  EXPECT_EQ(std::memcmp(p.payload[0].data(), "hello", 5), 0);
  EXPECT_EQ(p.SeqLen(), 5u);
}

TEST(TcpSegmentTest, AllOptionsRoundTrip) {
  TcpSegmentView s = BasicSegment();
  s.flags = kTcpSyn;
  s.options.has_mss = true;
  s.options.mss = 1460;
  s.options.has_wscale = true;
  s.options.wscale = 7;
  s.options.sack_permitted = true;
  s.options.has_timestamps = true;
  s.options.ts_val = 0xdeadbeef;
  s.options.ts_ecr = 0x01234567;
  std::vector<uint8_t> wire = Build(s);
  EXPECT_EQ(wire.size(), 20u + 4 + 4 + 4 + 12);
  TcpSegmentView p;
  ASSERT_EQ(ParseTcpSegment(kSrc, kDst, wire, true, &p), TcpParseResult::kOk);
  EXPECT_TRUE(p.options.has_mss);
  EXPECT_EQ(p.options.mss, 1460);
  EXPECT_TRUE(p.options.has_wscale);
  EXPECT_EQ(p.options.wscale, 7);
  EXPECT_TRUE(p.options.sack_permitted);
  EXPECT_TRUE(p.options.has_timestamps);
  EXPECT_EQ(p.options.ts_val, 0xdeadbeefu);
  EXPECT_EQ(p.options.ts_ecr, 0x01234567u);
  EXPECT_EQ(p.SeqLen(), 1u);
  EXPECT_EQ(p.PayloadSize(), 0u);
}

TEST(TcpSegmentTest, SplitPayloadChecksumMatchesContiguous) {
  // A payload split at an odd offset (a wrapped ring) must checksum like the contiguous bytes.
  std::vector<uint8_t> data(301);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  TcpSegmentView whole = BasicSegment();
  whole.payload[0] = absl::MakeConstSpan(data);
  for (size_t cut : {0, 1, 2, 17, 150, 151, 300, 301}) {
    TcpSegmentView split = BasicSegment();
    split.payload[0] = absl::MakeConstSpan(data).first(cut);
    split.payload[1] = absl::MakeConstSpan(data).subspan(cut);
    EXPECT_EQ(Build(split), Build(whole)) << "cut " << cut;
  }
  // Zero-copy header: checksum over the payload spans without copying them.
  std::vector<uint8_t> hdr(whole.HeaderSize());
  ASSERT_EQ(WriteTcpHeader(whole, absl::MakeSpan(hdr)), hdr.size());
  std::vector<uint8_t> wire = Build(whole);
  EXPECT_TRUE(std::equal(hdr.begin(), hdr.end(), wire.begin()));
}

TEST(TcpSegmentTest, BuildRejectsSmallBuffer) {
  TcpSegmentView s = BasicSegment();
  uint8_t buf[19];
  EXPECT_EQ(BuildTcpSegment(s, absl::MakeSpan(buf)), 0u);
  EXPECT_EQ(WriteTcpHeader(s, absl::MakeSpan(buf)), 0u);
}

TEST(TcpSegmentTest, MalformedSegmentsAreClassified) {
  TcpSegmentView p;
  std::vector<uint8_t> wire = Build(BasicSegment());
  // Too short.
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, absl::MakeConstSpan(wire).first(19), true, &p),
            TcpParseResult::kTooShort);
  // Data offset below 5 words and beyond the segment.
  std::vector<uint8_t> bad = wire;
  bad[12] = 4 << 4;
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, bad, false, &p), TcpParseResult::kBadDataOffset);
  bad[12] = 6 << 4;
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, bad, false, &p), TcpParseResult::kBadDataOffset);
  // Checksum: any single flipped bit, and the wrong pseudo-header.
  for (size_t byte = 0; byte < wire.size(); ++byte) {
    if (byte == 12) continue;  // the data offset is checked first
    bad = wire;
    bad[byte] ^= 0x10;
    EXPECT_EQ(ParseTcpSegment(kSrc, kDst, bad, true, &p), TcpParseResult::kBadChecksum);
  }
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst + 1, wire, true, &p), TcpParseResult::kBadChecksum);
  // Ports.
  TcpSegmentView s = BasicSegment();
  s.dst_port = 0;
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, Build(s), true, &p), TcpParseResult::kBadPort);
  // SYN with FIN or RST.
  s = BasicSegment();
  s.flags = kTcpSyn | kTcpFin;
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, Build(s), true, &p), TcpParseResult::kBadFlags);
  s.flags = kTcpSyn | kTcpRst;
  EXPECT_EQ(ParseTcpSegment(kSrc, kDst, Build(s), true, &p), TcpParseResult::kBadFlags);
}

// Builds a segment with a raw options area (padded to 4 bytes by the caller).
std::vector<uint8_t> WithRawOptions(const std::vector<uint8_t>& opts) {
  std::vector<uint8_t> wire = Build(BasicSegment());
  wire.insert(wire.begin() + 20, opts.begin(), opts.end());
  wire[12] = static_cast<uint8_t>(((20 + opts.size()) / 4) << 4);
  wire[16] = wire[17] = 0;
  uint32_t sum = ix::net::PseudoHeaderSum(kSrc, kDst, kIpProtoTcp, wire.size());
  const uint16_t c = ix::net::ChecksumFold(ix::net::ChecksumPartial(wire, sum));
  std::memcpy(&wire[16], &c, 2);
  return wire;
}

TEST(TcpSegmentTest, MalformedOptionsAreRejected) {
  TcpSegmentView p;
  const std::vector<std::vector<uint8_t>> bad = {
      {2, 0, 0, 0},                          // zero length
      {2, 1, 0, 0},                          // length 1
      {2, 3, 5, 1},                          // MSS with length 3
      {1, 1, 3, 4},                          // WS with length 4 (runs over)
      {1, 1, 1, 3},                          // kind without room for its length byte
      {4, 3, 0, 0},                          // SACK-permitted with length 3
      {8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // timestamps with length 9
      {5, 6, 0, 0, 0, 0, 0, 0},              // SACK block of 4 bytes
      {30, 8, 0, 0},                         // unknown option longer than the area
  };
  for (const auto& o : bad) {
    EXPECT_EQ(ParseTcpSegment(kSrc, kDst, WithRawOptions(o), true, &p), TcpParseResult::kBadOption)
        << "kind " << int{o[0]};
  }
  // Unknown options are skipped; EOL ends parsing; SACK blocks are accepted.
  ASSERT_EQ(ParseTcpSegment(kSrc, kDst, WithRawOptions({30, 4, 9, 9, 2, 4, 0x05, 0xb4}), true, &p),
            TcpParseResult::kOk);
  EXPECT_TRUE(p.options.has_mss);
  EXPECT_EQ(p.options.mss, 1460);
  ASSERT_EQ(ParseTcpSegment(kSrc, kDst, WithRawOptions({0, 2, 0, 0}), true, &p),
            TcpParseResult::kOk);
  EXPECT_FALSE(p.options.has_mss);
  ASSERT_EQ(
      ParseTcpSegment(kSrc, kDst, WithRawOptions({1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}), true, &p),
      TcpParseResult::kOk);
}

TEST(TcpRingTest, AppendPeekConsumeWrap) {
  std::vector<uint8_t> mem(16);
  TcpRing r;
  r.Init(16);
  EXPECT_EQ(r.free(), 16u);  // capacity counts before memory is attached
  r.Attach(mem.data());
  const uint8_t a[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(r.Append(a), 10u);
  r.Consume(8);
  EXPECT_EQ(r.Append(a), 10u);  // wraps
  EXPECT_EQ(r.size(), 12u);
  EXPECT_EQ(r.Append(a), 4u);  // full
  TcpRing::Pieces p = r.Peek(2, 100);
  EXPECT_EQ(p.size(), 14u);
  EXPECT_FALSE(p.second.empty());
  std::vector<uint8_t> out(16);
  EXPECT_EQ(r.Read(absl::MakeSpan(out)), 16u);
  const std::vector<uint8_t> want = {8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3};
  EXPECT_EQ(out, want);
  // WriteAt beyond the readable end, then Commit.
  r.WriteAt(3, absl::MakeConstSpan(a).first(3));
  r.WriteAt(0, absl::MakeConstSpan(a).subspan(5, 3));
  r.Commit(6);
  std::vector<uint8_t> got(6);
  EXPECT_EQ(r.Read(absl::MakeSpan(got)), 6u);
  EXPECT_EQ(got, (std::vector<uint8_t>{5, 6, 7, 0, 1, 2}));
  // Drained: the memory can go and come back; the ring starts over at its head.
  EXPECT_EQ(r.Detach(), mem.data());
  EXPECT_FALSE(r.attached());
  EXPECT_EQ(r.free(), 16u);
  EXPECT_EQ(r.Peek(0, 4).size(), 0u);
  r.Attach(mem.data());
  EXPECT_EQ(r.Append(a), 10u);
  EXPECT_EQ(r.Peek(0, 10).first.size(), 10u);
}

TEST(TcpHashTest, SipHashKnownAnswer) {
  // SipHash-2-4 reference vector: key 00..0f, message 00..0f -> 0x3f2acc7f57c29bdb.
  TcpSecret key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  const uint64_t words[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  EXPECT_EQ(SipHash24(key, words, 2), 0x3f2acc7f57c29bdbull);
  const uint64_t* none = nullptr;
  EXPECT_EQ(SipHash24(key, none, 0), 0x726fdb47dd0e0e31ull);
}

TEST(TcpHashTest, IsnAdvancesWithTimeAndDependsOnTuple) {
  TcpSecret key{1, 2};
  TcpFourTuple t{kSrc, kDst, 1000, 80};
  TcpFourTuple u{kSrc, kDst, 1001, 80};
  EXPECT_EQ(InitialSequenceNumber(key, t, 4'000'000) - InitialSequenceNumber(key, t, 0), 1000u);
  EXPECT_NE(InitialSequenceNumber(key, t, 0), InitialSequenceNumber(key, u, 0));
  EXPECT_NE(InitialSequenceNumber(key, t, 0), InitialSequenceNumber(TcpSecret{1, 3}, t, 0));
}

TEST(TcpHashTest, SynCookieValidity) {
  TcpSecret key{42, 43};
  TcpFourTuple t{kDst, kSrc, 80, 40000};
  const uint64_t now = 1000 * kSynCookiePeriodNs + 5;
  const uint32_t peer_isn = 777;
  const uint32_t c = MakeSynCookie(key, t, peer_isn, now, CookieMssIndex(1460));
  uint16_t mss = 0;
  EXPECT_TRUE(CheckSynCookie(key, t, peer_isn, c, now, &mss));
  EXPECT_EQ(mss, 1460);
  EXPECT_TRUE(CheckSynCookie(key, t, peer_isn, c, now + kSynCookiePeriodNs, &mss));
  EXPECT_FALSE(CheckSynCookie(key, t, peer_isn, c, now + 2 * kSynCookiePeriodNs, &mss));
  EXPECT_FALSE(CheckSynCookie(key, t, peer_isn + 1, c, now, &mss));
  EXPECT_FALSE(CheckSynCookie(key, t, peer_isn, c ^ 1, now, &mss));
  EXPECT_FALSE(CheckSynCookie(key, t, peer_isn, c ^ (1u << 24), now, &mss));  // MSS bits
  TcpFourTuple other = t;
  other.remote_port++;
  EXPECT_FALSE(CheckSynCookie(key, other, peer_isn, c, now, &mss));
  EXPECT_FALSE(CheckSynCookie(TcpSecret{42, 44}, t, peer_isn, c, now, &mss));
  EXPECT_EQ(CookieMssValue(CookieMssIndex(1000)), 536);
  EXPECT_EQ(CookieMssValue(CookieMssIndex(9000)), 8960);
}

}  // namespace
}  // namespace ix::net::tcp

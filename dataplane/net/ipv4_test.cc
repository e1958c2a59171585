// Unit tests for ipv4.h: address text form, header build/parse, every malformed case.
#include "dataplane/net/ipv4.h"

#include <vector>

#include "dataplane/net/checksum.h"
#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;
using testing::RefreshIpv4Checksum;

// A valid 20-byte header (from 10.0.0.2 to 10.0.0.1, UDP) followed by `payload_len` bytes.
std::vector<uint8_t> ValidPacket(size_t payload_len = 8) {
  std::vector<uint8_t> p(kIpv4HeaderLen + payload_len, 0xab);
  Ipv4Header h{.src = testing::kIpB, .dst = testing::kIpA, .protocol = kIpProtoUdp, .id = 7};
  if (BuildIpv4Header(absl::MakeSpan(p), h, payload_len) != kIpv4HeaderLen) abort();
  return p;
}

Drop Parse(const std::vector<uint8_t>& b) {
  Ipv4Packet ip;
  return ParseIpv4(b, &ip);
}

TEST(Ipv4AddressTest, ParsesAndFormats) {
  auto a = ParseIpv4Address("192.168.0.1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 0xc0a80001u);
  EXPECT_EQ(FormatIpv4Address(*a), "192.168.0.1");
  EXPECT_EQ(*ParseIpv4Address("0.0.0.0"), 0u);
  EXPECT_EQ(*ParseIpv4Address("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(FormatIpv4Address(0x0ac80002), "10.200.0.2");
  EXPECT_EQ(FormatIpv4Address(0xffffffff), "255.255.255.255");
}

TEST(Ipv4AddressTest, RejectsMalformedText) {
  for (absl::string_view bad :
       {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", " 1.2.3.4", "1.2.3.4 ", "1..2.3", "256.1.1.1",
        "1.2.3.256", "01.2.3.4", "1.2.3.010", "1.2.3.-4", "1.2.3.4x", "1234.1.1.1", "a.b.c.d",
        "4294967296", "1.2.3.1000"}) {
    EXPECT_FALSE(ParseIpv4Address(bad).ok()) << bad;
  }
}

TEST(Ipv4AddressTest, Classifies) {
  EXPECT_TRUE(IsIpv4Multicast(0xe0000001));
  EXPECT_FALSE(IsIpv4Multicast(0x0a000001));
  EXPECT_TRUE(IsIpv4Unicast(0x0a000001));
  EXPECT_FALSE(IsIpv4Unicast(0));
  EXPECT_FALSE(IsIpv4Unicast(kIpv4Broadcast));
  EXPECT_FALSE(IsIpv4Unicast(0xe0000001));
  EXPECT_FALSE(IsIpv4Unicast(0xf0000001));
}

TEST(Ipv4Test, BuildThenParse) {
  std::vector<uint8_t> b(kIpv4HeaderLen + 5);
  Ipv4Header h{
      .src = 0x01020304, .dst = 0x05060708, .protocol = kIpProtoTcp, .tos = 0x10, .id = 0xbeef};
  ASSERT_EQ(BuildIpv4Header(absl::MakeSpan(b), h, 5), kIpv4HeaderLen);
  EXPECT_EQ(InternetChecksum(absl::MakeConstSpan(b).first(20)), 0);
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_EQ(ip.src, 0x01020304u);
  EXPECT_EQ(ip.dst, 0x05060708u);
  EXPECT_EQ(ip.protocol, kIpProtoTcp);
  EXPECT_EQ(ip.ttl, kIpv4DefaultTtl);
  EXPECT_EQ(ip.tos, 0x10);
  EXPECT_EQ(ip.id, 0xbeef);
  EXPECT_TRUE(ip.dont_fragment);
  EXPECT_EQ(ip.header_len, 20u);
  EXPECT_TRUE(ip.options.empty());
  EXPECT_EQ(ip.payload.data(), b.data() + 20);
  EXPECT_EQ(ip.payload.size(), 5u);
  // The exact bytes: version/IHL 45, total length 25, flags DF, TTL 64.
  EXPECT_EQ(b[0], 0x45);
  EXPECT_EQ(b[2], 0x00);
  EXPECT_EQ(b[3], 25);
  EXPECT_EQ(b[6], 0x40);
  EXPECT_EQ(b[7], 0x00);
  EXPECT_EQ(b[8], 64);
}

TEST(Ipv4Test, BuildRejectsNoRoomAndOversize) {
  std::vector<uint8_t> small(19, 0x11);
  EXPECT_EQ(BuildIpv4Header(absl::MakeSpan(small), Ipv4Header{}, 0), 0u);
  EXPECT_EQ(small, std::vector<uint8_t>(19, 0x11));
  std::vector<uint8_t> b(20);
  EXPECT_EQ(BuildIpv4Header(absl::MakeSpan(b), Ipv4Header{}, 65515), 20u);
  EXPECT_EQ(BuildIpv4Header(absl::MakeSpan(b), Ipv4Header{}, 65516), 0u);
}

TEST(Ipv4Test, KnownHeaderParses) {
  // 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, checksum 0xb861.
  std::vector<uint8_t> b = Hex("4500007300004000 4011b861c0a80001c0a800c7");
  b.resize(0x73, 0);
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_EQ(FormatIpv4Address(ip.src), "192.168.0.1");
  EXPECT_EQ(FormatIpv4Address(ip.dst), "192.168.0.199");
  EXPECT_EQ(ip.protocol, kIpProtoUdp);
  EXPECT_EQ(ip.payload.size(), 0x73u - 20);
}

TEST(Ipv4Test, LinkPaddingIsTrimmed) {
  std::vector<uint8_t> b = ValidPacket(6);
  b.resize(46, 0);  // as in a 60-byte Ethernet frame
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_EQ(ip.payload.size(), 6u);
}

TEST(Ipv4Test, OptionsAreSkipped) {
  // IHL 6: a router alert option (94 04 0000), then 3 bytes of payload.
  std::vector<uint8_t> b = Hex("4600001b 00010000 40110000 0a000002 0a000001 94040000 010203");
  RefreshIpv4Checksum(absl::MakeSpan(b));
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_EQ(ip.header_len, 24u);
  ASSERT_EQ(ip.options.size(), 4u);
  EXPECT_EQ(ip.options[0], 0x94);
  ASSERT_EQ(ip.payload.size(), 3u);
  EXPECT_EQ(ip.payload[0], 0x01);
  EXPECT_FALSE(ip.dont_fragment);
}

TEST(Ipv4Test, MaximumOptionsAreSkipped) {
  std::vector<uint8_t> b(60 + 1, 0x01);  // IHL 15: 40 bytes of NOP options, 1 byte payload
  b[0] = 0x4f;
  b[1] = 0;
  b[2] = 0;
  b[3] = 61;
  b[6] = b[7] = 0;
  b[8] = 1;
  RefreshIpv4Checksum(absl::MakeSpan(b));
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_EQ(ip.options.size(), 40u);
  EXPECT_EQ(ip.payload.size(), 1u);
}

TEST(Ipv4Test, TruncatedAtEveryLength) {
  const std::vector<uint8_t> full = ValidPacket(30);
  ASSERT_EQ(Parse(full), Drop::kNone);
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + n);  // exactly-sized
    // Shorter than the header: truncated; header complete but total length beyond: bad length.
    EXPECT_EQ(Parse(cut), n < 20 ? Drop::kIpTruncated : Drop::kIpBadLength) << n;
  }
}

TEST(Ipv4Test, TruncatedInsideOptions) {
  std::vector<uint8_t> b = ValidPacket(0);
  b[0] = 0x4f;  // claims 60 bytes of header; only 20 present
  EXPECT_EQ(Parse(b), Drop::kIpTruncated);
  b.resize(59, 0);
  EXPECT_EQ(Parse(b), Drop::kIpTruncated);
}

TEST(Ipv4Test, BadVersion) {
  for (int v : {0, 1, 5, 6, 15}) {
    std::vector<uint8_t> b = ValidPacket();
    b[0] = static_cast<uint8_t>((v << 4) | 5);
    RefreshIpv4Checksum(absl::MakeSpan(b));
    EXPECT_EQ(Parse(b), Drop::kIpBadVersion) << v;
  }
}

TEST(Ipv4Test, BadIhl) {
  for (int ihl = 0; ihl < 5; ++ihl) {
    std::vector<uint8_t> b = ValidPacket();
    b[0] = static_cast<uint8_t>(0x40 | ihl);
    RefreshIpv4Checksum(absl::MakeSpan(b));
    EXPECT_EQ(Parse(b), Drop::kIpBadIhl) << ihl;
  }
}

TEST(Ipv4Test, TotalLengthBelowHeaderOrBeyondBuffer) {
  std::vector<uint8_t> b = ValidPacket(8);
  for (uint16_t total : {0, 1, 19}) {
    b[2] = static_cast<uint8_t>(total >> 8);
    b[3] = static_cast<uint8_t>(total);
    RefreshIpv4Checksum(absl::MakeSpan(b));
    EXPECT_EQ(Parse(b), Drop::kIpBadLength) << total;
  }
  for (uint16_t total : {29, 1500, 65535}) {
    b[2] = static_cast<uint8_t>(total >> 8);
    b[3] = static_cast<uint8_t>(total);
    RefreshIpv4Checksum(absl::MakeSpan(b));
    EXPECT_EQ(Parse(b), Drop::kIpBadLength) << total;
  }
  b[2] = 0;
  b[3] = 20;  // a header with no payload is fine
  RefreshIpv4Checksum(absl::MakeSpan(b));
  EXPECT_EQ(Parse(b), Drop::kNone);
}

TEST(Ipv4Test, BadChecksum) {
  const std::vector<uint8_t> good = ValidPacket();
  for (size_t i = 0; i < 20; ++i) {
    if (i == 0 || i == 2 || i == 3) continue;  // would fail earlier checks first
    std::vector<uint8_t> b = good;
    b[i] ^= 0x01;
    EXPECT_EQ(Parse(b), Drop::kIpBadChecksum) << "byte " << i;
  }
  std::vector<uint8_t> b = good;
  b[25] ^= 0xff;  // the payload is not covered by the header checksum
  EXPECT_EQ(Parse(b), Drop::kNone);
}

TEST(Ipv4Test, FragmentsAreReportedNotDropped) {
  struct Case {
    uint16_t flags;
    bool mf;
    uint16_t offset_bytes;
  };
  for (const Case& c : {Case{0x2000, true, 0}, Case{0x0001, false, 8}, Case{0x00b9, false, 1480},
                        Case{0x1fff, false, 65528}, Case{0x6000 /* DF|MF */, true, 0},
                        Case{0x4001, false, 8}, Case{0x2002, true, 16}}) {
    std::vector<uint8_t> b = ValidPacket();
    b[6] = static_cast<uint8_t>(c.flags >> 8);
    b[7] = static_cast<uint8_t>(c.flags);
    RefreshIpv4Checksum(absl::MakeSpan(b));
    Ipv4Packet ip;
    ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone) << std::hex << c.flags;
    EXPECT_TRUE(ip.IsFragment()) << std::hex << c.flags;
    EXPECT_EQ(ip.more_fragments, c.mf) << std::hex << c.flags;
    EXPECT_EQ(ip.frag_offset, c.offset_bytes) << std::hex << c.flags;
    EXPECT_EQ(ip.dont_fragment, (c.flags & 0x4000) != 0) << std::hex << c.flags;
    EXPECT_EQ(ip.payload.size(), 8u);
  }
  std::vector<uint8_t> b = ValidPacket();
  b[6] = b[7] = 0;  // neither DF nor fragment: a whole datagram
  RefreshIpv4Checksum(absl::MakeSpan(b));
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(b, &ip), Drop::kNone);
  EXPECT_FALSE(ip.IsFragment());
  EXPECT_FALSE(ip.more_fragments);
  EXPECT_EQ(ip.frag_offset, 0u);
}

TEST(Ipv4Test, TtlZeroIsDropped) {
  std::vector<uint8_t> b = ValidPacket();
  b[8] = 0;
  RefreshIpv4Checksum(absl::MakeSpan(b));
  EXPECT_EQ(Parse(b), Drop::kIpTtlZero);
  b[8] = 1;
  RefreshIpv4Checksum(absl::MakeSpan(b));
  EXPECT_EQ(Parse(b), Drop::kNone);
}

TEST(Ipv4Test, DropsCountIntoTheirOwnCounter) {
  NetCounters counters;
  std::vector<uint8_t> b = ValidPacket();
  b[8] = 0;
  RefreshIpv4Checksum(absl::MakeSpan(b));
  CountDrop(&counters, Parse(b));
  b[9] ^= 1;  // breaks the checksum
  CountDrop(&counters, Parse(b));
  CountDrop(&counters, Parse(std::vector<uint8_t>(b.begin(), b.begin() + 5)));
  EXPECT_EQ(counters.ip_ttl_zero, 1u);
  EXPECT_EQ(counters.ip_bad_checksum, 1u);
  EXPECT_EQ(counters.ip_truncated, 1u);
  NetCounters expected;
  expected.ip_ttl_zero = expected.ip_bad_checksum = expected.ip_truncated = 1;
  EXPECT_EQ(counters, expected);
}

TEST(Ipv4Test, DestinationFilter) {
  Ipv4Packet ip;
  ip.dst = testing::kIpA;
  EXPECT_EQ(CheckIpv4Destination(ip, testing::kIpA), Drop::kNone);
  ip.dst = kIpv4Broadcast;
  EXPECT_EQ(CheckIpv4Destination(ip, testing::kIpA), Drop::kNone);
  ip.dst = testing::kIpB;
  EXPECT_EQ(CheckIpv4Destination(ip, testing::kIpA), Drop::kIpOtherHost);
}

TEST(Ipv4Test, IdCounterCountsAndWraps) {
  Ipv4IdCounter ids(0xfffe);
  EXPECT_EQ(ids.Next(), 0xfffe);
  EXPECT_EQ(ids.Next(), 0xffff);
  EXPECT_EQ(ids.Next(), 0);
  EXPECT_EQ(ids.Next(), 1);
}

}  // namespace
}  // namespace ix::net

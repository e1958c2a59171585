// Unit tests for udp.h: build/parse, the pseudo-header checksum, zero checksum, length checks.
#include "dataplane/net/udp.h"

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/net/checksum.h"
#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;
using testing::kIpA;
using testing::kIpB;

std::vector<uint8_t> Datagram(absl::string_view payload) {
  std::vector<uint8_t> d(kUdpHeaderLen + payload.size());
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  if (BuildUdp(absl::MakeSpan(d), kIpB, kIpA, 1234, 53, absl::MakeConstSpan(p, payload.size())) ==
      0) {
    abort();
  }
  return d;
}

Drop Parse(const std::vector<uint8_t>& d, UdpDatagram* out = nullptr) {
  UdpDatagram local;
  return ParseUdp(d, kIpB, kIpA, out ? out : &local);
}

TEST(UdpTest, BuildThenParse) {
  const std::vector<uint8_t> d = Datagram("hello");
  UdpDatagram udp;
  ASSERT_EQ(Parse(d, &udp), Drop::kNone);
  EXPECT_EQ(udp.src_port, 1234);
  EXPECT_EQ(udp.dst_port, 53);
  EXPECT_EQ(udp.length, 13);
  EXPECT_TRUE(udp.checksum_present);
  EXPECT_EQ(std::string(udp.payload.begin(), udp.payload.end()), "hello");
  EXPECT_EQ(udp.payload.data(), d.data() + 8);
  // The checksum covers the pseudo-header: a different address pair fails it.
  EXPECT_EQ(ParseUdp(d, kIpA, kIpB + 1, &udp), Drop::kUdpBadChecksum);
}

TEST(UdpTest, EmptyPayload) {
  const std::vector<uint8_t> d = Datagram("");
  UdpDatagram udp;
  ASSERT_EQ(Parse(d, &udp), Drop::kNone);
  EXPECT_TRUE(udp.payload.empty());
}

TEST(UdpTest, HeaderInPlaceOverPayload) {
  std::vector<uint8_t> d(8 + 4, 0);
  std::memcpy(&d[8], "abcd", 4);
  ASSERT_TRUE(WriteUdpHeader(absl::MakeSpan(d), kIpB, kIpA, 1234, 53));
  EXPECT_EQ(d, Datagram("abcd"));
  std::vector<uint8_t> tiny(7);
  EXPECT_FALSE(WriteUdpHeader(absl::MakeSpan(tiny), kIpB, kIpA, 1, 2));
  std::vector<uint8_t> huge(kUdpHeaderLen + kUdpMaxPayloadLen + 1);
  EXPECT_FALSE(WriteUdpHeader(absl::MakeSpan(huge), kIpB, kIpA, 1, 2));
  huge.pop_back();
  EXPECT_TRUE(WriteUdpHeader(absl::MakeSpan(huge), kIpB, kIpA, 1, 2));
}

TEST(UdpTest, BuildRejectsNoRoom) {
  std::vector<uint8_t> out(12, 0x77);
  const uint8_t payload[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(BuildUdp(absl::MakeSpan(out), kIpB, kIpA, 1, 2, payload), 0u);
  EXPECT_EQ(out, std::vector<uint8_t>(12, 0x77));
  out.resize(13);
  EXPECT_EQ(BuildUdp(absl::MakeSpan(out), kIpB, kIpA, 1, 2, payload), 13u);
}

TEST(UdpTest, ZeroChecksumIsAcceptedAsAbsent) {
  std::vector<uint8_t> d = Datagram("data");
  d[6] = d[7] = 0;
  UdpDatagram udp;
  ASSERT_EQ(Parse(d, &udp), Drop::kNone);
  EXPECT_FALSE(udp.checksum_present);
  d[9] ^= 0xff;  // nothing checks the payload now
  EXPECT_EQ(Parse(d), Drop::kNone);
}

TEST(UdpTest, ComputedZeroIsSentAsAllOnes) {
  // Find a two-byte payload whose checksum computes to 0: it must go out as 0xffff and verify.
  bool found = false;
  for (uint32_t w = 0; w <= 0xffff && !found; ++w) {
    const uint8_t payload[2] = {static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w)};
    std::vector<uint8_t> d(10);
    ASSERT_EQ(BuildUdp(absl::MakeSpan(d), kIpB, kIpA, 1, 2, payload), 10u);
    if (d[6] != 0xff || d[7] != 0xff) continue;
    // Is it a real 0 (and not a real 0xffff, which cannot come out of the fold)?
    std::vector<uint8_t> z = d;
    z[6] = z[7] = 0;
    const uint32_t sum = ChecksumPartial(z, PseudoHeaderSum(kIpB, kIpA, kIpProtoUdp, 10));
    ASSERT_EQ(ChecksumFold(sum), 0);
    UdpDatagram udp;
    ASSERT_EQ(Parse(d, &udp), Drop::kNone);
    EXPECT_TRUE(udp.checksum_present);
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST(UdpTest, BadChecksum) {
  const std::vector<uint8_t> good = Datagram("payload!");
  for (size_t i = 0; i < good.size(); ++i) {
    if (i == 4 || i == 5) continue;  // the length field fails the length check instead
    std::vector<uint8_t> d = good;
    d[i] ^= 0x10;
    EXPECT_EQ(Parse(d), Drop::kUdpBadChecksum) << i;
  }
}

TEST(UdpTest, TruncatedAtEveryLength) {
  const std::vector<uint8_t> good = Datagram("0123456789");
  for (size_t n = 0; n < good.size(); ++n) {
    const std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    EXPECT_EQ(Parse(cut), n < 8 ? Drop::kUdpTruncated : Drop::kUdpBadLength) << n;
  }
}

TEST(UdpTest, LengthFieldChecks) {
  std::vector<uint8_t> d = Datagram("abcdef");
  d[6] = d[7] = 0;  // no checksum, so only the length rules apply
  for (uint16_t len : {0, 1, 7, 15, 0xffff}) {
    d[4] = static_cast<uint8_t>(len >> 8);
    d[5] = static_cast<uint8_t>(len);
    EXPECT_EQ(Parse(d), Drop::kUdpBadLength) << len;
  }
  // Shorter than the IP payload: the rest is ignored.
  d[4] = 0;
  d[5] = 10;
  UdpDatagram udp;
  ASSERT_EQ(Parse(d, &udp), Drop::kNone);
  EXPECT_EQ(std::string(udp.payload.begin(), udp.payload.end()), "ab");
}

TEST(UdpTest, ChecksumCoversOnlyTheLengthField) {
  // A datagram followed by trailing bytes in the IP payload still verifies.
  std::vector<uint8_t> d = Datagram("xyz");
  d.push_back(0x99);
  UdpDatagram udp;
  ASSERT_EQ(Parse(d, &udp), Drop::kNone);
  EXPECT_EQ(udp.payload.size(), 3u);
}

TEST(UdpTest, RealDatagramFromLinux) {
  // The UDP part of "hello ix\n" sent by a Linux socket from 10.200.0.2:40000 to
  // 10.200.0.1:9999 (checksum computed in software: tx offload off).
  const std::vector<uint8_t> d = Hex("9c40270f00116f7f68656c6c6f2069780a");
  UdpDatagram udp;
  ASSERT_EQ(ParseUdp(d, 0x0ac80002, 0x0ac80001, &udp), Drop::kNone);
  EXPECT_EQ(udp.src_port, 40000);
  EXPECT_EQ(udp.dst_port, 9999);
  EXPECT_EQ(std::string(udp.payload.begin(), udp.payload.end()), "hello ix\n");
  // Our builder produces the same bytes.
  std::vector<uint8_t> ours(d.size());
  ASSERT_EQ(BuildUdp(absl::MakeSpan(ours), 0x0ac80002, 0x0ac80001, 40000, 9999, udp.payload),
            d.size());
  EXPECT_EQ(ours, d);
}

}  // namespace
}  // namespace ix::net

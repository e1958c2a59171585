// Unit tests for the ARP packet parser and builders in arp.h (the cache: arp_cache_test.cc).
#include "dataplane/net/arp.h"

#include <vector>

#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;

// Real frames captured on a veth pair between two Linux 6.x namespaces.
constexpr absl::string_view kLinuxRequest =
    "ffffffffffffe2514c3c2b2d08060001080006040001e2514c3c2b2d0ac800020000000000000ac80001";
constexpr absl::string_view kLinuxReply =
    "e2514c3c2b2d2a154bb18ca00806000108000604 0002 2a154bb18ca0 0ac80001 e2514c3c2b2d 0ac80002";

std::vector<uint8_t> Payload(absl::string_view frame_hex) {
  std::vector<uint8_t> f = Hex(frame_hex);
  return std::vector<uint8_t>(f.begin() + kEthHeaderLen, f.end());
}

TEST(ArpTest, ParsesRealLinuxRequestAndReply) {
  ArpPacket req;
  ASSERT_EQ(ParseArp(Payload(kLinuxRequest), &req), Drop::kNone);
  EXPECT_EQ(req.op, kArpOpRequest);
  EXPECT_EQ(FormatMacAddress(req.sender_mac), "e2:51:4c:3c:2b:2d");
  EXPECT_EQ(FormatIpv4Address(req.sender_ip), "10.200.0.2");
  EXPECT_TRUE(req.target_mac.IsZero());
  EXPECT_EQ(FormatIpv4Address(req.target_ip), "10.200.0.1");
  ArpPacket rep;
  ASSERT_EQ(ParseArp(Payload(kLinuxReply), &rep), Drop::kNone);
  EXPECT_EQ(rep.op, kArpOpReply);
  EXPECT_EQ(FormatMacAddress(rep.sender_mac), "2a:15:4b:b1:8c:a0");
  EXPECT_EQ(FormatIpv4Address(rep.sender_ip), "10.200.0.1");
  EXPECT_EQ(rep.target_mac, req.sender_mac);
  EXPECT_EQ(rep.target_ip, req.sender_ip);
}

TEST(ArpTest, BuildersReproduceLinuxFrames) {
  ArpPacket rep;
  ASSERT_EQ(ParseArp(Payload(kLinuxReply), &rep), Drop::kNone);
  std::vector<uint8_t> out(kArpFrameLen);
  ASSERT_EQ(BuildArpFrame(absl::MakeSpan(out), rep.target_mac, rep), kArpFrameLen);
  EXPECT_EQ(out, Hex(kLinuxReply));
  ArpPacket req;
  ASSERT_EQ(ParseArp(Payload(kLinuxRequest), &req), Drop::kNone);
  ASSERT_EQ(BuildArpFrame(absl::MakeSpan(out), MacAddress::Broadcast(), req), kArpFrameLen);
  EXPECT_EQ(out, Hex(kLinuxRequest));
}

TEST(ArpTest, BuildThenParse) {
  const ArpPacket a{.op = kArpOpReply,
                    .sender_mac = testing::kMacA,
                    .sender_ip = testing::kIpA,
                    .target_mac = testing::kMacB,
                    .target_ip = testing::kIpB};
  std::vector<uint8_t> b(kArpPacketLen);
  ASSERT_EQ(BuildArp(absl::MakeSpan(b), a), kArpPacketLen);
  ArpPacket back;
  ASSERT_EQ(ParseArp(b, &back), Drop::kNone);
  EXPECT_EQ(back, a);
  std::vector<uint8_t> small(kArpPacketLen - 1, 0x33);
  EXPECT_EQ(BuildArp(absl::MakeSpan(small), a), 0u);
  EXPECT_EQ(small, std::vector<uint8_t>(kArpPacketLen - 1, 0x33));
  std::vector<uint8_t> small_frame(kArpFrameLen - 1);
  EXPECT_EQ(BuildArpFrame(absl::MakeSpan(small_frame), testing::kMacB, a), 0u);
}

TEST(ArpTest, PaddingIsIgnored) {
  std::vector<uint8_t> p = Payload(kLinuxRequest);
  p.resize(46, 0);  // a 60-byte frame's payload
  ArpPacket a;
  EXPECT_EQ(ParseArp(p, &a), Drop::kNone);
}

TEST(ArpTest, TruncatedAtEveryLength) {
  const std::vector<uint8_t> p = Payload(kLinuxRequest);
  for (size_t n = 0; n < p.size(); ++n) {
    const std::vector<uint8_t> cut(p.begin(), p.begin() + n);
    ArpPacket a;
    EXPECT_EQ(ParseArp(cut, &a), Drop::kArpTruncated) << n;
  }
}

TEST(ArpTest, WrongHardwareOrProtocol) {
  struct Case {
    size_t offset;
    uint8_t value;
    Drop want;
  };
  for (const Case& c : {Case{1, 6, Drop::kArpBadHardware},     // IEEE 802 networks
                        Case{0, 1, Drop::kArpBadHardware},     // 0x0101
                        Case{4, 8, Drop::kArpBadHardware},     // hardware length 8
                        Case{2, 0x86, Drop::kArpBadProtocol},  // 0x8600
                        Case{5, 16, Drop::kArpBadProtocol},    // protocol length 16 (IPv6)
                        Case{7, 3, Drop::kArpBadOpcode},       // RARP request
                        Case{7, 0, Drop::kArpBadOpcode}, Case{6, 1, Drop::kArpBadOpcode},  // 0x0101
                        Case{8, 0x01, Drop::kArpBadSender},  // multicast sender MAC
                        Case{14, 224, Drop::kArpBadSender},  // multicast sender IP
                        Case{14, 255, Drop::kArpBadSender}}) {
    std::vector<uint8_t> p = Payload(kLinuxRequest);
    p[c.offset] = c.value;
    ArpPacket a;
    EXPECT_EQ(ParseArp(p, &a), c.want) << "offset " << c.offset;
  }
}

TEST(ArpTest, ZeroSenderIsBadButProbeIsAccepted) {
  std::vector<uint8_t> p = Payload(kLinuxRequest);
  for (size_t i = 8; i < 14; ++i) p[i] = 0;  // sender MAC 0
  ArpPacket a;
  EXPECT_EQ(ParseArp(p, &a), Drop::kArpBadSender);
  p = Payload(kLinuxRequest);
  for (size_t i = 14; i < 18; ++i) p[i] = 0;  // RFC 5227 probe: sender IP 0
  ASSERT_EQ(ParseArp(p, &a), Drop::kNone);
  EXPECT_EQ(a.sender_ip, 0u);
}

}  // namespace
}  // namespace ix::net

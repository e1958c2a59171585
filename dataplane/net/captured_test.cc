// Runs a real trace captured on a veth pair between two Linux 6.x namespaces (ARP, ping, UDP,
// ICMP port unreachable, IPv6 MLD/RS noise) through every layer, as each of the two hosts.
#include <string>
#include <vector>

#include "dataplane/net/test_frames.h"
#include "dataplane/net/test_receive.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;
using testing::TestReceiver;

// Host a: 10.200.0.1 at 2a:15:4b:b1:8c:a0 (captured here); host b: 10.200.0.2 at
// e2:51:4c:3c:2b:2d. b pinged a (56 and 3 data bytes) and sent "hello ix\n" to a's UDP port 9999,
// which had no listener, so a answered port unreachable.
const std::vector<std::string> kTrace = {
    // broadcast, 42 bytes
    {"ffffffffffffe2514c3c2b2d08060001080006040001e2514c3c2b2d0ac800020000000000000ac80001"},
    // sent by us, 42 bytes
    {"e2514c3c2b2d2a154bb18ca0080600010800060400022a154bb18ca00ac80001e2514c3c2b2d0ac80002"},
    // to us, 98 bytes
    {"2a154bb18ca0e2514c3c2b2d0800450000549be940004001892d0ac800020ac800010800ec5e197c00010e5a076b"
     "00000000148c090000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031"
     "323334353637"},
    // sent by us, 98 bytes
    {"e2514c3c2b2d2a154bb18ca008004500005497f500004001cd210ac800010ac800020000f45e197c00010e5a076b"
     "00000000148c090000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031"
     "323334353637"},
    // to us, 51 bytes
    {"2a154bb18ca0e2514c3c2b2d080045000025acd04000401178650ac800020ac800019c40270f00116f7f68656c6c"
     "6f2069780a"},
    // sent by us, 79 bytes
    {"e2514c3c2b2d2a154bb18ca0080045c00041980200004001cc670ac800010ac80002030312b20000000045000025"
     "acd04000401178650ac800020ac800019c40270f00116f7f68656c6c6f2069780a"},
    // to us, 45 bytes
    {"2a154bb18ca0e2514c3c2b2d08004500001f9c0140004001894a0ac800020ac800010800dc5719a60001000102"},
    // sent by us, 45 bytes
    {"e2514c3c2b2d2a154bb18ca008004500001f980400004001cd470ac800010ac800020000e45719a60001000102"},
    // sent by us, 90 bytes
    {"3333000000162a154bb18ca086dd600000000024000100000000000000000000000000000000ff02000000000000"
     "00000000000000163a000502000001008f00e2380000000104000000ff0200000000000000000001ffb18ca0"},
    // multicast, 90 bytes
    {"333300000016e2514c3c2b2d86dd600000000024000100000000000000000000000000000000ff02000000000000"
     "00000000000000163a000502000001008f0044210000000104000000ff0200000000000000000001ff3c2b2d"},
    // multicast, 90 bytes
    {"333300000016e2514c3c2b2d86dd600000000024000100000000000000000000000000000000ff02000000000000"
     "00000000000000163a000502000001008f0044210000000104000000ff0200000000000000000001ff3c2b2d"},
    // sent by us, 90 bytes
    {"3333000000162a154bb18ca086dd6000000000240001fe8000000000000028154bfffeb18ca0ff02000000000000"
     "00000000000000163a000502000001008f00e4500000000104000000ff0200000000000000000001ffb18ca0"},
    // sent by us, 70 bytes
    {"3333000000022a154bb18ca086dd6000000000103afffe8000000000000028154bfffeb18ca0ff02000000000000"
     "000000000000000285007a600000000001012a154bb18ca0"},
    // sent by us, 90 bytes
    {"3333000000162a154bb18ca086dd6000000000240001fe8000000000000028154bfffeb18ca0ff02000000000000"
     "00000000000000163a000502000001008f00e4500000000104000000ff0200000000000000000001ffb18ca0"},
    // multicast, 86 bytes
    {"3333ff3c2b2de2514c3c2b2d86dd6000000000203aff00000000000000000000000000000000ff02000000000000"
     "00000001ff3c2b2d8700d37b00000000fe80000000000000e0514cfffe3c2b2d0e014b8bdd3eefb3"},
    // multicast, 90 bytes
    {"333300000016e2514c3c2b2d86dd6000000000240001fe80000000000000e0514cfffe3c2b2dff02000000000000"
     "00000000000000163a000502000001008f00eee40000000104000000ff0200000000000000000001ff3c2b2d"},
    // multicast, 70 bytes
    {"333300000002e2514c3c2b2d86dd6000000000103afffe80000000000000e0514cfffe3c2b2dff02000000000000"
     "00000000000000028500cbb7000000000101e2514c3c2b2d"},
    // multicast, 90 bytes
    {"333300000016e2514c3c2b2d86dd6000000000240001fe80000000000000e0514cfffe3c2b2dff02000000000000"
     "00000000000000163a000502000001008f00eee40000000104000000ff0200000000000000000001ff3c2b2d"},
};

const MacAddress kMacHostA{{0x2a, 0x15, 0x4b, 0xb1, 0x8c, 0xa0}};
const MacAddress kMacHostB{{0xe2, 0x51, 0x4c, 0x3c, 0x2b, 0x2d}};
constexpr Ipv4Address kIpHostA = 0x0ac80001;
constexpr Ipv4Address kIpHostB = 0x0ac80002;

TEST(CapturedTraceTest, AsHostA) {
  TestReceiver rx(kMacHostA, kIpHostA, 9999);
  const std::vector<Drop> want = {
      Drop::kNone, Drop::kEthOtherHost, Drop::kNone, Drop::kEthOtherHost,
      Drop::kNone, Drop::kEthOtherHost, Drop::kNone, Drop::kEthOtherHost,
  };
  ASSERT_GE(kTrace.size(), want.size());
  for (size_t i = 0; i < kTrace.size(); ++i) {
    const std::vector<uint8_t> frame = Hex(kTrace[i]);
    const Drop d = rx.Receive(frame, i * 1000);
    SCOPED_TRACE(i);
    if (i < want.size()) {
      EXPECT_EQ(d, want[i]) << DropName(d);
    } else {
      EXPECT_EQ(d, Drop::kEthUnknownType);  // the IPv6 frames, all to multicast MACs
    }
    if (i == 0) {
      // Our ARP reply is byte for byte what Linux sent (frame 1).
      ASSERT_EQ(rx.tx_len, kArpFrameLen);
      EXPECT_EQ(std::vector<uint8_t>(rx.tx.begin(), rx.tx.begin() + rx.tx_len), Hex(kTrace[1]));
      EXPECT_EQ(rx.arp().Lookup(kIpHostB, 0), kMacHostB);
    }
    if (i == 2 || i == 6) {
      // Echo replies: the same length as Linux's (frames 3 and 7), ICMP part identical.
      const std::vector<uint8_t> linux_reply = Hex(kTrace[i + 1]);
      ASSERT_EQ(rx.tx_len, linux_reply.size());
      EXPECT_EQ(std::vector<uint8_t>(rx.tx.begin() + 34, rx.tx.begin() + rx.tx_len),
                std::vector<uint8_t>(linux_reply.begin() + 34, linux_reply.end()));
    }
    if (i == 4) {
      EXPECT_EQ(std::string(rx.delivered.begin(), rx.delivered.end()), "hello ix\n");
    }
  }
  NetCounters expected;
  expected.eth_other_host = 4;
  expected.eth_unknown_type = kTrace.size() - want.size();
  EXPECT_EQ(rx.counters, expected);
}

TEST(CapturedTraceTest, AsHostB) {
  TestReceiver rx(kMacHostB, kIpHostB, 40000);
  for (size_t i = 0; i < kTrace.size(); ++i) (void)rx.Receive(Hex(kTrace[i]), i * 1000);
  NetCounters expected;
  expected.arp_ip_conflict = 1;  // its own request, looped back to it in this capture
  expected.arp_unsolicited = 1;  // a's reply to a request this fresh cache never sent
  expected.eth_other_host = 3;   // b's frames to a (two pings, one UDP)
  expected.icmp_other_type = 3;  // two echo replies and the port unreachable
  expected.eth_unknown_type = kTrace.size() - 8;
  EXPECT_EQ(rx.counters, expected);
}

TEST(CapturedTraceTest, AsAnotherHostOnTheSegment) {
  const MacAddress mac{{0x02, 0, 0, 0, 0, 0x99}};
  TestReceiver rx(mac, 0x0ac80063, 9999);
  for (size_t i = 0; i < kTrace.size(); ++i) (void)rx.Receive(Hex(kTrace[i]), i * 1000);
  NetCounters expected;
  expected.arp_not_for_us = 1;  // the broadcast request
  expected.eth_other_host = 7;  // every unicast frame
  expected.eth_unknown_type = kTrace.size() - 8;
  EXPECT_EQ(rx.counters, expected);
  EXPECT_EQ(rx.arp().entries(), 0u);
}

}  // namespace
}  // namespace ix::net

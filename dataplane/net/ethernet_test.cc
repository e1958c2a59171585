// Unit tests for ethernet.h: MAC text form, header build/parse, the VLAN policy, truncation.
#include "dataplane/net/ethernet.h"

#include <vector>

#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;

TEST(MacAddressTest, ParsesAndFormats) {
  auto mac = ParseMacAddress("2a:15:4B:b1:8c:A0");
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ(*mac, (MacAddress{{0x2a, 0x15, 0x4b, 0xb1, 0x8c, 0xa0}}));
  EXPECT_EQ(FormatMacAddress(*mac), "2a:15:4b:b1:8c:a0");
  EXPECT_EQ(FormatMacAddress(MacAddress::Broadcast()), "ff:ff:ff:ff:ff:ff");
  auto again = ParseMacAddress(FormatMacAddress(*mac));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *mac);
}

TEST(MacAddressTest, RejectsMalformedText) {
  for (absl::string_view bad :
       {"", "2a:15:4b:b1:8c", "2a:15:4b:b1:8c:a0:", "2a-15-4b-b1-8c-a0", "2a:15:4b:b1:8c:g0",
        "2a:15:4b:b1:8ca0:", "2a:15:4b:b1:8c:a", " 2a:15:4b:b1:8c:a0", "2a:15:4b:b1:8c:a00"}) {
    EXPECT_FALSE(ParseMacAddress(bad).ok()) << bad;
  }
}

TEST(MacAddressTest, Classifies) {
  EXPECT_TRUE(MacAddress::Broadcast().IsBroadcast());
  EXPECT_TRUE(MacAddress::Broadcast().IsMulticast());
  EXPECT_FALSE(MacAddress::Broadcast().IsUnicast());
  EXPECT_TRUE((MacAddress{{0x01, 0x00, 0x5e, 0, 0, 1}}).IsMulticast());
  EXPECT_TRUE(MacAddress{}.IsZero());
  EXPECT_FALSE(MacAddress{}.IsUnicast());
  EXPECT_TRUE(testing::kMacA.IsUnicast());
}

TEST(EthernetTest, BuildThenParse) {
  std::vector<uint8_t> f(kEthHeaderLen + 3, 0xee);
  ASSERT_EQ(BuildEthernetHeader(absl::MakeSpan(f), testing::kMacA, testing::kMacB, kEtherTypeArp),
            kEthHeaderLen);
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(f, &eth), Drop::kNone);
  EXPECT_EQ(eth.dst, testing::kMacA);
  EXPECT_EQ(eth.src, testing::kMacB);
  EXPECT_EQ(eth.ethertype, kEtherTypeArp);
  EXPECT_FALSE(eth.has_vlan);
  EXPECT_EQ(eth.header_len, kEthHeaderLen);
  EXPECT_EQ(eth.payload.data(), f.data() + kEthHeaderLen);
  EXPECT_EQ(eth.payload.size(), 3u);
}

TEST(EthernetTest, BuildIntoShortBufferWritesNothing) {
  std::vector<uint8_t> f(kEthHeaderLen - 1, 0x55);
  EXPECT_EQ(BuildEthernetHeader(absl::MakeSpan(f), testing::kMacA, testing::kMacB, 0x0800), 0u);
  EXPECT_EQ(f, std::vector<uint8_t>(kEthHeaderLen - 1, 0x55));
}

TEST(EthernetTest, RealArpRequestFromLinux) {
  // Captured from Linux 6.x over veth: "who has 10.200.0.1 tell 10.200.0.2".
  const auto f =
      Hex("ffffffffffffe2514c3c2b2d08060001080006040001e2514c3c2b2d0ac80002"
          "0000000000000ac80001");
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(f, &eth), Drop::kNone);
  EXPECT_TRUE(eth.dst.IsBroadcast());
  EXPECT_EQ(FormatMacAddress(eth.src), "e2:51:4c:3c:2b:2d");
  EXPECT_EQ(eth.ethertype, kEtherTypeArp);
  EXPECT_EQ(eth.payload.size(), 28u);
}

TEST(EthernetTest, SkipsOneVlanTag) {
  // dst, src, 8100, TCI (PCP 5, VID 100), 0800, payload.
  const std::vector<uint8_t> frame = Hex("02000000000a 02000000000b 8100 a064 0800 45 00");
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(frame, &eth), Drop::kNone);
  EXPECT_TRUE(eth.has_vlan);
  EXPECT_EQ(eth.vlan_tci, 0xa064);
  EXPECT_EQ(eth.vlan_tci & 0x0fff, 100);
  EXPECT_EQ(eth.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(eth.header_len, 18u);
  ASSERT_EQ(eth.payload.size(), 2u);
  EXPECT_EQ(eth.payload[0], 0x45);
}

TEST(EthernetTest, DropsStackedVlanTags) {
  EthernetFrame eth;
  EXPECT_EQ(ParseEthernet(Hex("02000000000a 02000000000b 8100 0064 8100 0065 0800"), &eth),
            Drop::kEthStackedVlan);
  EXPECT_EQ(ParseEthernet(Hex("02000000000a 02000000000b 88a8 0064 8100 0065 0800"), &eth),
            Drop::kEthStackedVlan);
  EXPECT_EQ(ParseEthernet(Hex("02000000000a 02000000000b 8100 0064 88a8 0065 0800"), &eth),
            Drop::kEthStackedVlan);
  EXPECT_EQ(ParseEthernet(Hex("02000000000a 02000000000b 9100 0064 0800"), &eth),
            Drop::kEthStackedVlan);
}

TEST(EthernetTest, Drops8023LengthFrames) {
  EthernetFrame eth;
  // An 802.3 frame with LLC (STP-like): type field 0x0026 is a length.
  EXPECT_EQ(ParseEthernet(Hex("0180c2000000 02000000000b 0026 424203"), &eth),
            Drop::kEthNotEthernetII);
  EXPECT_EQ(ParseEthernet(Hex("0180c2000000 02000000000b 05ff"), &eth), Drop::kEthNotEthernetII);
  EXPECT_EQ(ParseEthernet(Hex("0180c2000000 02000000000b 0600"), &eth), Drop::kNone);
  // The same behind a VLAN tag.
  EXPECT_EQ(ParseEthernet(Hex("0180c2000000 02000000000b 8100 0001 0026"), &eth),
            Drop::kEthNotEthernetII);
}

TEST(EthernetTest, TruncatedAtEveryLength) {
  const std::vector<uint8_t> plain = Hex("02000000000a 02000000000b 0800");
  const std::vector<uint8_t> tagged = Hex("02000000000a 02000000000b 8100 0064 0800");
  for (size_t n = 0; n < plain.size(); ++n) {
    const std::vector<uint8_t> cut(plain.begin(), plain.begin() + n);  // exactly-sized buffer
    EthernetFrame eth;
    EXPECT_EQ(ParseEthernet(cut, &eth), Drop::kEthTruncated) << n;
  }
  for (size_t n = plain.size(); n < tagged.size(); ++n) {
    const std::vector<uint8_t> cut(tagged.begin(), tagged.begin() + n);
    EthernetFrame eth;
    EXPECT_EQ(ParseEthernet(cut, &eth), Drop::kEthTruncated) << n;
  }
  EthernetFrame eth;
  EXPECT_EQ(ParseEthernet(plain, &eth), Drop::kNone);
  EXPECT_TRUE(eth.payload.empty());
  EXPECT_EQ(ParseEthernet(tagged, &eth), Drop::kNone);
  EXPECT_TRUE(eth.payload.empty());
}

TEST(EthernetTest, FailedParseLeavesOutputAlone) {
  EthernetFrame eth;
  eth.ethertype = 0x1234;
  EXPECT_EQ(ParseEthernet(Hex("0102"), &eth), Drop::kEthTruncated);
  EXPECT_EQ(eth.ethertype, 0x1234);
}

TEST(EthernetTest, DestinationFilter) {
  NetCounters counters;
  EthernetFrame eth;
  eth.dst = testing::kMacA;
  EXPECT_EQ(CheckEthernetDestination(eth, testing::kMacA), Drop::kNone);
  eth.dst = MacAddress::Broadcast();
  EXPECT_EQ(CheckEthernetDestination(eth, testing::kMacA), Drop::kNone);
  eth.dst = MacAddress{{0x33, 0x33, 0, 0, 0, 1}};
  EXPECT_EQ(CheckEthernetDestination(eth, testing::kMacA), Drop::kNone);
  eth.dst = testing::kMacB;
  const Drop d = CheckEthernetDestination(eth, testing::kMacA);
  EXPECT_EQ(d, Drop::kEthOtherHost);
  CountDrop(&counters, d);
  EXPECT_EQ(counters.eth_other_host, 1u);
}

}  // namespace
}  // namespace ix::net

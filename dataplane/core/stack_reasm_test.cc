// Unit tests of the Stack's IPv4 reassembly (Stack::ReceiveFragment over net::Ipv4Reassembler)
// against raw fragments over the in-memory NIC: UDP and ICMP echo carried in fragments, the
// reassembled payload's lifetime, reassembly off, timeouts, and an echo reply too big for a frame.
// The reassembler's own limits and policy are tested in dataplane/net/ipv4_reasm_test.cc.
#include <cstring>
#include <vector>

#include "dataplane/core/stack.h"
#include "dataplane/core/stack_raw_peer.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/udp.h"
#include "dataplane/net/wire.h"
#include "gtest/gtest.h"

namespace ix::dp {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr net::Ipv4Address kIpA = 0x0a000001;  // 10.0.0.1: the stack
constexpr net::Ipv4Address kPeerIp = testing::RawPeer::kPeerIp;
const net::MacAddress kMacA{{0x02, 0, 0, 0, 0, 0xa}};
constexpr uint16_t kPort = 9000;

StackConfig Cfg() {
  StackConfig c;
  c.mac = kMacA;
  c.ip = kIpA;
  c.tcp.max_connections = 16;
  return c;
}

struct Raw : testing::RawPeer {
  explicit Raw(StackConfig c = Cfg()) { MakeStack(c); }

  // Sends `payload` (an IP payload of `proto`) from the peer to the stack as fragments of at most
  // `frag_bytes` payload bytes each (a multiple of 8), in the order `order` gives (indexes of the
  // fragments; empty: in order).
  void SendFragmented(uint8_t proto, uint16_t id, const std::vector<uint8_t>& payload,
                      size_t frag_bytes, std::vector<size_t> order = {}) {
    const size_t n = (payload.size() + frag_bytes - 1) / frag_bytes;
    if (order.empty()) {
      for (size_t i = 0; i < n; ++i) order.push_back(i);
    }
    for (size_t i : order) {
      const size_t off = i * frag_bytes;
      const size_t len = std::min(frag_bytes, payload.size() - off);
      std::vector<uint8_t> f = Ipv4Frame(kMacA, kPeerIp, kIpA, proto,
                                         std::vector<uint8_t>(payload.begin() + off,
                                                              payload.begin() + off + len),
                                         id);
      uint8_t* ip = f.data() + net::kEthHeaderLen;
      net::StoreBe16(ip + 6, static_cast<uint16_t>((i + 1 < n ? 0x2000 : 0) | (off / 8)));
      net::StoreBe16(ip + 10, 0);
      const uint16_t csum = net::InternetChecksum(absl::MakeSpan(ip, net::kIpv4HeaderLen));
      memcpy(ip + 10, &csum, sizeof(csum));  // the checksum is in memory order
      Send(f);
    }
  }
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + i / 251);
  return v;
}

std::vector<uint8_t> UdpBytes(const std::vector<uint8_t>& data, uint16_t dport) {
  std::vector<uint8_t> u(net::kUdpHeaderLen + data.size());
  EXPECT_EQ(net::BuildUdp(absl::MakeSpan(u), kPeerIp, kIpA, 40000, dport, data), u.size());
  return u;
}

std::vector<uint8_t> EchoRequest(size_t data_len) {
  const std::vector<uint8_t> data = Pattern(data_len, 3);
  std::vector<uint8_t> m(8 + data_len);
  EXPECT_EQ(net::BuildIcmpEcho(absl::MakeSpan(m), net::kIcmpEchoRequest, 77, 1, data), m.size());
  return m;
}

// Parses a frame the stack sent as Ethernet, IPv4 and ICMP, each of which must be well formed.
// `frame` must outlive *ip and *msg, which point into it.
void ParseIcmpFrame(const std::vector<uint8_t>& frame, net::Ipv4Packet* ip, net::IcmpMessage* msg) {
  net::EthernetFrame eth;
  ASSERT_EQ(net::ParseEthernet(frame, &eth), net::Drop::kNone);
  ASSERT_EQ(net::ParseIpv4(eth.payload, ip), net::Drop::kNone);
  ASSERT_EQ(net::ParseIcmp(ip->payload, msg), net::Drop::kNone);
}

TEST(StackReasm, UdpInFragmentsOutOfOrderIsDeliveredWhole) {
  Raw r;
  ASSERT_TRUE(r.stack->UdpBind(kPort).ok());
  const std::vector<uint8_t> data = Pattern(3000, 1);
  r.SendFragmented(net::kIpProtoUdp, 0x1234, UdpBytes(data, kPort), 1480, {2, 0, 1});
  r.stack->RunOnce(1 * kSec);
  StackEvent ev[4];
  ASSERT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 1u);
  EXPECT_EQ(ev[0].type, StackEventType::kUdpReceived);
  EXPECT_EQ(ev[0].remote_ip, kPeerIp);
  EXPECT_EQ(ev[0].remote_port, 40000);
  EXPECT_EQ(ev[0].local_port, kPort);
  EXPECT_EQ(std::vector<uint8_t>(ev[0].payload.begin(), ev[0].payload.end()), data);
  EXPECT_EQ(r.Counter("stack.ip_fragments"), 3u);
  EXPECT_EQ(r.Counter("stack.ip_reassembled"), 1u);
  EXPECT_EQ(r.Counter("stack.reasm_datagrams"), 0u);
  EXPECT_EQ(r.Counter("net.ip_fragment"), 0u);
}

TEST(StackReasm, FragmentsAcrossIterationsAndPayloadsValidUntilTheNextIteration) {
  Raw r;
  ASSERT_TRUE(r.stack->UdpBind(kPort).ok());
  const std::vector<uint8_t> a = Pattern(2000, 10), b = Pattern(1600, 20);
  r.SendFragmented(net::kIpProtoUdp, 1, UdpBytes(a, kPort), 1024, {0});
  r.stack->RunOnce(1 * kSec);
  EXPECT_EQ(r.Counter("stack.reasm_datagrams"), 1u);
  EXPECT_GT(r.Counter("stack.reasm_bytes"), 0u);
  // The rest of a, and all of b, in one iteration: both payloads stay valid together.
  r.SendFragmented(net::kIpProtoUdp, 1, UdpBytes(a, kPort), 1024, {1});
  r.SendFragmented(net::kIpProtoUdp, 2, UdpBytes(b, kPort), 512);
  r.stack->RunOnce(2 * kSec);
  StackEvent ev[4];
  ASSERT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 2u);
  EXPECT_EQ(std::vector<uint8_t>(ev[0].payload.begin(), ev[0].payload.end()), a);
  EXPECT_EQ(std::vector<uint8_t>(ev[1].payload.begin(), ev[1].payload.end()), b);
  EXPECT_EQ(r.Counter("stack.reasm_datagrams"), 0u);
  EXPECT_EQ(r.Counter("stack.reasm_bytes"), 0u);
  EXPECT_EQ(r.Counter("stack.ip_reassembled"), 2u);
}

TEST(StackReasm, OffDropsEveryFragmentCounted) {
  StackConfig c = Cfg();
  c.reasm.max_datagrams = 0;
  Raw r(c);
  ASSERT_TRUE(r.stack->UdpBind(kPort).ok());
  r.SendFragmented(net::kIpProtoUdp, 5, UdpBytes(Pattern(3000, 2), kPort), 1480);
  r.stack->RunOnce(1 * kSec);
  StackEvent ev[4];
  EXPECT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 0u);
  EXPECT_EQ(r.Counter("net.ip_fragment"), 3u);
  EXPECT_EQ(r.Counter("stack.ip_fragments"), 0u);
}

TEST(StackReasm, BadReassemblyConfigIsRefusedByCreate) {
  StackConfig c = Cfg();
  c.reasm.max_datagrams = 5000;
  auto s = Stack::Create(c, &testing::RawPeer().pair.a());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StackReasm, FragmentedPingIsAnsweredInOneFrame) {
  Raw r;
  const std::vector<uint8_t> req = EchoRequest(1400);  // 1408 bytes of ICMP: one reply frame
  r.SendFragmented(net::kIpProtoIcmp, 9, req, 512);
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  net::Ipv4Packet ip;
  net::IcmpMessage msg;
  ASSERT_NO_FATAL_FAILURE(ParseIcmpFrame(out[0], &ip, &msg));
  EXPECT_FALSE(ip.IsFragment());
  EXPECT_EQ(msg.type, net::kIcmpEchoReply);
  EXPECT_EQ(std::vector<uint8_t>(msg.message.begin() + 4, msg.message.end()),
            std::vector<uint8_t>(req.begin() + 4, req.end()));
  EXPECT_EQ(r.stack->counters().icmp_echo_replies, 1u);
}

TEST(StackReasm, EchoReplyLargerThanTheMtuIsDroppedNotSentOversize) {
  Raw r;
  r.SendFragmented(net::kIpProtoIcmp, 10, EchoRequest(1600), 1024);
  r.stack->RunOnce(1 * kSec);
  EXPECT_TRUE(r.Receive().empty());
  EXPECT_EQ(r.Counter("stack.ip_reassembled"), 1u);
  EXPECT_EQ(r.Counter("net.icmp_no_room"), 1u);
  EXPECT_EQ(r.stack->counters().icmp_echo_replies, 0u);
}

TEST(StackReasm, IncompleteDatagramTimesOutAndIsFreed) {
  Raw r;
  ASSERT_TRUE(r.stack->UdpBind(kPort).ok());
  r.SendFragmented(net::kIpProtoUdp, 11, UdpBytes(Pattern(3000, 4), kPort), 1480, {0, 2});
  r.stack->RunOnce(1 * kSec);
  EXPECT_EQ(r.Counter("stack.reasm_datagrams"), 1u);
  // The reassembly deadline is one of the stack's deadlines (an idle loop wakes for it).
  EXPECT_LE(r.stack->NextDeadline(), 1 * kSec + r.stack->config().reasm.timeout_ns);
  r.stack->RunOnce(1 * kSec + r.stack->config().reasm.timeout_ns + 1);
  EXPECT_EQ(r.Counter("stack.reasm_datagrams"), 0u);
  EXPECT_EQ(r.Counter("stack.reasm_bytes"), 0u);
  EXPECT_EQ(r.Counter("net.ip_reasm_timeout"), 1u);
  StackEvent ev[4];
  EXPECT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 0u);
}

TEST(StackReasm, FragmentedUdpToAnUnboundPortGetsPortUnreachableQuotingTheWhole) {
  Raw r;
  const std::vector<uint8_t> udp = UdpBytes(Pattern(2000, 5), 9999);
  r.SendFragmented(net::kIpProtoUdp, 12, udp, 1480);
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  net::Ipv4Packet ip;
  net::IcmpMessage msg;
  ASSERT_NO_FATAL_FAILURE(ParseIcmpFrame(out[0], &ip, &msg));
  EXPECT_EQ(msg.type, net::kIcmpDestUnreachable);
  EXPECT_EQ(msg.code, net::kIcmpCodePortUnreachable);
  // The quoted header is the reassembled datagram's: whole length, no fragment bits.
  ASSERT_GE(msg.data.size(), 28u);
  EXPECT_EQ(net::LoadBe16(msg.data.data() + 2), net::kIpv4HeaderLen + udp.size());
  EXPECT_EQ(net::LoadBe16(msg.data.data() + 6) & 0x3fff, 0);
  EXPECT_EQ(std::vector<uint8_t>(msg.data.begin() + 20, msg.data.end()),
            std::vector<uint8_t>(udp.begin(), udp.begin() + (msg.data.size() - 20)));
}

}  // namespace
}  // namespace ix::dp

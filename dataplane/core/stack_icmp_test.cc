// Unit tests of the Stack's ICMP errors (stack_icmp.cc) against raw frames over the in-memory NIC:
// port unreachable for UDP to an unbound port (well-formed, only when allowed, rate limited) and
// received unreachables ending a connect, forged or malformed ones counted.
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/core/stack.h"
#include "dataplane/core/stack_raw_peer.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/udp.h"
#include "dataplane/net/wire.h"
#include "dataplane/nic/mem_pair.h"
#include "gtest/gtest.h"

namespace ix::dp {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr net::Ipv4Address kIpA = 0x0a000001;     // 10.0.0.1: the stack
constexpr net::Ipv4Address kPeerIp = testing::RawPeer::kPeerIp;  // 10.0.0.3: raw frames
const net::MacAddress kMacA{{0x02, 0, 0, 0, 0, 0xa}};
const net::MacAddress& kMacPeer = testing::RawPeer::kPeerMac;

// The stack (kIpA) and a raw peer (kPeerIp) that sends hand-built frames.
struct Raw : testing::RawPeer {
  explicit Raw(StackConfig c = Cfg()) { MakeStack(c); }
  static StackConfig Cfg() {
    StackConfig c;
    c.mac = kMacA;
    c.ip = kIpA;
    c.tcp.max_connections = 16;
    return c;
  }
  static std::vector<uint8_t> Frame(const net::MacAddress& dst_mac, net::Ipv4Address src_ip,
                                    net::Ipv4Address dst_ip, uint8_t proto,
                                    const std::vector<uint8_t>& payload) {
    return Ipv4Frame(dst_mac, src_ip, dst_ip, proto, payload, 0x4242);
  }
  static std::vector<uint8_t> Udp(net::Ipv4Address src, net::Ipv4Address dst, uint16_t dport) {
    const uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};
    std::vector<uint8_t> u(8 + sizeof(data));
    EXPECT_EQ(net::BuildUdp(absl::MakeSpan(u), src, dst, 40000, dport, data), u.size());
    return u;
  }
};

TEST(StackIcmp, UdpToUnboundPortGetsOneWellFormedPortUnreachable) {
  Raw r;
  const std::vector<uint8_t> in = Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoUdp,
                                             Raw::Udp(kPeerIp, kIpA, 9999));
  r.Send(in);
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  const std::vector<uint8_t>& f = out[0];
  net::EthernetFrame eth;
  ASSERT_EQ(net::ParseEthernet(f, &eth), net::Drop::kNone);
  EXPECT_EQ(eth.dst, kMacPeer);
  EXPECT_EQ(eth.src, kMacA);
  net::Ipv4Packet ip;
  ASSERT_EQ(net::ParseIpv4(eth.payload, &ip), net::Drop::kNone);  // checks the header checksum
  EXPECT_EQ(ip.src, kIpA);
  EXPECT_EQ(ip.dst, kPeerIp);
  EXPECT_EQ(ip.protocol, net::kIpProtoIcmp);
  EXPECT_EQ(ip.tos, 0xc0);
  net::IcmpMessage msg;
  ASSERT_EQ(net::ParseIcmp(ip.payload, &msg), net::Drop::kNone);  // checks the ICMP checksum
  EXPECT_EQ(msg.type, net::kIcmpDestUnreachable);
  EXPECT_EQ(msg.code, net::kIcmpCodePortUnreachable);
  EXPECT_EQ(net::LoadBe32(msg.message.data() + 4), 0u);
  // The quote is the whole offending datagram (it is shorter than 548 bytes).
  EXPECT_EQ(std::vector<uint8_t>(msg.data.begin(), msg.data.end()),
            std::vector<uint8_t>(in.begin() + 14, in.end()));
  EXPECT_EQ(r.Counter("stack.icmp_port_unreachable_sent"), 1u);
  EXPECT_EQ(r.Counter("net.udp_no_listener"), 1u);
  // A bound port gets its datagram, no error.
  ASSERT_TRUE(r.stack->UdpBind(9999).ok());
  r.Send(in);
  r.stack->RunOnce(1 * kSec);
  EXPECT_TRUE(r.Receive().empty());
  EXPECT_EQ(r.stack->counters().udp_delivered, 1u);
}

TEST(StackIcmp, NoErrorForBroadcastOrNonUnicastSource) {
  Raw r;
  // IP broadcast in a link broadcast.
  r.Send(Raw::Frame(net::MacAddress::Broadcast(), kPeerIp, net::kIpv4Broadcast, net::kIpProtoUdp,
                    Raw::Udp(kPeerIp, net::kIpv4Broadcast, 9999)));
  // Our unicast IP in a link-layer broadcast frame.
  r.Send(Raw::Frame(net::MacAddress::Broadcast(), kPeerIp, kIpA, net::kIpProtoUdp,
                    Raw::Udp(kPeerIp, kIpA, 9999)));
  // Sources that are not one host: 0.0.0.0, the subnet broadcast, multicast, ourselves.
  for (net::Ipv4Address src : {0u, 0x0a0000ffu, 0xe0000001u, kIpA}) {
    r.Send(Raw::Frame(kMacA, src, kIpA, net::kIpProtoUdp, Raw::Udp(src, kIpA, 9999)));
  }
  r.stack->RunOnce(1 * kSec);
  EXPECT_TRUE(r.Receive().empty());
  EXPECT_EQ(r.stack->counters().icmp_port_unreachable_sent, 0u);
  EXPECT_EQ(r.stack->counters().icmp_errors_not_allowed, 6u);
  EXPECT_EQ(r.stack->net_counters().udp_no_listener, 6u);
}

TEST(StackIcmp, RateLimitHolds) {
  StackConfig c = Raw::Cfg();
  c.icmp_errors_per_second = 10;
  c.icmp_error_burst = 5;
  Raw r(c);
  const std::vector<uint8_t> in = Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoUdp,
                                             Raw::Udp(kPeerIp, kIpA, 9999));
  for (int i = 0; i < 20; ++i) r.Send(in);
  r.stack->RunOnce(1 * kSec);
  EXPECT_EQ(r.Receive().size(), 5u) << "the burst";
  EXPECT_EQ(r.stack->counters().icmp_errors_rate_limited, 15u);
  // 100 ms later: one more token.
  for (int i = 0; i < 3; ++i) r.Send(in);
  r.stack->RunOnce(1 * kSec + 100'000'000);
  EXPECT_EQ(r.Receive().size(), 1u);
  // 10 s later: the bucket is full again, but holds only the burst.
  for (int i = 0; i < 20; ++i) r.Send(in);
  r.stack->RunOnce(11 * kSec);
  EXPECT_EQ(r.Receive().size(), 5u);
  EXPECT_EQ(r.stack->counters().icmp_port_unreachable_sent, 11u);
  EXPECT_EQ(r.stack->counters().icmp_errors_rate_limited, 15u + 2 + 15);

  c.icmp_errors_per_second = 0;  // off
  Raw off(c);
  off.Send(in);
  off.stack->RunOnce(1 * kSec);
  EXPECT_TRUE(off.Receive().empty());
  EXPECT_EQ(off.stack->counters().icmp_errors_rate_limited, 1u);
}

// Connects to the peer and returns the SYN's IPv4 packet (after answering the ARP request).
std::vector<uint8_t> ConnectAndTakeSyn(Raw& r, net::tcp::ConnId* id) {
  auto c = r.stack->Connect(kPeerIp, 80, 5555);
  EXPECT_TRUE(c.ok()) << c.status();
  *id = *c;
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  EXPECT_EQ(out.size(), 1u);  // the ARP request
  std::vector<uint8_t> arp(net::kArpFrameLen);
  net::ArpPacket reply{net::kArpOpReply, kMacPeer, kPeerIp, kMacA, kIpA};
  EXPECT_EQ(net::BuildArpFrame(absl::MakeSpan(arp), kMacA, reply), arp.size());
  r.Send(arp);
  r.stack->RunOnce(1 * kSec);
  out = r.Receive();
  EXPECT_EQ(out.size(), 1u);  // the SYN
  if (out.empty()) return {};
  net::EthernetFrame eth;
  EXPECT_EQ(net::ParseEthernet(out[0], &eth), net::Drop::kNone);
  net::Ipv4Packet ip;
  EXPECT_EQ(net::ParseIpv4(eth.payload, &ip), net::Drop::kNone);
  std::vector<uint8_t> pkt(ip.header.begin(), ip.header.end());
  pkt.insert(pkt.end(), ip.payload.begin(), ip.payload.end());
  return pkt;
}

std::vector<uint8_t> IcmpError(uint8_t type, uint8_t code, const std::vector<uint8_t>& quoted) {
  std::vector<uint8_t> m(8 + quoted.size());
  const auto q = absl::MakeConstSpan(quoted);
  EXPECT_EQ(net::BuildIcmpError(absl::MakeSpan(m), type, code, 0, q.first(20), q.subspan(20)),
            m.size());
  return m;
}

TEST(StackIcmp, PortUnreachableEndsAConnectAndForgeriesAreCounted) {
  Raw r;
  net::tcp::ConnId id = net::tcp::kInvalidConnId;
  const std::vector<uint8_t> syn = ConnectAndTakeSyn(r, &id);
  ASSERT_GE(syn.size(), 28u);
  StackEvent ev[4];
  ASSERT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 0u);
  // Forged: the quoted sequence number is not our ISS.
  std::vector<uint8_t> forged = syn;
  forged[20 + 7] ^= 1;
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp, IcmpError(3, 3, forged)));
  // Malformed: truncated quote; quote of a packet not from us; quote of GRE; to broadcast.
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp,
                    IcmpError(3, 3, std::vector<uint8_t>(syn.begin(), syn.begin() + 24))));
  std::vector<uint8_t> other = syn;
  other[12] = 9;  // quoted source 9.0.0.1
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp, IcmpError(3, 3, other)));
  std::vector<uint8_t> gre = syn;
  gre[9] = 47;
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp, IcmpError(3, 3, gre)));
  r.Send(Raw::Frame(net::MacAddress::Broadcast(), kPeerIp, net::kIpv4Broadcast,
                    net::kIpProtoIcmp, IcmpError(3, 3, syn)));
  // About a UDP datagram we sent: counted only.
  std::vector<uint8_t> udp = syn;
  udp[9] = net::kIpProtoUdp;
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp, IcmpError(3, 3, udp)));
  r.stack->RunOnce(1 * kSec);
  EXPECT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 0u);
  EXPECT_EQ(r.stack->Info(id)->state, net::tcp::TcpState::kSynSent);
  EXPECT_EQ(r.Counter("tcp.icmp_out_of_window"), 1u);
  EXPECT_EQ(r.Counter("net.icmp_bad_quote"), 1u);
  EXPECT_EQ(r.Counter("net.icmp_quote_not_ours"), 1u);
  EXPECT_EQ(r.Counter("net.icmp_quote_other_protocol"), 1u);
  EXPECT_EQ(r.Counter("net.icmp_not_unicast"), 1u);
  EXPECT_EQ(r.Counter("stack.icmp_udp_errors"), 1u);
  EXPECT_EQ(r.Counter("stack.icmp_errors_rx"), 2u);
  EXPECT_TRUE(r.Receive().empty()) << "no ICMP error is ever answered";
  // The real one.
  r.Send(Raw::Frame(kMacA, kPeerIp, kIpA, net::kIpProtoIcmp, IcmpError(3, 3, syn)));
  r.stack->RunOnce(1 * kSec);
  ASSERT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 1u);
  EXPECT_EQ(ev[0].type, StackEventType::kTcpReset);
  EXPECT_EQ(ev[0].conn, id);
  EXPECT_EQ(ev[0].error, net::tcp::TcpError::kPortUnreachable);
  EXPECT_EQ(r.Counter("tcp.icmp_connect_aborts"), 1u);
  EXPECT_EQ(r.stack->Close(id), net::tcp::TcpError::kOk);
}

}  // namespace
}  // namespace ix::dp

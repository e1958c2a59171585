// Unit tests of the Stack over the in-memory NIC pair: two stacks talking (ARP, UDP, TCP with an
// unreliable wire), raw frames against one stack (ICMP echo, bad frames, batching), and the
// idle poller. Time is passed in and advanced by the tests only.
#include "dataplane/core/stack.h"
#include "dataplane/core/stack_raw_peer.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/core/idle_poller.h"
#include "dataplane/core/stack_fault_queue.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/udp.h"
#include "dataplane/net/wire.h"
#include "dataplane/nic/mem_pair.h"
#include "gtest/gtest.h"

namespace ix::dp {
namespace {

using net::tcp::ConnId;
using net::tcp::TcpError;

constexpr uint64_t kUs = 1'000;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr net::Ipv4Address kIpA = 0x0a000001;  // 10.0.0.1
constexpr net::Ipv4Address kIpB = 0x0a000002;  // 10.0.0.2
const net::MacAddress kMacA{{0x02, 0, 0, 0, 0, 0xa}};
const net::MacAddress kMacB{{0x02, 0, 0, 0, 0, 0xb}};
const net::MacAddress kMacPeer{{0x02, 0, 0, 0, 0, 0xc}};

std::unique_ptr<core::MbufPool> MakePool(uint32_t n = 2048) {
  core::MbufPoolOptions o;
  o.num_buffers = n;
  o.huge_pages = core::HugePagePolicy::kNever;
  auto p = core::MbufPool::Create(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

StackConfig Config(const net::MacAddress& mac, net::Ipv4Address ip) {
  StackConfig c;
  c.mac = mac;
  c.ip = ip;
  c.tcp.max_connections = 64;
  c.tcp.time_wait_ns = 2 * kSec;
  return c;
}

uint64_t CounterByName(const Stack& s, absl::string_view name) {
  uint64_t v = ~uint64_t{0};
  s.ForEachCounter([&](absl::string_view n, uint64_t value) {
    if (n == name) v = value;
  });
  return v;
}

// Two stacks joined by a MemPair, stepped together in simulated time.
struct TwoStacks {
  explicit TwoStacks(uint32_t wire_capacity = 4096, StackConfig ca = Config(kMacA, kIpA),
                     StackConfig cb = Config(kMacB, kIpB))
      : pool_a(MakePool()), pool_b(MakePool()),
        pair(pool_a.get(), pool_b.get(), /*seed=*/7, wire_capacity) {
    auto sa = Stack::Create(ca, &pair.a());
    auto sb = Stack::Create(cb, &pair.b());
    EXPECT_TRUE(sa.ok()) << sa.status();
    EXPECT_TRUE(sb.ok()) << sb.status();
    a = *std::move(sa);
    b = *std::move(sb);
    Step();  // the stacks' clocks start at `now`
  }

  // One iteration of both stacks; events go to the handlers. Returns the work done.
  int Step() {
    pair.SetNowNs(now);
    int work = a->RunOnce(now);
    work += Drain(*a, on_a);
    work += b->RunOnce(now);
    work += Drain(*b, on_b);
    return work;
  }
  static int Drain(Stack& s, const std::function<void(const StackEvent&)>& fn) {
    StackEvent ev[32];
    int total = 0;
    for (size_t n; (n = s.PollEvents(absl::MakeSpan(ev))) > 0;) {
      for (size_t i = 0; i < n; ++i) {
        if (fn) fn(ev[i]);
      }
      total += static_cast<int>(n);
    }
    return total;
  }
  // Steps until done() or max_steps; idle steps jump to the next deadline.
  bool RunUntil(const std::function<bool()>& done, int max_steps = 2'000'000) {
    for (int i = 0; i < max_steps; ++i) {
      if (done()) return true;
      const int work = Step();
      if (work == 0 && pair.in_flight(nic::Direction::kAToB) == 0 &&
          pair.in_flight(nic::Direction::kBToA) == 0) {
        const uint64_t next = std::min(a->NextDeadline(), b->NextDeadline());
        now = std::max(now + 10 * kUs, next == kNoDeadline ? now + 10 * kMs : next);
      } else {
        now += 10 * kUs;
      }
    }
    return done();
  }

  std::unique_ptr<core::MbufPool> pool_a, pool_b;
  nic::MemPair pair;
  std::unique_ptr<Stack> a, b;
  uint64_t now = 1 * kSec;
  std::function<void(const StackEvent&)> on_a, on_b;
};

TEST(StackCreate, RejectsBadConfigs) {
  auto pool = MakePool(64);
  nic::MemPair pair(pool.get(), pool.get());
  StackConfig c = Config(kMacA, kIpA);
  EXPECT_FALSE(Stack::Create(c, nullptr).ok());
  StackConfig bad = c;
  bad.mac = net::MacAddress::Broadcast();
  EXPECT_FALSE(Stack::Create(bad, &pair.a()).ok());
  bad = c;
  bad.ip = 0;
  EXPECT_FALSE(Stack::Create(bad, &pair.a()).ok());
  bad = c;
  bad.prefix_len = 33;
  EXPECT_FALSE(Stack::Create(bad, &pair.a()).ok());
  bad = c;
  bad.rx_batch = 0;
  EXPECT_FALSE(Stack::Create(bad, &pair.a()).ok());
  bad = c;
  bad.gateway = 0x0b000001;  // not on-link
  EXPECT_FALSE(Stack::Create(bad, &pair.a()).ok());
  EXPECT_TRUE(Stack::Create(c, &pair.a()).ok());
}

TEST(StackUdp, ArpResolvesThenDatagramsFlowBothWays) {
  TwoStacks t;
  ASSERT_TRUE(t.a->UdpBind(5000).ok());
  ASSERT_TRUE(t.b->UdpBind(6000).ok());
  EXPECT_FALSE(t.a->UdpBind(5000).ok());
  std::vector<std::string> got_a, got_b;
  t.on_a = [&](const StackEvent& ev) {
    ASSERT_EQ(ev.type, StackEventType::kUdpReceived);
    EXPECT_EQ(ev.remote_ip, kIpB);
    EXPECT_EQ(ev.remote_port, 6000);
    EXPECT_EQ(ev.local_port, 5000);
    got_a.emplace_back(ev.payload.begin(), ev.payload.end());
    // Echo it back (from inside the event handler: the payload is valid until the next RunOnce).
    EXPECT_EQ(t.a->UdpSend(5000, ev.remote_ip, ev.remote_port, ev.payload), UdpSendResult::kOk);
  };
  t.on_b = [&](const StackEvent& ev) {
    ASSERT_EQ(ev.type, StackEventType::kUdpReceived);
    got_b.emplace_back(ev.payload.begin(), ev.payload.end());
  };
  const std::string msgs[] = {"hello", "", std::string(1472, 'x')};
  for (const std::string& m : msgs) {
    EXPECT_EQ(t.b->UdpSend(6000, kIpA, 5000,
                           absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m.data()),
                                               m.size())),
              UdpSendResult::kOk);
  }
  // Nothing resolved yet: the frames wait for ARP.
  EXPECT_EQ(t.b->counters().arp_queued, 3u);
  ASSERT_TRUE(t.RunUntil([&] { return got_b.size() == 3; }, 1000));
  EXPECT_EQ(got_a.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got_a[i], msgs[i]);
    EXPECT_EQ(got_b[i], msgs[i]);
  }
  EXPECT_EQ(t.b->counters().arp_requests, 1u);
  EXPECT_EQ(t.b->counters().arp_released, 3u);
  EXPECT_EQ(t.a->counters().arp_replies, 1u);
  // A learned B from B's request, so A's replies needed no ARP of their own.
  EXPECT_EQ(t.a->counters().arp_requests, 0u);
  EXPECT_EQ(t.a->counters().udp_delivered, 3u);
  std::string big(1473, 'y');
  EXPECT_EQ(t.b->UdpSend(6000, kIpA, 5000,
                         absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(big.data()),
                                             big.size())),
            UdpSendResult::kTooLong);
  EXPECT_EQ(t.b->UdpSend(6000, 0x0b000001, 5000, {}), UdpSendResult::kNoRoute);
  EXPECT_EQ(t.b->counters().no_route, 1u);
  ASSERT_TRUE(t.a->UdpUnbind(5000).ok());
  EXPECT_EQ(t.b->UdpSend(6000, kIpA, 5000, {}), UdpSendResult::kOk);
  ASSERT_TRUE(t.RunUntil([&] { return t.a->net_counters().udp_no_listener == 1; }, 100));
}

TEST(StackUdp, UnpolledEventsAreDiscardedAndCounted) {
  TwoStacks t;
  ASSERT_TRUE(t.a->UdpBind(5000).ok());
  const uint8_t byte = 1;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.b->UdpSend(6000, kIpA, 5000, absl::MakeConstSpan(&byte, 1)), UdpSendResult::kOk);
  }
  // Step without polling A's events.
  for (int i = 0; i < 20; ++i) {
    t.pair.SetNowNs(t.now);
    t.a->RunOnce(t.now);
    t.b->RunOnce(t.now);
    t.now += 10 * kUs;
  }
  EXPECT_EQ(t.a->counters().udp_delivered, 3u);
  EXPECT_EQ(t.a->counters().udp_unpolled, 3u);
  EXPECT_EQ(t.pool_a->in_use(), 0u) << "held RX buffers must be freed by the next RunOnce";
}

// Echo server on A (the way ix-echo does it) and a client on B that sends `total` bytes.
struct EchoTest {
  explicit EchoTest(TwoStacks* t) : t(t) {}

  void ServerEvent(const StackEvent& ev) {
    switch (ev.type) {
      case StackEventType::kTcpAccepted:
        ++accepted;
        break;
      case StackEventType::kTcpReadable:
      case StackEventType::kTcpWritable:
        Echo(ev.conn);
        break;
      case StackEventType::kTcpPeerClosed:
        server_peer_closed = true;
        Echo(ev.conn);
        if (t->a->Peek(ev.conn).size() == 0) {
          EXPECT_EQ(t->a->Close(ev.conn), TcpError::kOk);
        }
        break;
      case StackEventType::kTcpReset:
        ADD_FAILURE() << "server reset " << net::tcp::TcpErrorName(ev.error);
        (void)t->a->Close(ev.conn);
        break;
      default:
        break;
    }
  }
  // Sends back what was read; a short Send arms kTcpWritable, which calls this again.
  void Echo(ConnId c) {
    net::tcp::TcpReadView v = t->a->Peek(c);
    if (v.size() == 0) return;
    size_t n = t->a->Send(c, v.first).bytes;
    if (n == v.first.size() && !v.second.empty()) n += t->a->Send(c, v.second).bytes;
    ASSERT_EQ(t->a->Consume(c, n), TcpError::kOk);
  }
  void ClientEvent(const StackEvent& ev) {
    switch (ev.type) {
      case StackEventType::kTcpConnected:
        connected = true;
        Pump();
        break;
      case StackEventType::kTcpWritable:
        Pump();
        break;
      case StackEventType::kTcpReadable: {
        net::tcp::TcpReadView v = t->b->Peek(ev.conn);
        received.insert(received.end(), v.first.begin(), v.first.end());
        received.insert(received.end(), v.second.begin(), v.second.end());
        ASSERT_EQ(t->b->Consume(ev.conn, v.size()), TcpError::kOk);
        if (received.size() == data.size() && !client_shutdown) {
          client_shutdown = true;
          EXPECT_EQ(t->b->Close(ev.conn), TcpError::kOk);
        }
        break;
      }
      case StackEventType::kTcpReset:
        ADD_FAILURE() << "client reset " << net::tcp::TcpErrorName(ev.error);
        (void)t->b->Close(ev.conn);
        break;
      default:
        break;
    }
  }
  // Offers everything left: a short count arms kTcpWritable.
  void Pump() {
    if (sent == data.size()) return;
    net::tcp::TcpIoResult r = t->b->Send(client, absl::MakeConstSpan(data).subspan(sent));
    ASSERT_TRUE(r.error == TcpError::kOk || r.error == TcpError::kWouldBlock);
    sent += r.bytes;
  }
  void Run(size_t total, int max_steps) {
    std::mt19937_64 rng(99);
    data.resize(total);
    for (uint8_t& x : data) x = static_cast<uint8_t>(rng());
    ASSERT_TRUE(t->a->Listen(7, 16).ok());
    t->on_a = [&](const StackEvent& ev) { ServerEvent(ev); };
    t->on_b = [&](const StackEvent& ev) { ClientEvent(ev); };
    absl::StatusOr<ConnId> c = t->b->Connect(kIpA, 7);
    ASSERT_TRUE(c.ok()) << c.status();
    client = *c;
    ASSERT_TRUE(t->RunUntil([&] { return client_shutdown && server_peer_closed; }, max_steps))
        << "sent " << sent << " received " << received.size();
    EXPECT_EQ(accepted, 1);
    ASSERT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
    // Both ends finish; the client's TIME_WAIT (2 s here) ends too.
    ASSERT_TRUE(t->RunUntil(
        [&] { return t->a->tcp_connections() == 0 && t->b->tcp_connections() == 0; }, max_steps));
  }

  TwoStacks* t;
  std::vector<uint8_t> data, received;
  size_t sent = 0;
  ConnId client = net::tcp::kInvalidConnId;
  int accepted = 0;
  bool connected = false, client_shutdown = false, server_peer_closed = false;
};

TEST(StackTcp, EchoesFourMegabytesOverACleanWire) {
  TwoStacks t;
  EchoTest e(&t);
  e.Run(4 << 20, 200'000);
  EXPECT_EQ(t.a->tcp_counters().retransmits, 0u);
  EXPECT_EQ(t.a->counters().tx_backlog_drops, 0u);
  EXPECT_EQ(t.b->counters().tx_backlog_drops, 0u);
  EXPECT_EQ(t.pool_a->in_use(), 0u);
  EXPECT_EQ(t.pool_b->in_use(), 0u);
}

TEST(StackTcp, EchoesFourMegabytesWithLossReorderDuplicationAndCorruption) {
  TwoStacks t;
  nic::LinkFaults f;
  f.drop.rate = 0.01;
  f.duplicate.rate = 0.01;
  f.reorder.rate = 0.03;
  f.reorder_gap = 3;
  f.corrupt.rate = 0.002;
  f.corrupt_min_offset = 14;
  t.pair.SetFaults(nic::Direction::kAToB, f);
  t.pair.SetFaults(nic::Direction::kBToA, f);
  EchoTest e(&t);
  e.Run(4 << 20, 2'000'000);
  EXPECT_GT(t.a->tcp_counters().retransmits + t.b->tcp_counters().retransmits, 0u);
  EXPECT_GT(t.pair.counters(nic::Direction::kAToB).dropped, 0u);
  EXPECT_GT(t.pair.counters(nic::Direction::kBToA).duplicated, 0u);
  EXPECT_GT(t.pair.counters(nic::Direction::kBToA).reordered, 0u);
  // Corrupted frames were caught by some checksum and counted, not delivered.
  const uint64_t caught = t.a->net_counters().ip_bad_checksum + t.a->tcp_counters().rx_bad_checksum +
                          t.b->net_counters().ip_bad_checksum + t.b->tcp_counters().rx_bad_checksum;
  EXPECT_GT(caught, 0u);
}

TEST(StackTcp, SmallTxRingKeepsFramesInTheBacklogWithoutLosingThem) {
  // The wire takes at most 8 frames in flight per direction: TxBurst comes up short often.
  TwoStacks t(/*wire_capacity=*/8);
  EchoTest e(&t);
  e.Run(1 << 20, 400'000);
  EXPECT_GT(t.a->counters().tx_ring_full + t.b->counters().tx_ring_full, 0u);
  EXPECT_EQ(t.a->counters().tx_backlog_drops, 0u);
  EXPECT_EQ(t.b->counters().tx_backlog_drops, 0u);
}

TEST(StackTcp, ConnectToClosedPortIsRefused) {
  TwoStacks t;
  bool reset = false;
  t.on_b = [&](const StackEvent& ev) {
    if (ev.type == StackEventType::kTcpReset) {
      reset = true;
      EXPECT_EQ(ev.error, TcpError::kConnectionRefused);
      EXPECT_EQ(t.b->Close(ev.conn), TcpError::kOk);
    }
  };
  ASSERT_TRUE(t.b->Connect(kIpA, 99).ok());
  ASSERT_TRUE(t.RunUntil([&] { return reset; }, 1000));
  EXPECT_EQ(t.a->tcp_counters().rx_no_connection, 1u);
  EXPECT_EQ(t.b->tcp_connections(), 0u);
  EXPECT_FALSE(t.b->Connect(0x0b000001, 7).ok()) << "off-link without a gateway";
}

TEST(StackTcp, ManyConnectionsOpenEchoAndClose) {
  StackConfig ca = Config(kMacA, kIpA), cb = Config(kMacB, kIpB);
  ca.tcp.max_connections = cb.tcp.max_connections = 256;
  ca.tcp.send_buffer_bytes = ca.tcp.recv_buffer_bytes = 4096;
  cb.tcp.send_buffer_bytes = cb.tcp.recv_buffer_bytes = 4096;
  TwoStacks t(4096, ca, cb);
  ASSERT_TRUE(t.a->Listen(7, 512).ok());
  int accepted = 0, done = 0;
  t.on_a = [&](const StackEvent& ev) {
    if (ev.type == StackEventType::kTcpAccepted) ++accepted;
    if (ev.type == StackEventType::kTcpReadable) {
      net::tcp::TcpReadView v = t.a->Peek(ev.conn);
      ASSERT_EQ(t.a->Send(ev.conn, v.first).bytes, v.first.size());
      ASSERT_EQ(t.a->Consume(ev.conn, v.first.size()), TcpError::kOk);
    }
    if (ev.type == StackEventType::kTcpPeerClosed) {
      EXPECT_EQ(t.a->Close(ev.conn), TcpError::kOk);
    }
  };
  t.on_b = [&](const StackEvent& ev) {
    if (ev.type == StackEventType::kTcpConnected) {
      const std::string m = "conn " + std::to_string(ev.local_port);
      ASSERT_EQ(t.b->Send(ev.conn, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m.data()),
                                                       m.size()))
                    .bytes,
                m.size());
    }
    if (ev.type == StackEventType::kTcpReadable) {
      net::tcp::TcpReadView v = t.b->Peek(ev.conn);
      const std::string m = "conn " + std::to_string(t.b->Info(ev.conn)->tuple.local_port);
      if (v.size() == m.size()) {
        EXPECT_EQ(std::string(v.first.begin(), v.first.end()), m);
        ASSERT_EQ(t.b->Consume(ev.conn, v.size()), TcpError::kOk);
        EXPECT_EQ(t.b->Close(ev.conn), TcpError::kOk);
        ++done;
      }
    }
  };
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(t.b->Connect(kIpA, 7).ok());
  ASSERT_TRUE(t.RunUntil([&] { return done == 200; }, 100'000));
  EXPECT_EQ(accepted, 200);
  ASSERT_TRUE(t.RunUntil(
      [&] { return t.a->tcp_connections() == 0 && t.b->tcp_connections() == 0; }, 100'000));
}

// --- One stack against raw frames ------------------------------------------------------------

using testing::RawPeer;

TEST(StackRaw, AnswersPingWithoutArp) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  std::vector<uint8_t> icmp(8 + 56);
  for (size_t i = 8; i < icmp.size(); ++i) icmp[i] = static_cast<uint8_t>(i);
  ASSERT_EQ(net::BuildIcmpEcho(absl::MakeSpan(icmp), net::kIcmpEchoRequest, 0x1234, 7,
                               absl::MakeConstSpan(icmp).subspan(8)),
            icmp.size());
  r.Send(RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoIcmp, icmp));
  EXPECT_GT(r.stack->RunOnce(1 * kSec), 0);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  const std::vector<uint8_t>& f = out[0];
  ASSERT_EQ(f.size(), 14 + 20 + icmp.size());
  EXPECT_EQ(net::MacAddress::FromBytes(f.data()), kMacPeer);
  EXPECT_EQ(net::MacAddress::FromBytes(f.data() + 6), kMacA);
  EXPECT_EQ(net::LoadBe32(f.data() + 14 + 16), RawPeer::kPeerIp);
  EXPECT_EQ(f[34], net::kIcmpEchoReply);
  EXPECT_EQ(net::LoadBe16(f.data() + 34 + 4), 0x1234);
  EXPECT_EQ(net::LoadBe16(f.data() + 34 + 6), 7);
  EXPECT_TRUE(std::equal(icmp.begin() + 8, icmp.end(), f.begin() + 42));
  EXPECT_EQ(net::InternetChecksum(absl::MakeConstSpan(f).subspan(34)), 0);
  EXPECT_EQ(r.stack->counters().icmp_echo_replies, 1u);
}

TEST(StackRaw, AnswersArpRequestsForOurIpOnly) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  std::vector<uint8_t> f(net::kArpFrameLen);
  net::ArpPacket req{net::kArpOpRequest, kMacPeer, RawPeer::kPeerIp, {}, kIpB};
  // For someone else, from a sender we do not know: dropped.
  ASSERT_EQ(net::BuildArpFrame(absl::MakeSpan(f), net::MacAddress::Broadcast(), req), f.size());
  r.Send(f);
  req.target_ip = kIpA;
  ASSERT_EQ(net::BuildArpFrame(absl::MakeSpan(f), net::MacAddress::Broadcast(), req), f.size());
  r.Send(f);
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].size(), net::kEthMinFrameLen) << "padded to the Ethernet minimum";
  net::EthernetFrame eth;
  ASSERT_EQ(net::ParseEthernet(out[0], &eth), net::Drop::kNone);
  net::ArpPacket reply;
  ASSERT_EQ(net::ParseArp(eth.payload, &reply), net::Drop::kNone);
  EXPECT_EQ(reply.op, net::kArpOpReply);
  EXPECT_EQ(reply.sender_mac, kMacA);
  EXPECT_EQ(reply.sender_ip, kIpA);
  EXPECT_EQ(reply.target_ip, RawPeer::kPeerIp);
  EXPECT_EQ(r.stack->arp().Lookup(RawPeer::kPeerIp, 1 * kSec), kMacPeer);
  EXPECT_EQ(r.stack->net_counters().arp_not_for_us, 1u);
}

TEST(StackRaw, EveryBadFrameIsCountedOnce) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  ASSERT_TRUE(r.stack->UdpBind(5000).ok());
  std::vector<std::vector<uint8_t>> frames;
  frames.push_back({1, 2, 3});  // truncated Ethernet
  std::vector<uint8_t> udp(8 + 4);
  ASSERT_EQ(net::BuildUdp(absl::MakeSpan(udp), RawPeer::kPeerIp, kIpA, 1000, 5000,
                          absl::MakeConstSpan(udp).subspan(8)),
            udp.size());
  frames.push_back(RawPeer::Ipv4Frame(kMacB, kIpA, net::kIpProtoUdp, udp));  // other MAC
  auto f = RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp);
  f[12] = 0x86;  // IPv6 ethertype
  f[13] = 0xdd;
  frames.push_back(f);
  f = RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp);
  f[14 + 10] ^= 1;  // IP checksum
  frames.push_back(f);
  frames.push_back(RawPeer::Ipv4Frame(kMacA, kIpB, net::kIpProtoUdp, udp));  // other IP
  frames.push_back(RawPeer::Ipv4Frame(kMacA, kIpA, 47, udp));                // GRE
  f = RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp);
  f[34 + 9] ^= 0x55;  // UDP payload: checksum mismatch
  frames.push_back(f);
  std::vector<uint8_t> udp2 = udp;
  net::StoreBe16(udp2.data() + 2, 5001);
  udp2[6] = udp2[7] = 0;  // no checksum
  frames.push_back(RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp2));  // no listener
  std::vector<uint8_t> tcp(20, 0);
  net::StoreBe16(tcp.data(), 1000);
  net::StoreBe16(tcp.data() + 2, 7);
  tcp[12] = 5 << 4;
  tcp[13] = 0x02;  // SYN
  tcp[16] = 0x12;  // checksum that is wrong
  frames.push_back(RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoTcp, tcp));  // TCP bad checksum
  frames.push_back(RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp));  // good
  for (const auto& fr : frames) r.Send(fr);
  r.stack->RunOnce(1 * kSec);
  const net::NetCounters& n = r.stack->net_counters();
  EXPECT_EQ(n.eth_truncated, 1u);
  EXPECT_EQ(n.eth_other_host, 1u);
  EXPECT_EQ(n.eth_unknown_type, 1u);
  EXPECT_EQ(n.ip_bad_checksum, 1u);
  EXPECT_EQ(n.ip_other_host, 1u);
  EXPECT_EQ(n.ip_unknown_protocol, 1u);
  EXPECT_EQ(n.udp_bad_checksum, 1u);
  EXPECT_EQ(n.udp_no_listener, 1u);
  EXPECT_EQ(r.stack->tcp_counters().rx_bad_checksum, 1u);
  EXPECT_EQ(r.stack->counters().udp_delivered, 1u);
  EXPECT_EQ(r.stack->counters().rx_frames, frames.size());
  uint64_t total_drops = 0;
  net::ForEachNetCounter(n, [&](absl::string_view, uint64_t v) { total_drops += v; });
  EXPECT_EQ(total_drops, 8u);
  EXPECT_EQ(CounterByName(*r.stack, "net.udp_no_listener"), 1u);
  EXPECT_EQ(CounterByName(*r.stack, "tcp.rx_bad_checksum"), 1u);
  EXPECT_EQ(CounterByName(*r.stack, "stack.rx_frames"), frames.size());
  StackEvent ev[4];
  ASSERT_EQ(r.stack->PollEvents(absl::MakeSpan(ev)), 1u);
  EXPECT_EQ(ev[0].type, StackEventType::kUdpReceived);
  EXPECT_EQ(ev[0].payload.size(), 4u);
}

TEST(StackRaw, RxBatchBoundsFramesPerIteration) {
  RawPeer r;
  StackConfig c = Config(kMacA, kIpA);
  c.rx_batch = 4;
  r.MakeStack(c);
  std::vector<uint8_t> udp(8);
  ASSERT_EQ(net::BuildUdp(absl::MakeSpan(udp), RawPeer::kPeerIp, kIpA, 1, 9, {}), 8u);
  for (int i = 0; i < 10; ++i) r.Send(RawPeer::Ipv4Frame(kMacA, kIpA, net::kIpProtoUdp, udp));
  std::vector<uint64_t> seen;
  for (int i = 0; i < 4; ++i) {
    r.stack->RunOnce(1 * kSec + i);
    seen.push_back(r.stack->counters().rx_frames);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{4, 8, 10, 10}));
  EXPECT_EQ(r.stack->counters().rx_bursts, 3u);
  EXPECT_EQ(r.stack->RunOnce(2 * kSec), 0) << "idle";
}

TEST(StackRaw, OffLinkTrafficGoesToTheGateway) {
  RawPeer r;
  StackConfig c = Config(kMacA, kIpA);
  c.gateway = RawPeer::kPeerIp;
  r.MakeStack(c);
  const uint8_t x = 42;
  EXPECT_EQ(r.stack->UdpSend(5000, 0x08080808, 53, absl::MakeConstSpan(&x, 1)),
            UdpSendResult::kOk);
  r.stack->RunOnce(1 * kSec);
  auto out = r.Receive();
  ASSERT_EQ(out.size(), 1u);  // an ARP request for the gateway
  net::EthernetFrame eth;
  ASSERT_EQ(net::ParseEthernet(out[0], &eth), net::Drop::kNone);
  net::ArpPacket req;
  ASSERT_EQ(net::ParseArp(eth.payload, &req), net::Drop::kNone);
  EXPECT_EQ(req.target_ip, RawPeer::kPeerIp);
  // The gateway answers; the parked datagram goes to its MAC, still addressed to 8.8.8.8.
  std::vector<uint8_t> f(net::kArpFrameLen);
  net::ArpPacket rep{net::kArpOpReply, kMacPeer, RawPeer::kPeerIp, kMacA, kIpA};
  ASSERT_EQ(net::BuildArpFrame(absl::MakeSpan(f), kMacA, rep), f.size());
  r.Send(f);
  r.stack->RunOnce(1 * kSec + kMs);
  out = r.Receive();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(net::ParseEthernet(out[0], &eth), net::Drop::kNone);
  EXPECT_EQ(eth.dst, kMacPeer);
  net::Ipv4Packet ip;
  ASSERT_EQ(net::ParseIpv4(eth.payload, &ip), net::Drop::kNone);
  EXPECT_EQ(ip.dst, 0x08080808u);
  EXPECT_EQ(r.stack->counters().arp_released, 1u);
}

TEST(StackRaw, UnansweredArpRetriesThenDropsAndCounts) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  const uint8_t x = 1;
  EXPECT_EQ(r.stack->UdpSend(5000, kIpB, 53, absl::MakeConstSpan(&x, 1)), UdpSendResult::kOk);
  uint64_t now = 1 * kSec;
  for (int i = 0; i < 100; ++i) {
    r.stack->RunOnce(now);
    if (r.stack->net_counters().arp_resolve_failed != 0) break;
    const uint64_t next = r.stack->NextDeadline();
    ASSERT_NE(next, kNoDeadline) << "an unresolved neighbour must keep a deadline";
    now = std::max(now + kMs, next);
  }
  EXPECT_EQ(r.stack->net_counters().arp_resolve_failed, 1u);
  EXPECT_EQ(r.stack->counters().arp_requests, 3u);
  EXPECT_EQ(r.Receive().size(), 3u);
}

TEST(IdlePoller, SpinsThenSleepsBoundedByTheDeadline) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  IdlePoller idle(r.stack.get(), {.spin_ns = 20 * kUs, .max_sleep_ns = 2 * kMs,
                                  .no_fd_sleep_ns = 1 * kMs});
  EXPECT_FALSE(idle.AfterIteration(1));
  const uint64_t start = MonotonicNowNs();
  int slept = 0;
  while (MonotonicNowNs() - start < 50 * kMs) {
    r.stack->RunOnce(MonotonicNowNs());
    if (idle.AfterIteration(0)) ++slept;
  }
  EXPECT_GT(slept, 5);
  EXPECT_LT(slept, 200) << "each sleep lasts about no_fd_sleep_ns";
  EXPECT_EQ(idle.sleeps(), static_cast<uint64_t>(slept));
}

TEST(IdlePoller, ExtraFdWakesTheSleep) {
  RawPeer r;
  r.MakeStack(Config(kMacA, kIpA));
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  IdlePoller idle(r.stack.get(), {.spin_ns = 0, .max_sleep_ns = 5 * kSec,
                                  .no_fd_sleep_ns = 5 * kSec, .extra_fd = efd});
  std::thread waker([efd] {
    usleep(30'000);
    const uint64_t one = 1;
    EXPECT_EQ(write(efd, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  });
  const uint64_t start = MonotonicNowNs();
  EXPECT_FALSE(idle.AfterIteration(0));  // first idle iteration: starts the spin clock
  bool slept = false;
  while (!slept && MonotonicNowNs() - start < 2 * kSec) slept = idle.AfterIteration(0);
  const uint64_t took = MonotonicNowNs() - start;
  waker.join();
  close(efd);
  EXPECT_TRUE(slept);
  EXPECT_EQ(idle.wakeups_by_fd(), 1u);
  EXPECT_GE(took, 25 * kMs);
  EXPECT_LT(took, 1 * kSec) << "the eventfd must end the sleep, not its 5 s bound";
}

TEST(FaultQueue, ParsesImpairments) {
  absl::StatusOr<LinkImpairment> l = ParseLinkImpairment("loss=1,duplicate=0.5,reorder=5,delay_us=1000");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->loss_pct, 1);
  EXPECT_EQ(l->duplicate_pct, 0.5);
  EXPECT_EQ(l->reorder_pct, 5);
  EXPECT_EQ(l->delay_ns, 1'000'000u);
  EXPECT_FALSE(ParseLinkImpairment("loss=x").ok());
  EXPECT_FALSE(ParseLinkImpairment("jitter=1").ok());
  EXPECT_FALSE(ParseLinkImpairment("loss=101").ok());
  EXPECT_FALSE(ParseLinkImpairment("")->active());
}

TEST(FaultQueue, LosesDuplicatesDelaysAndReordersReceivedFrames) {
  RawPeer r;
  FaultQueueOptions o;
  o.rx = {.loss_pct = 10, .duplicate_pct = 10, .reorder_pct = 20, .delay_ns = 2 * kMs};
  FaultQueue q(&r.pair.a(), o);
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint8_t> f(60, 0);
    net::StoreBe32(f.data() + 20, static_cast<uint32_t>(i));
    r.Send(f);
  }
  std::vector<uint32_t> order;
  nic::Packet p[64];
  const uint64_t start = MonotonicNowNs();
  int immediate = 0;
  while (MonotonicNowNs() - start < 50 * kMs) {
    const int n = q.RxBurst(p, 64);
    if (MonotonicNowNs() - start < 1 * kMs) immediate += n;
    for (int i = 0; i < n; ++i) {
      order.push_back(net::LoadBe32(nic::PacketData(*r.pool_a, p[i]) + 20));
      r.pool_a->Free(p[i].buf);
    }
  }
  const FaultQueueCounters& c = q.counters();
  EXPECT_GT(c.rx_lost, 50u);
  EXPECT_LT(c.rx_lost, 150u);
  EXPECT_GT(c.rx_duplicated, 50u);
  EXPECT_GT(c.rx_reordered, 100u);
  EXPECT_EQ(order.size(), 1000 - c.rx_lost + c.rx_duplicated);
  EXPECT_EQ(c.rx_delayed + c.rx_reordered, order.size());
  EXPECT_LE(immediate, static_cast<int>(c.rx_reordered)) << "only reordered frames skip the delay";
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(r.pool_a->in_use(), 0u);
}

TEST(FaultQueue, TransmitLossAcceptsAndFreesTransmitDuplicationCopies) {
  RawPeer r;
  FaultQueueOptions o;
  o.tx = {.loss_pct = 30, .duplicate_pct = 30};
  FaultQueue q(&r.pair.a(), o);
  std::vector<nic::Packet> pkts;
  for (int i = 0; i < 200; ++i) {
    const uint32_t b = r.pool_a->Alloc();
    memset(r.pool_a->Data(b), static_cast<int>(i), r.pool_a->buffer_size());
    pkts.push_back(nic::Packet{b, 0, 60});
  }
  ASSERT_EQ(q.TxBurst(pkts.data(), static_cast<int>(pkts.size())), 200);
  const auto got = r.Receive();
  const FaultQueueCounters& c = q.counters();
  EXPECT_GT(c.tx_lost, 30u);
  EXPECT_GT(c.tx_duplicated, 20u);
  EXPECT_EQ(got.size(), 200 - c.tx_lost + c.tx_duplicated);
  EXPECT_EQ(r.pool_a->in_use(), 0u);
}

}  // namespace
}  // namespace ix::dp

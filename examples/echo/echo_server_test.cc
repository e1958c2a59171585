// Unit tests of ix-echo's application logic: an EchoServer on one Stack, a client on another,
// joined by the in-memory NIC pair, in simulated time.
#include "examples/echo/echo_server.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dataplane/nic/mem_pair.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace ix::examples {
namespace {

using dp::Stack;
using dp::StackEvent;
using dp::StackEventType;
using net::tcp::ConnId;
using net::tcp::TcpError;

constexpr uint64_t kUs = 1'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr net::Ipv4Address kIpA = 0x0a000001;
constexpr net::Ipv4Address kIpB = 0x0a000002;

std::unique_ptr<core::MbufPool> MakePool() {
  core::MbufPoolOptions o;
  o.num_buffers = 2048;
  o.huge_pages = core::HugePagePolicy::kNever;
  return *core::MbufPool::Create(o);
}

struct Fixture {
  explicit Fixture(EchoMode mode) : pool_a(MakePool()), pool_b(MakePool()),
                                    pair(pool_a.get(), pool_b.get()) {
    dp::StackConfig ca;
    ca.mac = net::MacAddress{{2, 0, 0, 0, 0, 0xa}};
    ca.ip = kIpA;
    ca.tcp.max_connections = 64;
    ca.tcp.time_wait_ns = kSec;
    dp::StackConfig cb = ca;
    cb.mac = net::MacAddress{{2, 0, 0, 0, 0, 0xb}};
    cb.ip = kIpB;
    a = *Stack::Create(ca, &pair.a());
    b = *Stack::Create(cb, &pair.b());
    server = std::make_unique<EchoServer>(a.get(), EchoServerOptions{.mode = mode, .port = 7});
    EXPECT_TRUE(server->Start().ok());
    Step();
  }
  int Step() {
    pair.SetNowNs(now);
    int work = a->RunOnce(now) + server->HandleEvents() + a->Flush();
    work += b->RunOnce(now);
    StackEvent ev[32];
    for (size_t n; (n = b->PollEvents(absl::MakeSpan(ev))) > 0;) {
      for (size_t i = 0; i < n; ++i) client_events.push_back(ev[i]), OnClient(ev[i]);
      work += static_cast<int>(n);
    }
    now += 10 * kUs;
    return work;
  }
  bool RunUntil(const std::function<bool()>& done, int max_steps = 200'000) {
    for (int i = 0; i < max_steps && !done(); ++i) {
      if (Step() == 0) {
        const uint64_t next = std::min(a->NextDeadline(), b->NextDeadline());
        if (next != net::tcp::kNoDeadline && next > now) now = next;
      }
    }
    return done();
  }
  void OnClient(const StackEvent& ev) {
    if (ev.type == StackEventType::kTcpReadable) {
      net::tcp::TcpReadView v = b->Peek(ev.conn);
      received.append(reinterpret_cast<const char*>(v.first.data()), v.first.size());
      received.append(reinterpret_cast<const char*>(v.second.data()), v.second.size());
      EXPECT_EQ(b->Consume(ev.conn, v.size()), TcpError::kOk);
    }
    if (ev.type == StackEventType::kTcpWritable) Pump(ev.conn);
    if (ev.type == StackEventType::kTcpPeerClosed) peer_closed = true;
    if (ev.type == StackEventType::kUdpReceived) {
      udp.emplace_back(reinterpret_cast<const char*>(ev.payload.data()), ev.payload.size());
    }
  }
  void Pump(ConnId c) {
    if (sent == to_send.size()) return;
    sent += b->Send(c, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(to_send.data()),
                                           to_send.size())
                           .subspan(sent))
                .bytes;
  }
  ConnId Connect() {
    absl::StatusOr<ConnId> c = b->Connect(kIpA, 7);
    EXPECT_TRUE(c.ok());
    bool up = false;
    EXPECT_TRUE(RunUntil([&] {
      for (const StackEvent& ev : client_events) {
        if (ev.type == StackEventType::kTcpConnected && ev.conn == *c) up = true;
      }
      return up;
    }));
    return *c;
  }

  std::unique_ptr<core::MbufPool> pool_a, pool_b;
  nic::MemPair pair;
  std::unique_ptr<Stack> a, b;
  std::unique_ptr<EchoServer> server;
  uint64_t now = kSec;
  std::vector<StackEvent> client_events;
  std::string to_send, received;
  std::vector<std::string> udp;
  size_t sent = 0;
  bool peer_closed = false;
};

TEST(EchoServer, EchoesTwoMegabytesInOrderWithBackPressure) {
  Fixture f(EchoMode::kEcho);
  std::mt19937 rng(5);
  f.to_send.resize(2 << 20);
  for (char& c : f.to_send) c = static_cast<char>(rng());
  const ConnId c = f.Connect();
  f.Pump(c);
  ASSERT_TRUE(f.RunUntil([&] { return f.received.size() == f.to_send.size(); }))
      << f.received.size();
  EXPECT_TRUE(f.received == f.to_send);
  EXPECT_EQ(f.server->counters().bytes_echoed, f.to_send.size());
  EXPECT_EQ(f.server->open_connections(), 1u);
  EXPECT_EQ(f.b->Close(c), TcpError::kOk);
  ASSERT_TRUE(f.RunUntil([&] { return f.a->tcp_connections() == 0; }));
  EXPECT_EQ(f.server->open_connections(), 0u);
  EXPECT_EQ(f.server->counters().closed, 1u);
}

TEST(EchoServer, EchoesUdpOnTheSamePort) {
  Fixture f(EchoMode::kEcho);
  ASSERT_TRUE(f.b->UdpBind(4000).ok());
  for (const char* m : {"one", "two", "three"}) {
    EXPECT_EQ(f.b->UdpSend(4000, kIpA, 7,
                           absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m), strlen(m))),
              dp::UdpSendResult::kOk);
  }
  ASSERT_TRUE(f.RunUntil([&] { return f.udp.size() == 3; }));
  EXPECT_EQ(f.udp, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(f.server->counters().udp_echoed, 3u);
}

TEST(EchoServer, HttpKeepAlivePipeliningAndConnectionClose) {
  Fixture f(EchoMode::kHttp);
  const ConnId c = f.Connect();
  f.to_send =
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: x\r\n\r\n";
  f.Pump(c);
  const std::string body(EchoServer::HttpBody());
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n";
  const std::string expect = ok + body + ok +
                             "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                             "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_TRUE(f.RunUntil([&] { return f.received.size() >= expect.size(); }));
  EXPECT_EQ(f.received, expect);
  EXPECT_FALSE(f.peer_closed);
  f.received.clear();
  f.to_send += "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n";
  f.Pump(c);
  ASSERT_TRUE(f.RunUntil([&] { return f.peer_closed; }));
  EXPECT_EQ(f.received, absl::StrReplaceAll(ok, {{"keep-alive", "close"}}) + body);
  EXPECT_EQ(f.server->counters().http_requests, 4u);
  EXPECT_EQ(f.b->Close(c), TcpError::kOk);
  ASSERT_TRUE(f.RunUntil([&] { return f.a->tcp_connections() == 0; }));
  EXPECT_EQ(f.server->open_connections(), 0u);
}

TEST(EchoServer, OversizedHttpHeadersGet431AndClose) {
  Fixture f(EchoMode::kHttp);
  const ConnId c = f.Connect();
  f.to_send = "GET / HTTP/1.1\r\nX: " + std::string(kMaxRequestBytes + 10, 'a');
  f.Pump(c);
  ASSERT_TRUE(f.RunUntil([&] { return f.peer_closed; }));
  EXPECT_TRUE(absl::StartsWith(f.received, "HTTP/1.1 431")) << f.received;
  EXPECT_EQ(f.server->counters().http_bad_requests, 1u);
}

std::string SockperfMessage(uint64_t seq, uint16_t flags, size_t len) {
  std::string m(len, 'p');
  for (int i = 0; i < 8; ++i) m[i] = static_cast<char>(seq >> (56 - 8 * i));
  m[8] = static_cast<char>(flags >> 8);
  m[9] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) m[10 + i] = static_cast<char>(len >> (24 - 8 * i));
  return m;
}

TEST(EchoServer, SpeaksSockperfOverUdp) {
  Fixture f(EchoMode::kEcho);
  ASSERT_TRUE(f.b->UdpBind(4000).ok());
  auto send = [&](const std::string& m) {
    EXPECT_EQ(f.b->UdpSend(4000, kIpA, 7,
                           absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m.data()),
                                               m.size())),
              dp::UdpSendResult::kOk);
  };
  send(SockperfMessage(1, 3, 64));  // client + pong request: answered from the "server"
  send(SockperfMessage(2, 1, 64));  // throughput message: no answer
  send("plain datagram");
  ASSERT_TRUE(f.RunUntil([&] { return f.udp.size() == 2; }));
  f.RunUntil([] { return false; }, 100);
  ASSERT_EQ(f.udp.size(), 2u);
  EXPECT_EQ(f.udp[0], SockperfMessage(1, 2, 64));
  EXPECT_EQ(f.udp[1], "plain datagram");
  EXPECT_EQ(f.server->counters().sockperf_replies, 1u);
}

TEST(EchoServer, SpeaksSockperfOverTcpAcrossSegmentBoundaries) {
  Fixture f(EchoMode::kEcho);
  const ConnId c = f.Connect();
  std::string expect;
  for (uint64_t i = 0; i < 300; ++i) {
    const size_t len = 14 + (i * 37) % 2000;
    const uint16_t flags = (i % 3 == 0) ? 1 : 3;
    f.to_send += SockperfMessage(i, flags, len);
    if (flags & 2) expect += SockperfMessage(i, flags & ~1, len);
  }
  f.Pump(c);
  ASSERT_TRUE(f.RunUntil([&] { return f.received.size() >= expect.size(); }));
  EXPECT_TRUE(f.received == expect);
  EXPECT_EQ(f.server->counters().sockperf_replies, 200u);
}

TEST(EchoServer, SockperfDetectionLeavesOrdinaryStreamsAlone) {
  EXPECT_EQ(EchoServer::SockperfPrefixMatch(absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>("hello"), 5)),
            0u);
  const std::string m = SockperfMessage(0, 3, 14);
  EXPECT_EQ(EchoServer::SockperfPrefixMatch(
                absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m.data()), m.size())),
            14u);
  const std::string bad_len = SockperfMessage(0, 3, 13);
  EXPECT_EQ(EchoServer::SockperfPrefixMatch(absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(bad_len.data()), bad_len.size())),
            13u);
}

}  // namespace
}  // namespace ix::examples

// Tests for ix-load's Connection on real loopback sockets: pipelined echo, timeout with reset,
// protocol error with reset, and reconnect keeping unsent requests.
#include "bench/load/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "bench/load/clock.h"
#include "bench/load/testing/delay_echo_server.h"
#include "gtest/gtest.h"

namespace ix::load {
namespace {

class FakeObserver : public ConnObserver {
 public:
  void OnSent(const Request&, uint64_t) override { ++sent; }
  void OnResponse(const Request& r, Outcome o, uint64_t now) override {
    outcomes.push_back(o);
    latencies.push_back(now - r.scheduled_ns);
  }
  void OnDropped(const Request&, DropReason why) override { dropped.push_back(why); }
  void OnConnected() override { ++connected; }
  void OnConnectError(int) override { ++connect_errors; }
  void OnReset(bool protocol_error) override {
    ++resets;
    protocol_errors += protocol_error ? 1 : 0;
  }
  int sent = 0, connected = 0, connect_errors = 0, resets = 0, protocol_errors = 0;
  std::vector<Outcome> outcomes;
  std::vector<uint64_t> latencies;
  std::vector<DropReason> dropped;
};

// A listening loopback socket the test drives by hand.
class RawServer {
 public:
  RawServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RawServer() { close(fd_); }
  int Accept() { return accept(fd_, nullptr, nullptr); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
};

Target Loopback(uint16_t port) { return *ParseTarget("127.0.0.1:" + std::to_string(port)); }

// Runs the connection's event loop until done() or limit_ns passes.
template <typename Done>
void Drive(Connection& c, int ep, uint64_t limit_ns, Done done) {
  const uint64_t end = MonoNowNs() + limit_ns;
  while (!done() && MonoNowNs() < end) {
    epoll_event ev[16];
    const int n = epoll_wait(ep, ev, 16, 1);
    const uint64_t now = MonoNowNs();
    for (int i = 0; i < n; ++i) {
      c.OnEvent(ev[i].events, static_cast<uint32_t>(ev[i].data.u64), now);
    }
    c.Flush(now);
    c.Tick(now);
  }
}

TEST(ConnectionTest, PipelinesEchoRequests) {
  testing::DelayEchoServer server;
  ASSERT_TRUE(server.Start({.delay_ns = 2'000'000}).ok());
  const int ep = epoll_create1(0);
  EchoWorkload w({*SizeDist::Parse("uniform:1:300")});
  Rng rng(1);
  FakeObserver obs;
  Connection c(0, Loopback(server.port()), {.max_depth = 0, .timeout_ns = 2'000'000'000}, &w,
               &rng, &obs, ep);
  uint64_t now = MonoNowNs();
  c.Open(now);
  for (int i = 0; i < 200; ++i) c.Submit(now, true, now);  // queued until connected
  Drive(c, ep, 5'000'000'000, [&] { return obs.outcomes.size() == 200; });
  EXPECT_EQ(obs.connected, 1);
  EXPECT_EQ(obs.sent, 200);
  ASSERT_EQ(obs.outcomes.size(), 200u);
  for (Outcome o : obs.outcomes) EXPECT_EQ(o, Outcome::kOk);
  // All 200 were in flight together: every one waited about one 2 ms delay, not 200 of them.
  for (uint64_t l : obs.latencies) {
    EXPECT_GE(l, 2'000'000u);
    EXPECT_LT(l, 200'000'000u);
  }
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(obs.resets, 0);
  close(ep);
}

TEST(ConnectionTest, DepthLimitHoldsRequestsBack) {
  testing::DelayEchoServer server;
  ASSERT_TRUE(server.Start({.delay_ns = 1'000'000}).ok());
  const int ep = epoll_create1(0);
  EchoWorkload w({*SizeDist::Parse("8")});
  Rng rng(1);
  FakeObserver obs;
  Connection c(0, Loopback(server.port()), {.max_depth = 4, .timeout_ns = 2'000'000'000}, &w,
               &rng, &obs, ep);
  uint64_t now = MonoNowNs();
  c.Open(now);
  Drive(c, ep, 2'000'000'000, [&] { return c.connected(); });
  now = MonoNowNs();
  for (int i = 0; i < 20; ++i) c.Submit(now, true, now);
  EXPECT_EQ(c.inflight(), 4u);
  EXPECT_EQ(obs.sent, 4);
  Drive(c, ep, 5'000'000'000, [&] { return obs.outcomes.size() == 20; });
  EXPECT_EQ(obs.outcomes.size(), 20u);
  // Five rounds of ~1 ms: the last request waited for the ones before it.
  EXPECT_GE(obs.latencies.back(), 5'000'000u);
  close(ep);
}

TEST(ConnectionTest, TimeoutResetsAndCounts) {
  RawServer server;  // accepts into the backlog, never answers
  const int ep = epoll_create1(0);
  EchoWorkload w({*SizeDist::Parse("8")});
  Rng rng(1);
  FakeObserver obs;
  Connection c(0, Loopback(server.port()),
               {.timeout_ns = 50'000'000, .reconnect_backoff_ns = 1'000'000}, &w, &rng, &obs, ep);
  uint64_t now = MonoNowNs();
  c.Open(now);
  Drive(c, ep, 2'000'000'000, [&] { return c.connected(); });
  now = MonoNowNs();
  c.Submit(now, true, now);
  c.Submit(now + 40'000'000, true, now);  // scheduled later: not yet timed out at the reset
  c.Flush(now);
  const uint64_t start = MonoNowNs();
  Drive(c, ep, 2'000'000'000, [&] { return obs.resets > 0; });
  const uint64_t waited = MonoNowNs() - start;
  EXPECT_EQ(obs.resets, 1);
  EXPECT_GE(waited, 45'000'000u);
  EXPECT_LT(waited, 1'000'000'000u);
  // Only the request that waited out the timeout counts; the younger one is sent again on the
  // new connection and times out there 40 ms later.
  ASSERT_EQ(obs.dropped.size(), 1u);
  EXPECT_EQ(obs.dropped[0], DropReason::kTimeout);
  Drive(c, ep, 2'000'000'000, [&] { return obs.dropped.size() == 2; });
  ASSERT_EQ(obs.dropped.size(), 2u);
  EXPECT_EQ(obs.dropped[1], DropReason::kTimeout);
  EXPECT_EQ(obs.resets, 2);
  EXPECT_EQ(obs.sent, 3);  // two first sends and one retry
  // It reconnects by itself after each back-off.
  Drive(c, ep, 2'000'000'000, [&] { return obs.connected == 3; });
  EXPECT_EQ(obs.connected, 3);
  EXPECT_TRUE(c.idle());
  close(ep);
}

TEST(ConnectionTest, GarbageIsAProtocolError) {
  RawServer server;
  const int ep = epoll_create1(0);
  MemcacheOptions mo;
  mo.num_keys = 10;
  mo.key_size = 4;
  mo.get_ratio = 1.0;
  mo.key_dist = *KeyDist::Parse("uniform", 10);
  auto w = *MemcacheWorkload::Create(mo);
  Rng rng(1);
  FakeObserver obs;
  Connection c(0, Loopback(server.port()), {.timeout_ns = 2'000'000'000}, w.get(), &rng, &obs,
               ep);
  uint64_t now = MonoNowNs();
  c.Open(now);
  Drive(c, ep, 2'000'000'000, [&] { return c.connected(); });
  const int peer = server.Accept();
  ASSERT_GE(peer, 0);
  now = MonoNowNs();
  c.Submit(now, true, now);
  c.Flush(now);
  char buf[64];
  ASSERT_GT(read(peer, buf, sizeof(buf)), 0);  // "get kNNN\r\n"
  ASSERT_EQ(write(peer, "HELLO\r\n", 7), 7);
  Drive(c, ep, 2'000'000'000, [&] { return obs.resets > 0; });
  EXPECT_EQ(obs.protocol_errors, 1);
  ASSERT_EQ(obs.dropped.size(), 1u);
  EXPECT_EQ(obs.dropped[0], DropReason::kAborted);
  close(peer);
  close(ep);
}

TEST(ConnectionTest, RefusedConnectIsReported) {
  int port;
  {
    RawServer s;
    port = s.port();
  }  // closed: nothing listens there now
  const int ep = epoll_create1(0);
  EchoWorkload w({*SizeDist::Parse("8")});
  Rng rng(1);
  FakeObserver obs;
  Connection c(0, Loopback(static_cast<uint16_t>(port)), {}, &w, &rng, &obs, ep);
  c.Open(MonoNowNs());
  Drive(c, ep, 1'000'000'000, [&] { return obs.connect_errors > 0; });
  EXPECT_GE(obs.connect_errors, 1);
  EXPECT_EQ(obs.connected, 0);
  close(ep);
}

}  // namespace
}  // namespace ix::load

// libix's C API over the real command processor and a fake stack: commands, results, events,
// zero-copy receive, TX memory recycling, and local checks of iovec pointers.
#include "libix/ix.h"

#include "libix/ix.hpp"

#include <string>
#include <vector>

#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "gtest/gtest.h"
#include "libix/testing/test_backend.h"

namespace ix::lib {
namespace {

using ixd::testing::FakeStackOps;

class LibixTest : public ::testing::Test {
 protected:
  void SetUp() override { Open({}); }
  void TearDown() override {
    if (ix_ != nullptr) ix_destroy(ix_);
  }
  void Open(const ixd::QpSizes& sizes) {
    auto b = std::make_unique<testing::TestBackend>(&proc_, sizes);
    backend_ = b.get();
    ix_ = NewContext(std::move(b));
  }
  std::vector<ix_event> Poll() {
    ix_event evs[64];
    const int n = ix_poll(ix_, evs, 64, 0);
    EXPECT_GE(n, 0);
    return std::vector<ix_event>(evs, evs + std::max(n, 0));
  }
  // Listen on 80 and accept one connection; returns (id, engine id).
  std::pair<uint32_t, ixd::ConnId> Accepted(uint64_t cookie) {
    EXPECT_EQ(ix_tcp_listen(ix_, 80, 16), 0);
    std::vector<ix_event> evs = Poll();
    EXPECT_EQ(evs.size(), 1u);  // the listen result
    const ixd::ConnId engine = fake_.Accept(80);
    evs = Poll();
    if (evs.empty()) evs = Poll();
    EXPECT_EQ(evs.size(), 1u);
    if (evs.empty()) return {0, engine};
    EXPECT_EQ(evs[0].type, IX_EV_TCP_KNOCK);
    EXPECT_EQ(ix_tcp_accept(ix_, evs[0].id, cookie), 0);
    EXPECT_TRUE(Poll().empty());
    return {evs[0].id, engine};
  }

  FakeStackOps fake_;
  ixd::Processor proc_{&fake_, ixd::ProcessorConfig{}};
  testing::TestBackend* backend_ = nullptr;
  ix_t* ix_ = nullptr;
};

TEST_F(LibixTest, ListenResultIsReported) {
  ASSERT_EQ(ix_tcp_listen(ix_, 80, 16), 0);
  ASSERT_EQ(ix_tcp_listen(ix_, 80, 16), 0);  // queued fine; fails in the dataplane
  std::vector<ix_event> evs = Poll();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].type, IX_EV_CMD_DONE);
  EXPECT_EQ(evs[0].flags, IX_CMD_TCP_LISTEN);
  EXPECT_EQ(evs[0].value, 0);
  EXPECT_EQ(evs[1].value, -IX_EADDRINUSE);
}

TEST_F(LibixTest, EchoOneConnection) {
  auto [id, engine] = Accepted(0xabc);
  fake_.Receive(engine, "ping");
  std::vector<ix_event> evs = Poll();
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_EQ(evs[0].type, IX_EV_TCP_RECV);
  EXPECT_EQ(evs[0].cookie, 0xabcu);
  const char* data = static_cast<const char*>(ix_rx_data(ix_, &evs[0]));
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(std::string(data, evs[0].len), "ping");
  EXPECT_EQ(ix_tcp_send(ix_, id, 0xabc, data, evs[0].len), 0);
  EXPECT_EQ(ix_tcp_recv_done(ix_, id, evs[0].buf), 0);
  evs = Poll();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_CMD_DONE);
  EXPECT_EQ(evs[0].flags, IX_CMD_TCP_SENDV);
  EXPECT_EQ(evs[0].value, 4);
  EXPECT_EQ(fake_.conns[engine].sent, "ping");
  EXPECT_EQ(fake_.conns[engine].consumed, 4u);
  EXPECT_EQ(ix_tcp_close(ix_, id), 0);
  EXPECT_TRUE(Poll().empty());
  EXPECT_TRUE(fake_.conns[engine].closed);
}

TEST_F(LibixTest, TxMemoryIsRecycled) {
  ix_destroy(ix_);
  Open({.tx_bytes = 16384});
  auto [id, engine] = Accepted(1);
  std::string expect;
  for (int i = 0; i < 200; ++i) {
    std::string chunk(1000, static_cast<char>('a' + i % 26));
    ASSERT_EQ(ix_tcp_send(ix_, id, 1, chunk.data(), chunk.size()), 0) << i;
    expect += chunk;
    if (i % 5 == 4) Poll();
  }
  while (ix_cmds_in_flight(ix_) > 0) Poll();
  EXPECT_EQ(fake_.conns[engine].sent, expect);
}

TEST_F(LibixTest, CommandRingFullFlushesAndWaits) {
  ix_destroy(ix_);
  Open({.cmd_entries = 8});
  for (int i = 0; i < 100; ++i) ASSERT_EQ(ix_timer_set(ix_, i % 8, 1000, i), 0) << i;
  // Every command executed, none failed (failures would be reported as events).
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(ix_cmds_in_flight(ix_), 0u);
}

// More commands between two polls than the ring has slots: every result still comes back (a slot
// is reused only after its result was collected).
TEST_F(LibixTest, NoResultIsLostWhenTheRingWrapsBetweenPolls) {
  ix_destroy(ix_);
  Open({.cmd_entries = 8});
  // Each port three times: the first listen succeeds, the others fail; results must keep that order.
  for (int i = 0; i < 50; ++i) ASSERT_EQ(ix_tcp_listen(ix_, static_cast<uint16_t>(1000 + i / 3), 4), 0) << i;
  std::vector<ix_event> all;
  for (int round = 0; round < 20 && all.size() < 50; ++round) {
    std::vector<ix_event> evs = Poll();
    all.insert(all.end(), evs.begin(), evs.end());
  }
  ASSERT_EQ(all.size(), 50u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].type, IX_EV_CMD_DONE) << i;
    EXPECT_EQ(all[i].flags, IX_CMD_TCP_LISTEN) << i;
    EXPECT_EQ(all[i].value, i % 3 ? -IX_EADDRINUSE : 0) << i;
  }
}

TEST_F(LibixTest, IovecsOutsideTheTxAreaAreRefusedLocally) {
  auto [id, engine] = Accepted(1);
  char stack_bytes[16] = "not in tx";
  iovec v{stack_bytes, 9};
  EXPECT_EQ(ix_tcp_sendv(ix_, id, 1, &v, 1), -IX_EFAULT);
  char* tx = static_cast<char*>(ix_tx_alloc(ix_, 10));
  ASSERT_NE(tx, nullptr);
  std::memcpy(tx, "abcdefghij", 10);
  iovec two[2] = {{tx, 3}, {tx + 5, 5}};
  EXPECT_EQ(ix_tcp_sendv(ix_, id, 1, two, 2), 0);
  Poll();
  EXPECT_EQ(fake_.conns[engine].sent, "abcfghij");
}

TEST_F(LibixTest, UdpAndTimers) {
  ASSERT_EQ(ix_udp_bind(ix_, 53), 0);
  Poll();
  std::string dgram = "q";
  fake_.Udp(53, dgram);
  std::vector<ix_event> evs = Poll();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_UDP_RECV);
  EXPECT_EQ(std::string(static_cast<const char*>(ix_rx_data(ix_, &evs[0])), evs[0].len), "q");
  EXPECT_EQ(ix_udp_recv_done(ix_, evs[0].buf), 0);
  EXPECT_EQ(ix_udp_send(ix_, 53, 0x0a000002, 5353, "a", 1, 7, 1), 0);
  EXPECT_EQ(ix_timer_set(ix_, 1, 500, 99), 0);
  evs = Poll();
  ASSERT_EQ(evs.size(), 2u);  // send result, udp_sent
  EXPECT_EQ(evs[0].type, IX_EV_CMD_DONE);
  EXPECT_EQ(evs[1].type, IX_EV_UDP_SENT);
  EXPECT_EQ(evs[1].cookie, 7u);
  backend_->now_ns = 1000;
  evs = Poll();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TIMER);
  EXPECT_EQ(evs[0].cookie, 99u);
}

TEST_F(LibixTest, CppWrapper) {
  ix::Context ctx(ix_);
  ix_ = nullptr;  // owned by ctx now
  ASSERT_EQ(ctx.TcpListen(80), 0);
  ix_event ev[8];
  ASSERT_EQ(ctx.Poll(ev, 0), 1);
  const ixd::ConnId engine = fake_.Accept(80);
  ASSERT_EQ(ctx.Poll(ev, 0), 1);
  ASSERT_EQ(ctx.Accept(ev[0], 3), 0);
  ctx.Flush();
  fake_.Receive(engine, "abc");
  ASSERT_EQ(ctx.Poll(ev, 0), 1);
  EXPECT_EQ(ctx.Data(ev[0]), "abc");
  EXPECT_EQ(ctx.Send(ev[0].id, 3, ctx.Data(ev[0])), 0);
  EXPECT_EQ(ctx.RecvDone(ev[0]), 0);
  ASSERT_EQ(ctx.Poll(ev, 0), 1);  // the send's result
  EXPECT_EQ(ev[0].value, 3);
  EXPECT_EQ(fake_.conns[engine].sent, "abc");
  ix::Context moved = std::move(ctx);
  EXPECT_FALSE(static_cast<bool>(ctx));
  EXPECT_TRUE(static_cast<bool>(moved));
}

TEST(LibixParse, Ip) {
  EXPECT_EQ(ix_parse_ip("10.0.0.1"), 0x0a000001u);
  EXPECT_EQ(ix_parse_ip("10.0.0.256"), 0u);
  EXPECT_EQ(ix_parse_ip("10.0.0.1x"), 0u);
  EXPECT_EQ(ix_parse_ip(nullptr), 0u);
}

}  // namespace
}  // namespace ix::lib

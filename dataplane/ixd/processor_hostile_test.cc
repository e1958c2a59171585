// Hostile-application tests of the command processor: bad ids, stale ids, other apps' ids, bad
// lengths and offsets, buffers never handed out or returned twice, corrupted ring indices, queue
// flooding, port theft, and random command batches. Each must get an error code and a counter,
// never a crash, an out-of-bounds access (run under ASan too) or harm to another application.
#include <random>
#include <string>
#include <vector>

#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "dataplane/ixd/testing/test_app.h"
#include "gtest/gtest.h"

namespace ix::ixd {
namespace {

using testing::Cmd;
using testing::FakeStackOps;
using testing::TestApp;

class HostileTest : public ::testing::Test {
 protected:
  void Run(uint64_t now_ns = 0) {
    proc_.ProcessCommands(now_ns);
    proc_.PumpStackEvents();
    proc_.RunTimers(now_ns);
    proc_.FlushEvents();
  }
  int64_t Exec(TestApp& a, const ix_cmd& c) {
    const uint32_t idx = a.Submit(c);
    Run();
    EXPECT_TRUE(a.Done(idx));
    return a.Ret(idx);
  }
  // Good app `a` listening on `port` with one accepted connection; returns (id, engine id).
  std::pair<uint32_t, ConnId> Establish(TestApp& a, uint16_t port) {
    ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
    l.port = port;
    EXPECT_EQ(Exec(a, l), 0);
    const ConnId engine = fake_.Accept(port);
    Run();
    std::vector<ix_event> evs = a.Events();
    EXPECT_EQ(evs.size(), 1u);
    if (evs.empty()) return {0, engine};
    ix_cmd acc = Cmd(IX_CMD_TCP_ACCEPT);
    acc.id = evs[0].id;
    acc.cookie = 1;
    EXPECT_EQ(Exec(a, acc), 0);
    return {evs[0].id, engine};
  }

  FakeStackOps fake_;
  Processor proc_{&fake_, ProcessorConfig{.cmd_budget = 32}};
};

TEST_F(HostileTest, UnknownOpcodesAndFlags) {
  TestApp a(&proc_, "evil");
  EXPECT_EQ(Exec(a, Cmd(IX_CMD_OP_COUNT)), -IX_EINVAL);
  EXPECT_EQ(Exec(a, Cmd(0xffff)), -IX_EINVAL);
  ix_cmd c = Cmd(IX_CMD_TCP_CLOSE);
  c.flags = IX_CLOSE_ABORT | IX_CLOSE_SHUTDOWN;
  EXPECT_EQ(Exec(a, c), -IX_EINVAL);
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  EXPECT_EQ(Exec(a, l), -IX_EINVAL);  // port 0
  ix_cmd nop = Cmd(IX_CMD_NOP);
  nop.reserved0 = 1;
  EXPECT_EQ(Exec(a, nop), -IX_EINVAL);
  EXPECT_EQ(a.counters().errors[IX_EINVAL], 5u);
}

TEST_F(HostileTest, BadStaleAndForeignIds) {
  TestApp good(&proc_, "good");
  TestApp evil(&proc_, "evil");
  auto [gid, gengine] = Establish(good, 80);
  auto [eid, eengine] = Establish(evil, 81);

  ix_cmd s = Cmd(IX_CMD_TCP_SENDV);
  s.len = 1;
  for (uint32_t id : {0u, 0xffffffffu, 12345u, (7u << 20) | 5000u, eid ^ (1u << 20)}) {
    s.id = id;
    EXPECT_EQ(Exec(evil, s), -IX_EBADID) << id;
  }
  // The good app's id names nothing in the evil app's table (or, by coincidence of numbering,
  // the evil app's own connection); the good connection is never touched.
  s.id = gid;
  (void)Exec(evil, s);
  ix_cmd close = Cmd(IX_CMD_TCP_CLOSE);
  close.id = gid;
  close.flags = IX_CLOSE_ABORT;
  (void)Exec(evil, close);
  EXPECT_FALSE(fake_.conns[gengine].aborted);
  EXPECT_EQ(fake_.conns[gengine].sent, "");
  // Stale: after close the old id is refused even though the slot is reused.
  close.id = eid;
  close.flags = 0;
  if (!fake_.conns[eengine].aborted) {
    EXPECT_EQ(Exec(evil, close), 0);
  }
  fake_.Accept(81);
  Run();
  std::vector<ix_event> evs = evil.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_NE(evs[0].id, eid);
  s.id = eid;
  EXPECT_EQ(Exec(evil, s), -IX_EBADID);
  EXPECT_GE(evil.counters().errors[IX_EBADID], 6u);
  EXPECT_EQ(good.counters().errors[IX_EBADID], 0u);

  // The good connection still works.
  good.PutTx(0, "ok");
  s.id = gid;
  s.len = 2;
  EXPECT_EQ(Exec(good, s), 2);
  EXPECT_EQ(fake_.conns[gengine].sent, "ok");
}

TEST_F(HostileTest, OffsetsAndLengthsOutsideTheTxArea) {
  TestApp a(&proc_, "evil", {.tx_bytes = 8192});
  auto [id, engine] = Establish(a, 80);
  ix_cmd s = Cmd(IX_CMD_TCP_SENDV);
  s.id = id;
  struct Case {
    uint64_t off;
    uint32_t len;
  };
  for (Case c : {Case{8192, 1}, Case{8191, 2}, Case{0, 8193}, Case{~uint64_t{0}, 2},
                 Case{~uint64_t{0} - 10, 100}, Case{1ull << 63, 0xffffffff}}) {
    s.data_off = c.off;
    s.len = c.len;
    EXPECT_EQ(Exec(a, s), -IX_EFAULT) << c.off << " " << c.len;
  }
  // Exactly the last byte is fine; an empty span at the end too.
  s.data_off = 8191;
  s.len = 1;
  EXPECT_EQ(Exec(a, s), 1);
  s.data_off = 8192;
  s.len = 0;
  EXPECT_EQ(Exec(a, s), 0);

  // iovec arrays: out of the area, too many, and entries pointing out.
  s.iov_cnt = IX_MAX_IOV + 1;
  s.data_off = 0;
  EXPECT_EQ(Exec(a, s), -IX_EINVAL);
  s.iov_cnt = 2;
  s.data_off = 8192 - 16;  // the array itself runs off the end
  EXPECT_EQ(Exec(a, s), -IX_EFAULT);
  ix_iov iov[2] = {{0, 10, 0}, {8000, 500, 0}};
  std::memcpy(a.tx(), iov, sizeof(iov));
  s.data_off = 0;
  EXPECT_EQ(Exec(a, s), -IX_EFAULT);
  iov[1] = {~uint64_t{0}, 1, 0};
  std::memcpy(a.tx(), iov, sizeof(iov));
  EXPECT_EQ(Exec(a, s), -IX_EFAULT);
  EXPECT_EQ(a.counters().errors[IX_EFAULT], 9u);
  EXPECT_EQ(fake_.conns[engine].sent.size(), 1u);

  // UDP too.
  ix_cmd b = Cmd(IX_CMD_UDP_BIND);
  b.port = 53;
  ASSERT_EQ(Exec(a, b), 0);
  ix_cmd u = Cmd(IX_CMD_UDP_SEND);
  u.local_port = 53;
  u.remote_ip = 1;
  u.port = 1;
  u.data_off = 8000;
  u.len = 1000;
  EXPECT_EQ(Exec(a, u), -IX_EFAULT);
  u.data_off = 0;
  u.len = 4000;
  EXPECT_EQ(Exec(a, u), -IX_EMSGSIZE);
  EXPECT_TRUE(fake_.datagrams.empty());
}

TEST_F(HostileTest, RecvDoneOfBuffersNotHandedOut) {
  TestApp a(&proc_, "evil", {.rx_buf_count = 16});
  auto [id1, e1] = Establish(a, 80);
  const ConnId e2 = fake_.Accept(80);
  Run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  ix_cmd acc = Cmd(IX_CMD_TCP_ACCEPT);
  acc.id = evs[0].id;
  ASSERT_EQ(Exec(a, acc), 0);

  fake_.Receive(e1, "one");
  fake_.Receive(e2, "two");
  Run();
  evs = a.Events();
  ASSERT_EQ(evs.size(), 2u);
  const uint32_t buf1 = evs[0].id == id1 ? evs[0].buf : evs[1].buf;
  const uint32_t buf2 = evs[0].id == id1 ? evs[1].buf : evs[0].buf;

  ix_cmd d = Cmd(IX_CMD_TCP_RECV_DONE);
  d.id = id1;
  for (uint32_t b : {16u, 0xffffffffu, IX_NO_BUF}) {
    d.buf = b;
    EXPECT_EQ(Exec(a, d), -IX_EBADBUF);
  }
  // A free buffer (never handed out).
  d.buf = (buf1 + 1) % 16 == buf2 ? (buf1 + 2) % 16 : (buf1 + 1) % 16;
  EXPECT_EQ(Exec(a, d), -IX_EBADBUF);
  // Another connection's buffer.
  d.buf = buf2;
  EXPECT_EQ(Exec(a, d), -IX_EBADBUF);
  EXPECT_EQ(fake_.conns[e2].consumed, 0u);
  // As a UDP buffer.
  ix_cmd u = Cmd(IX_CMD_UDP_RECV_DONE);
  u.buf = buf1;
  EXPECT_EQ(Exec(a, u), -IX_EBADBUF);
  // The right one, then twice.
  d.buf = buf1;
  EXPECT_EQ(Exec(a, d), 0);
  EXPECT_EQ(fake_.conns[e1].consumed, 3u);
  EXPECT_EQ(Exec(a, d), -IX_EBADBUF);
  EXPECT_EQ(fake_.conns[e1].consumed, 3u);
  EXPECT_GE(a.counters().buf_double_return, 2u);
  EXPECT_EQ(proc_.rx_buffers_out(a.app(), 0), 1u);
}

TEST_F(HostileTest, CorruptCommandRingIndex) {
  TestApp good(&proc_, "good");
  TestApp evil(&proc_, "evil", {.cmd_entries = 64});
  for (uint32_t prod : {65u, 0x80000000u, 0xffffffffu, 1000u}) {
    ix_store_release(&evil.header()->cmd_prod.value, prod);
    const uint32_t g = good.Submit(Cmd(IX_CMD_NOP));
    Run();
    EXPECT_TRUE(good.Done(g));
    EXPECT_EQ(ix_load_acquire(&evil.header()->cmd_cons.value), 0u);  // nothing executed
  }
  EXPECT_EQ(evil.counters().cmd_ring_corrupt, 4u);
  EXPECT_EQ(evil.counters().commands, 0u);
  EXPECT_FALSE(proc_.HasWork());  // a corrupt index does not keep the dataplane busy
  // Writing cmd_cons (the dataplane's index) is ignored: the dataplane keeps its own copy.
  ix_store_release(&evil.header()->cmd_prod.value, 0);
  ix_store_release(&evil.header()->cmd_cons.value, 50);
  evil.set_prod(0);
  const uint32_t idx = evil.Submit(Cmd(IX_CMD_NOP));
  Run();
  EXPECT_EQ(ix_load_acquire(&evil.header()->cmd_cons.value), 1u);
  EXPECT_EQ(evil.Ret(idx), 0);
}

TEST_F(HostileTest, CorruptEventRingIndexStallsOnlyThatApp) {
  TestApp good(&proc_, "good");
  TestApp evil(&proc_, "evil", {.ev_entries = 16});
  auto [gid, ge] = Establish(good, 80);
  auto [eid, ee] = Establish(evil, 81);
  ix_store_release(&evil.header()->ev_cons.value, 12345);
  fake_.Receive(ee, "x");
  fake_.Receive(ge, "y");
  Run();
  EXPECT_EQ(good.Events().size(), 1u);
  EXPECT_GE(evil.counters().ev_ring_corrupt, 1u);
  EXPECT_EQ(ix_load_acquire(&evil.header()->ev_prod.value), 1u);  // the knock and nothing more
  EXPECT_FALSE(proc_.HasWork());
  // Repaired, the app gets its event.
  ix_store_release(&evil.header()->ev_cons.value, 1);
  Run();
  EXPECT_EQ(ix_load_acquire(&evil.header()->ev_prod.value), 2u);
  (void)gid;
  (void)eid;
}

TEST_F(HostileTest, FloodingIsBoundedPerIteration) {
  TestApp good(&proc_, "good");
  TestApp evil(&proc_, "evil", {.cmd_entries = 1024});
  for (int i = 0; i < 1024; ++i) evil.Submit(Cmd(IX_CMD_NOP));
  const uint32_t g = good.Submit(Cmd(IX_CMD_NOP));
  EXPECT_EQ(proc_.ProcessCommands(0), 32 + 1);  // budget 32 for the flooder, the good one served
  EXPECT_TRUE(good.Done(g));
  EXPECT_EQ(ix_load_acquire(&evil.header()->cmd_cons.value), 32u);
  EXPECT_EQ(evil.counters().cmd_budget_hits, 1u);
  for (int i = 0; i < 40; ++i) proc_.ProcessCommands(0);
  EXPECT_EQ(ix_load_acquire(&evil.header()->cmd_cons.value), 1024u);
}

TEST_F(HostileTest, PortTheft) {
  TestApp a(&proc_, "a");
  TestApp b(&proc_, "b");
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  ASSERT_EQ(Exec(a, l), 0);
  EXPECT_EQ(Exec(b, l), -IX_EPERM);
  EXPECT_EQ(Exec(a, l), -IX_EADDRINUSE);
  ix_cmd ul = Cmd(IX_CMD_TCP_UNLISTEN);
  ul.port = 80;
  EXPECT_EQ(Exec(b, ul), -IX_EPERM);
  EXPECT_EQ(fake_.listening.count(80), 1u);
  ix_cmd c = Cmd(IX_CMD_TCP_CONNECT);
  c.remote_ip = 1;
  c.port = 1;
  c.local_port = 80;
  EXPECT_EQ(Exec(b, c), -IX_EPERM);
  ix_cmd ub = Cmd(IX_CMD_UDP_BIND);
  ub.port = 80;
  ASSERT_EQ(Exec(a, ub), 0);
  EXPECT_EQ(Exec(b, ub), -IX_EPERM);
  ix_cmd us = Cmd(IX_CMD_UDP_SEND);
  us.local_port = 80;
  us.remote_ip = 1;
  us.port = 1;
  EXPECT_EQ(Exec(b, us), -IX_EPERM);
  EXPECT_EQ(b.counters().errors[IX_EPERM], 5u);
}

TEST_F(HostileTest, HeldBuffersThrottleOnlyTheHolder) {
  TestApp good(&proc_, "good", {.rx_buf_count = 8});
  TestApp evil(&proc_, "evil", {.rx_buf_count = 8});
  auto [gid, ge] = Establish(good, 80);
  auto [eid, ee] = Establish(evil, 81);
  for (int i = 0; i < 20; ++i) {
    fake_.Receive(ee, std::string(4096, 'e'));
    fake_.Receive(ge, std::string(100, 'g'));
    Run();
    for (const ix_event& ev : good.Events()) {  // the good app returns what it gets
      ASSERT_EQ(ev.type, IX_EV_TCP_RECV);
      ix_cmd d = Cmd(IX_CMD_TCP_RECV_DONE);
      d.id = gid;
      d.buf = ev.buf;
      good.Submit(d);
    }
    (void)evil.Events();  // the evil one never does
  }
  Run();
  EXPECT_EQ(fake_.conns[ge].consumed, 2000u);
  EXPECT_EQ(fake_.conns[ee].consumed, 0u);
  EXPECT_EQ(proc_.rx_buffers_out(evil.app(), 0), 4u);  // a quarter of 8, at least 4
  (void)eid;
}

TEST_F(HostileTest, ConnectionCapPerAppAcrossQueues) {
  Processor proc(&fake_, ProcessorConfig{.max_conns_per_app = 3});
  auto m0 = *QpMemory::Create({}, false);
  auto m1 = *QpMemory::Create({}, false);
  const uint32_t app = proc.AddApp("greedy");
  ASSERT_TRUE(proc.AddQueue(app, m0->view()).ok());
  ASSERT_TRUE(proc.AddQueue(app, m1->view()).ok());
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  std::memcpy(static_cast<void*>(&m0->view().cmds[0]), &l, sizeof(l));
  ix_store_release(&m0->view().header->cmd_prod.value, 1);
  proc.ProcessCommands(0);
  ASSERT_EQ(m0->view().cmds[0].ret, 0);
  std::vector<ConnId> engines;
  for (int i = 0; i < 5; ++i) engines.push_back(fake_.Accept(80));
  proc.PumpStackEvents();
  proc.FlushEvents();
  EXPECT_EQ(proc.app_connections(app), 3u);
  EXPECT_EQ(proc.app_counters(app).knocks_dropped, 2u);
  EXPECT_TRUE(fake_.conns[engines[3]].aborted);
  EXPECT_TRUE(fake_.conns[engines[4]].aborted);
  ix_cmd c = Cmd(IX_CMD_TCP_CONNECT);
  c.remote_ip = 1;
  c.port = 1;
  std::memcpy(static_cast<void*>(&m1->view().cmds[0]), &c, sizeof(c));
  ix_store_release(&m1->view().header->cmd_prod.value, 1);
  proc.ProcessCommands(0);
  EXPECT_EQ(m1->view().cmds[0].ret, -IX_ENOMEM);
  proc.RemoveApp(app);
}

// Random batches from a hostile app (random opcodes, ids, offsets, lengths, flags, buffer
// indices, ring indices) while a good app keeps a connection going. Run under ASan as well.
TEST_F(HostileTest, RandomBatches) {
  TestApp good(&proc_, "good");
  TestApp evil(&proc_, "evil", {.cmd_entries = 64, .ev_entries = 64, .rx_buf_count = 16,
                                .tx_bytes = 4096});
  auto [gid, ge] = Establish(good, 80);
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 81;
  ASSERT_EQ(Exec(evil, l), 0);
  std::mt19937_64 rng(1234);
  std::string expect_sent;
  for (int round = 0; round < 3000; ++round) {
    // Some real traffic for the evil app too, so that ids and buffers exist to be abused.
    if (round % 7 == 0) fake_.Accept(81);
    for (auto& [engine, conn] : fake_.conns) {
      if (engine != ge && conn.local_port == 81 && rng() % 4 == 0) fake_.Receive(engine, "zz");
    }
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      ix_cmd c{};
      uint64_t words[8];
      for (auto& w : words) w = rng();
      std::memcpy(&c, words, sizeof(c));
      switch (rng() % 3) {
        case 0:
          c.op = static_cast<uint16_t>(rng() % (IX_CMD_OP_COUNT + 2));
          break;
        case 1:  // plausible: small values
          c.op = static_cast<uint16_t>(rng() % IX_CMD_OP_COUNT);
          c.flags = static_cast<uint16_t>(rng() % 4);
          c.id = static_cast<uint32_t>((rng() % 3) << 20 | rng() % 8);
          c.data_off = rng() % 5000;
          c.len = static_cast<uint32_t>(rng() % 5000);
          c.iov_cnt = static_cast<uint32_t>(rng() % 3);
          c.buf = static_cast<uint32_t>(rng() % 20);
          c.port = static_cast<uint16_t>(80 + rng() % 3);
          c.local_port = static_cast<uint16_t>(rng() % 2 ? 0 : 80 + rng() % 3);
          c.arg = rng() % 100000;
          break;
        default:
          break;
      }
      evil.Submit(c);
    }
    if (round % 50 == 0) {  // scribble over the shared indices and slots
      ix_store_relaxed(&evil.header()->ev_cons.value, static_cast<uint32_t>(rng()));
      if (rng() % 2) {
        const uint32_t p = static_cast<uint32_t>(rng());
        ix_store_release(&evil.header()->cmd_prod.value, p);
        evil.set_prod(p);
      }
    } else if (round % 50 == 1) {
      ix_store_relaxed(&evil.header()->ev_cons.value,
                       ix_load_acquire(&evil.header()->ev_prod.value));
      const uint32_t cons = ix_load_acquire(&evil.header()->cmd_cons.value);
      ix_store_release(&evil.header()->cmd_prod.value, cons);
      evil.set_prod(cons);
    }
    // The good app sends a chunk and expects exactly it to arrive.
    const std::string chunk = "r" + std::to_string(round) + ";";
    good.PutTx(0, chunk);
    ix_cmd s = Cmd(IX_CMD_TCP_SENDV);
    s.id = gid;
    s.len = static_cast<uint32_t>(chunk.size());
    const uint32_t idx = good.Submit(s);
    Run(round * 1000);
    ASSERT_TRUE(good.Done(idx));
    ASSERT_EQ(good.Ret(idx), static_cast<int64_t>(chunk.size()));
    expect_sent += chunk;
    (void)evil.Events();
  }
  EXPECT_EQ(fake_.conns[ge].sent, expect_sent);
  EXPECT_FALSE(fake_.conns[ge].aborted);
  EXPECT_FALSE(fake_.conns[ge].closed);
  const AppCounters c = proc_.app_counters(evil.app());
  uint64_t errors = 0;
  for (uint64_t e : c.errors) errors += e;
  EXPECT_GT(errors, 1000u);
  EXPECT_GT(c.cmd_ring_corrupt, 0u);
  const AppCounters g = proc_.app_counters(good.app());
  for (int e = 1; e < IX_ERROR_COUNT; ++e) EXPECT_EQ(g.errors[e], 0u) << e;
  proc_.RemoveApp(evil.app());
  EXPECT_FALSE(fake_.conns[ge].aborted);
}

}  // namespace
}  // namespace ix::ixd

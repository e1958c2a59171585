// Unit tests of the command processor over a fake stack: the normal life of connections, UDP and
// timers, receive back-pressure, and tear-down of an application.
#include "dataplane/ixd/processor.h"

#include <string>
#include <vector>

#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "dataplane/ixd/testing/test_app.h"
#include "gtest/gtest.h"

namespace ix::ixd {
namespace {

using testing::Cmd;
using testing::FakeStackOps;
using testing::TestApp;

class ProcessorTest : public ::testing::Test {
 protected:
  void Run(uint64_t now_ns = 0) {
    proc_.ProcessCommands(now_ns);
    proc_.PumpStackEvents();
    proc_.RunTimers(now_ns);
    proc_.FlushEvents();
  }
  int64_t Exec(TestApp& a, const ix_cmd& c, uint64_t now_ns = 0) {
    const uint32_t idx = a.Submit(c);
    Run(now_ns);
    EXPECT_TRUE(a.Done(idx));
    return a.Ret(idx);
  }
  // Listens on `port`, lets the fake accept a connection, accepts it with `cookie`; returns the
  // app's id and the engine's.
  std::pair<uint32_t, ConnId> Establish(TestApp& a, uint16_t port, uint64_t cookie) {
    ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
    l.port = port;
    l.arg = 16;
    EXPECT_EQ(Exec(a, l), 0);
    const ConnId engine = fake_.Accept(port);
    Run();
    std::vector<ix_event> evs = a.Events();
    EXPECT_EQ(evs.size(), 1u);
    if (evs.empty()) return {0, engine};
    EXPECT_EQ(evs[0].type, IX_EV_TCP_KNOCK);
    EXPECT_EQ(evs[0].local_port, port);
    ix_cmd acc = Cmd(IX_CMD_TCP_ACCEPT);
    acc.id = evs[0].id;
    acc.cookie = cookie;
    EXPECT_EQ(Exec(a, acc), 0);
    return {evs[0].id, engine};
  }

  FakeStackOps fake_;
  Processor proc_{&fake_, ProcessorConfig{}};
};

TEST_F(ProcessorTest, HeaderIsInitialized) {
  TestApp a(&proc_, "a", {.cmd_entries = 64, .ev_entries = 128});
  EXPECT_EQ(a.header()->magic, IX_ABI_MAGIC);
  EXPECT_EQ(a.header()->abi_version, static_cast<uint32_t>(IX_ABI_VERSION));
  EXPECT_EQ(a.header()->cmd_entries, 64u);
  EXPECT_EQ(a.header()->ev_entries, 128u);
  EXPECT_EQ(a.header()->cmd_off, sizeof(ix_qp_header));
  EXPECT_EQ(a.header()->ev_off, sizeof(ix_qp_header) + 64 * sizeof(ix_cmd));
}

TEST_F(ProcessorTest, AcceptReceiveSendClose) {
  TestApp a(&proc_, "a");
  auto [id, engine] = Establish(a, 80, 0xc00c1e);

  fake_.Receive(engine, "hello world");
  Run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_RECV);
  EXPECT_EQ(evs[0].cookie, 0xc00c1eu);
  EXPECT_EQ(evs[0].id, id);
  EXPECT_EQ(a.RxBytes(evs[0]), "hello world");
  // Not consumed in the engine until the buffer comes back.
  EXPECT_EQ(fake_.conns[engine].consumed, 0u);
  ix_cmd done = Cmd(IX_CMD_TCP_RECV_DONE);
  done.id = id;
  done.buf = evs[0].buf;
  EXPECT_EQ(Exec(a, done), 0);
  EXPECT_EQ(fake_.conns[engine].consumed, 11u);

  a.PutTx(4096, "reply");
  ix_cmd send = Cmd(IX_CMD_TCP_SENDV);
  send.id = id;
  send.data_off = 4096;
  send.len = 5;
  EXPECT_EQ(Exec(a, send), 5);
  EXPECT_EQ(fake_.conns[engine].sent, "reply");

  // Vectored send through an iovec array in the TX area.
  a.PutTx(100, "AB");
  a.PutTx(200, "CDE");
  ix_iov iov[2] = {{100, 2, 0}, {200, 3, 0}};
  std::memcpy(a.tx() + 1024, iov, sizeof(iov));
  send.data_off = 1024;
  send.len = 0;
  send.iov_cnt = 2;
  EXPECT_EQ(Exec(a, send), 5);
  EXPECT_EQ(fake_.conns[engine].sent, "replyABCDE");

  fake_.Event(engine, StackEventType::kTcpPeerClosed);
  Run();
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_RECV);
  EXPECT_EQ(evs[0].flags, IX_EVF_FIN);
  EXPECT_EQ(evs[0].len, 0u);

  ix_cmd close = Cmd(IX_CMD_TCP_CLOSE);
  close.id = id;
  EXPECT_EQ(Exec(a, close), 0);
  EXPECT_TRUE(fake_.conns[engine].closed);
  EXPECT_FALSE(fake_.conns[engine].aborted);
  EXPECT_EQ(proc_.app_connections(a.app()), 0u);
  // The id is stale now.
  EXPECT_EQ(Exec(a, send), -IX_EBADID);
}

TEST_F(ProcessorTest, ConnectAndShortSendAndDead) {
  TestApp a(&proc_, "a");
  ix_cmd c = Cmd(IX_CMD_TCP_CONNECT);
  c.remote_ip = 0x0a000002;
  c.port = 7;
  c.cookie = 42;
  const int64_t id = Exec(a, c);
  ASSERT_GE(id, 0);
  const ConnId engine = fake_.next_id - 1;
  fake_.Event(engine, StackEventType::kTcpConnected);
  Run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_CONNECTED);
  EXPECT_EQ(evs[0].cookie, 42u);
  EXPECT_EQ(evs[0].id, static_cast<uint32_t>(id));

  fake_.conns[engine].send_space = 3;
  a.PutTx(0, "abcdef");
  ix_cmd s = Cmd(IX_CMD_TCP_SENDV);
  s.id = static_cast<uint32_t>(id);
  s.len = 6;
  EXPECT_EQ(Exec(a, s), 3);
  fake_.conns[engine].send_space = 1000;
  fake_.Event(engine, StackEventType::kTcpWritable);
  Run();
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_SENT);
  EXPECT_EQ(evs[0].value, 1000);

  fake_.Event(engine, StackEventType::kTcpReset, TcpError::kConnectionReset);
  Run();
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_DEAD);
  EXPECT_EQ(evs[0].value, -IX_ECONNRESET);
  EXPECT_EQ(Exec(a, s), -IX_ECONNRESET);
  ix_cmd close = Cmd(IX_CMD_TCP_CLOSE);
  close.id = static_cast<uint32_t>(id);
  EXPECT_EQ(Exec(a, close), 0);
  EXPECT_EQ(proc_.app_connections(a.app()), 0u);
}

TEST_F(ProcessorTest, DataBeforeAcceptIsHeldAndRejectAborts) {
  TestApp a(&proc_, "a");
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  ASSERT_EQ(Exec(a, l), 0);
  const ConnId e1 = fake_.Accept(80);
  fake_.Receive(e1, "early");
  const ConnId e2 = fake_.Accept(80);
  Run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].type, IX_EV_TCP_KNOCK);
  EXPECT_EQ(evs[1].type, IX_EV_TCP_KNOCK);
  ix_cmd rej = Cmd(IX_CMD_TCP_REJECT);
  rej.id = evs[1].id;
  EXPECT_EQ(Exec(a, rej), 0);
  EXPECT_TRUE(fake_.conns[e2].aborted);
  EXPECT_TRUE(a.Events().empty());  // e1's data waits for the accept
  ix_cmd acc = Cmd(IX_CMD_TCP_ACCEPT);
  acc.id = evs[0].id;
  acc.cookie = 9;
  EXPECT_EQ(Exec(a, acc), 0);
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(a.RxBytes(evs[0]), "early");
  EXPECT_EQ(evs[0].cookie, 9u);
  // Accepting twice is a state error.
  EXPECT_EQ(Exec(a, acc), -IX_ESTATE);
}

TEST_F(ProcessorTest, ReceiveBackPressureWaitsForBuffers) {
  ProcessorConfig cfg;
  cfg.max_bufs_per_conn = 2;
  Processor proc(&fake_, cfg);
  TestApp a(&proc, "a", {.rx_buf_count = 8, .rx_buf_size = 2048});
  auto run = [&] {
    proc.ProcessCommands(0);
    proc.PumpStackEvents();
    proc.FlushEvents();
  };
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  a.Submit(l);
  const ConnId engine = fake_.Accept(80);
  run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  ix_cmd acc = Cmd(IX_CMD_TCP_ACCEPT);
  acc.id = evs[0].id;
  a.Submit(acc);
  run();
  const uint32_t id = evs[0].id;

  std::string data;
  for (int i = 0; i < 5000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  fake_.Receive(engine, data);
  run();
  evs = a.Events();
  ASSERT_EQ(evs.size(), 2u);  // two buffers, then the connection waits
  EXPECT_EQ(evs[0].len, 2048u);
  EXPECT_EQ(evs[1].len, 2048u);
  EXPECT_EQ(a.counters().rx_buf_starved, 1u);
  EXPECT_EQ(fake_.conns[engine].consumed, 0u);
  std::string got = a.RxBytes(evs[0]) + a.RxBytes(evs[1]);
  ix_cmd done = Cmd(IX_CMD_TCP_RECV_DONE);
  done.id = id;
  done.buf = evs[1].buf;  // out of order is fine
  a.Submit(done);
  run();
  EXPECT_EQ(fake_.conns[engine].consumed, 2048u);
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].len, 5000u - 4096u);
  got += a.RxBytes(evs[0]);
  EXPECT_EQ(got, data);
  EXPECT_EQ(proc.rx_buffers_out(a.app(), 0), 2u);
}

TEST_F(ProcessorTest, UdpBindSendReceive) {
  TestApp a(&proc_, "a");
  ix_cmd b = Cmd(IX_CMD_UDP_BIND);
  b.port = 53;
  ASSERT_EQ(Exec(a, b), 0);
  std::string dgram = "query";
  fake_.Udp(53, dgram);
  Run();
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_UDP_RECV);
  EXPECT_EQ(a.RxBytes(evs[0]), "query");
  EXPECT_EQ(evs[0].remote_port, 5353);
  ix_cmd done = Cmd(IX_CMD_UDP_RECV_DONE);
  done.buf = evs[0].buf;
  EXPECT_EQ(Exec(a, done), 0);
  EXPECT_EQ(Exec(a, done), -IX_EBADBUF);
  EXPECT_EQ(a.counters().buf_double_return, 1u);

  a.PutTx(0, "answer");
  ix_cmd s = Cmd(IX_CMD_UDP_SEND);
  s.local_port = 53;
  s.remote_ip = 0x0a000002;
  s.port = 5353;
  s.len = 6;
  s.flags = IX_SEND_NOTIFY;
  s.cookie = 77;
  EXPECT_EQ(Exec(a, s), 6);
  ASSERT_EQ(fake_.datagrams.size(), 1u);
  EXPECT_EQ(fake_.datagrams[0].payload, "answer");
  evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_UDP_SENT);
  EXPECT_EQ(evs[0].cookie, 77u);
  EXPECT_EQ(evs[0].value, 6);
  // From a port the app did not bind.
  s.local_port = 54;
  EXPECT_EQ(Exec(a, s), -IX_EPERM);
}

TEST_F(ProcessorTest, Timers) {
  TestApp a(&proc_, "a");
  ix_cmd t = Cmd(IX_CMD_TIMER_SET);
  t.id = 3;
  t.cookie = 5;
  t.arg = 1000;
  EXPECT_EQ(Exec(a, t, /*now_ns=*/100), 0);
  EXPECT_EQ(proc_.NextDeadline(), 1100u);
  Run(1099);
  EXPECT_TRUE(a.Events().empty());
  Run(1100);
  std::vector<ix_event> evs = a.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, IX_EV_TIMER);
  EXPECT_EQ(evs[0].id, 3u);
  EXPECT_EQ(evs[0].cookie, 5u);
  ix_cmd c = Cmd(IX_CMD_TIMER_CANCEL);
  c.id = 3;
  EXPECT_EQ(Exec(a, c), -IX_ESTATE);
  EXPECT_EQ(Exec(a, t, 2000), 0);
  EXPECT_EQ(Exec(a, c), 0);
  Run(1'000'000);
  EXPECT_TRUE(a.Events().empty());
  t.id = IX_MAX_TIMERS;
  EXPECT_EQ(Exec(a, t), -IX_EINVAL);
}

TEST_F(ProcessorTest, RemoveAppResetsItsConnectionsOnly) {
  TestApp a(&proc_, "a");
  TestApp b(&proc_, "b");
  auto [ida, ea] = Establish(a, 80, 1);
  auto [idb, eb] = Establish(b, 81, 2);
  ix_cmd ub = Cmd(IX_CMD_UDP_BIND);
  ub.port = 99;
  ASSERT_EQ(Exec(a, ub), 0);
  fake_.Receive(ea, "pending data");
  Run();
  ASSERT_EQ(a.Events().size(), 1u);
  proc_.RemoveApp(a.app());
  EXPECT_TRUE(fake_.conns[ea].aborted);
  EXPECT_FALSE(fake_.conns[eb].aborted);
  EXPECT_EQ(fake_.listening.count(80), 0u);
  EXPECT_EQ(fake_.listening.count(81), 1u);
  EXPECT_EQ(fake_.udp_bound.count(99), 0u);
  EXPECT_EQ(proc_.apps_removed(), 1u);
  // Late stack events of the dead app's connection go nowhere.
  fake_.Receive(ea, "late");
  fake_.Receive(eb, "for b");
  Run();
  std::vector<ix_event> evs = b.Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(b.RxBytes(evs[0]), "for b");
  // The port is free for others now.
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  EXPECT_EQ(Exec(b, l), 0);
  (void)ida;
  (void)idb;
}

TEST_F(ProcessorTest, AcceptedConnectionsSpreadOverQueues) {
  QpSizes sizes;
  auto m0 = *QpMemory::Create(sizes, false);
  auto m1 = *QpMemory::Create(sizes, false);
  const uint32_t app = proc_.AddApp("mq");
  ASSERT_EQ(*proc_.AddQueue(app, m0->view()), 0u);
  ASSERT_EQ(*proc_.AddQueue(app, m1->view()), 1u);
  ix_cmd l = Cmd(IX_CMD_TCP_LISTEN);
  l.port = 80;
  std::memcpy(static_cast<void*>(&m0->view().cmds[0]), &l, sizeof(l));
  ix_store_release(&m0->view().header->cmd_prod.value, 1);
  Run();
  ASSERT_EQ(m0->view().cmds[0].ret, 0);
  for (int i = 0; i < 4; ++i) fake_.Accept(80);
  Run();
  EXPECT_EQ(ix_load_acquire(&m0->view().header->ev_prod.value), 2u);
  EXPECT_EQ(ix_load_acquire(&m1->view().header->ev_prod.value), 2u);
  proc_.RemoveApp(app);
}

}  // namespace
}  // namespace ix::ixd

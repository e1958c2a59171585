// ixev over the real command processor and a fake stack: callbacks, buffered sends with
// back-pressure and the edge-triggered on_writable, connect, and teardown on dead connections.
#include "libix/ixev.h"

#include <string>

#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "gtest/gtest.h"
#include "libix/testing/test_backend.h"

namespace ix::lib {
namespace {

using ixd::StackEventType;
using ixd::testing::FakeStackOps;

class IxevTest : public ::testing::Test {
 protected:
  IxevTest() {
    auto b = std::make_unique<testing::TestBackend>(&proc_, ixd::QpSizes{});
    ix_ = NewContext(std::move(b));
    loop_ = std::make_unique<ev::Loop>(ix_);
  }
  ~IxevTest() override {
    loop_.reset();
    ix_destroy(ix_);
  }
  void Spin(int n = 4) {
    for (int i = 0; i < n; ++i) loop_->RunOnce(0);
  }

  FakeStackOps fake_;
  ixd::Processor proc_{&fake_, ixd::ProcessorConfig{}};
  ix_t* ix_ = nullptr;
  std::unique_ptr<ev::Loop> loop_;
};

TEST_F(IxevTest, EchoServer) {
  int accepted = 0;
  ASSERT_EQ(loop_->Listen(7, [&](ev::Conn& c) {
    ++accepted;
    c.on_recv = [](ev::Conn& c, const uint8_t* p, size_t n) { EXPECT_EQ(c.Send(p, n), n); };
  }), 0);
  Spin();
  const ixd::ConnId e = fake_.Accept(7);
  Spin();
  EXPECT_EQ(accepted, 1);
  fake_.Receive(e, "hello ");
  Spin();
  fake_.Receive(e, "world");
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, "hello world");
  EXPECT_EQ(fake_.conns[e].consumed, 11u);
  // The peer closes: the default on_eof closes our side and the Conn goes away.
  fake_.Event(e, StackEventType::kTcpPeerClosed);
  Spin();
  EXPECT_TRUE(fake_.conns[e].closed);
  EXPECT_EQ(loop_->connections(), 0u);
}

TEST_F(IxevTest, BackPressureAndEdgeTriggeredWritable) {
  ev::Conn* conn = nullptr;
  int writable = 0;
  ASSERT_EQ(loop_->Listen(7, [&](ev::Conn& c) {
    conn = &c;
    c.send_limit = 1000;
    c.on_writable = [&](ev::Conn&) { ++writable; };
  }), 0);
  const ixd::ConnId e = fake_.Accept(7);
  Spin();
  ASSERT_NE(conn, nullptr);
  fake_.conns[e].send_space = 300;
  std::string data(1500, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(conn->Send(data.data(), data.size()), 1000u);  // the buffer limit
  Spin();
  EXPECT_EQ(fake_.conns[e].sent.size(), 300u);  // the stack took what it had room for
  EXPECT_EQ(writable, 0);
  // 700 bytes wait in the buffer: room for 300 more, then the buffer is full again.
  EXPECT_EQ(conn->Send(data.data() + 1000, 500), 300u);
  EXPECT_EQ(conn->send_buffered(), 1000u);
  // Room opens in the stack: the rest flows and on_writable fires once.
  fake_.conns[e].send_space = 100000;
  fake_.Event(e, StackEventType::kTcpWritable);
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, data.substr(0, 1300));
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(conn->Send(data.data() + 1300, 200), 200u);
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, data);
  EXPECT_EQ(writable, 1);  // edge-triggered: no new call without a new short Send
  // Close waits for buffered data, then closes.
  fake_.conns[e].send_space = 0;
  EXPECT_EQ(conn->Send("tail", 4), 4u);
  conn->Close();
  Spin();
  EXPECT_FALSE(fake_.conns[e].closed);
  fake_.conns[e].send_space = 100;
  fake_.Event(e, StackEventType::kTcpWritable);
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, data + "tail");
  EXPECT_TRUE(fake_.conns[e].closed);
}

TEST_F(IxevTest, ConnectThenReset) {
  ev::Conn* c = loop_->Connect(0x0a000002, 9);
  ASSERT_NE(c, nullptr);
  bool connected = false;
  int dead = 1;
  c->on_connected = [&](ev::Conn&) { connected = true; };
  c->on_dead = [&](ev::Conn&, int err) { dead = err; };
  EXPECT_EQ(c->Send("early", 5), 5u);  // buffered until connected
  Spin();
  const ixd::ConnId e = fake_.next_id - 1;
  EXPECT_EQ(fake_.conns[e].sent, "");
  fake_.Event(e, StackEventType::kTcpConnected);
  Spin();
  EXPECT_TRUE(connected);
  EXPECT_EQ(fake_.conns[e].sent, "early");
  fake_.Event(e, StackEventType::kTcpReset, ixd::TcpError::kConnectionReset);
  Spin();
  EXPECT_EQ(dead, -IX_ECONNRESET);
  EXPECT_EQ(loop_->connections(), 0u);
}

}  // namespace
}  // namespace ix::lib

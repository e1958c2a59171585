// StreamServer over libix and the real command processor with a fake stack: zero-copy receive
// (buffers returned once consumed), back-pressure (buffers held while replies wait, no byte
// lost), end of stream, resets mid-command, handler-requested close and `again`, limits.
#include "examples/kv/stream_server.h"

#include <memory>
#include <string>
#include <vector>

#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "gtest/gtest.h"
#include "libix/testing/test_backend.h"

namespace ix::apps {
namespace {

using ixd::ConnId;
using ixd::StackEventType;
using ixd::testing::FakeStackOps;

constexpr uint16_t kPort = 11211;

// Replies to each line "N\n" with N bytes of a deterministic pattern; "close\n" closes;
// counts live handlers.
class PatternHandler : public StreamHandler {
 public:
  explicit PatternHandler(int* live) : live_(live) { ++*live_; }
  ~PatternHandler() override { --*live_; }
  Result OnData(absl::Span<const uint8_t> in, std::string* out) override {
    for (size_t i = 0; i < in.size(); ++i) {
      const char ch = static_cast<char>(in[i]);
      if (ch != '\n') {
        line_ += ch;
        continue;
      }
      if (line_ == "close") return {.consumed = i + 1, .close = true};
      const size_t n = std::stoul(line_);
      for (size_t k = 0; k < n; ++k) out->push_back(static_cast<char>('a' + (next_++ % 26)));
      line_.clear();
    }
    return {.consumed = in.size()};
  }

 private:
  int* live_;
  std::string line_;
  size_t next_ = 0;
};

std::string Pattern(size_t from, size_t n) {
  std::string s;
  for (size_t k = 0; k < n; ++k) s.push_back(static_cast<char>('a' + ((from + k) % 26)));
  return s;
}

class StreamServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(StreamServerOptions{.port = kPort}); }
  void TearDown() override {
    server_.reset();
    if (ix_ != nullptr) ix_destroy(ix_);
  }
  void Make(const StreamServerOptions& options, ixd::QpSizes sizes = {}) {
    server_.reset();
    if (ix_ != nullptr) ix_destroy(ix_);
    auto backend = std::make_unique<lib::testing::TestBackend>(&proc_, sizes);
    backend_ = backend.get();
    ix_ = lib::NewContext(std::move(backend));
    server_ = std::make_unique<StreamServer>(
        ix_, [this] { return std::make_unique<PatternHandler>(&live_); }, options);
    ASSERT_EQ(server_->Listen(), 0);
    Spin();
    ASSERT_EQ(server_->listen_status(), 0);
  }
  void Spin(int n = 6) {
    ix_event ev[256];  // as many as the apps take per poll
    for (int i = 0; i < n; ++i) {
      const int got = ix_poll(ix_, ev, 256, 0);
      ASSERT_GE(got, 0);
      for (int k = 0; k < got; ++k) EXPECT_TRUE(server_->HandleEvent(ev[k]));
      server_->AfterEvents();
    }
  }

  FakeStackOps fake_;
  ixd::Processor proc_{&fake_, ixd::ProcessorConfig{}};
  ix_t* ix_ = nullptr;
  lib::testing::TestBackend* backend_ = nullptr;  // owned by ix_
  std::unique_ptr<StreamServer> server_;
  int live_ = 0;
};

TEST_F(StreamServerTest, RepliesAndReturnsBuffers) {
  const ConnId e = fake_.Accept(kPort);
  Spin();
  EXPECT_EQ(server_->connections(), 1u);
  EXPECT_EQ(live_, 1);
  fake_.Receive(e, "3\n");
  Spin();
  fake_.Receive(e, "2\n1");  // a partial line stays in the handler
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, 5));
  EXPECT_EQ(fake_.conns[e].consumed, 5u);  // every buffer went back
  EXPECT_EQ(server_->held_buffers(), 0u);
  fake_.Receive(e, "0\n");
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, 15));
  EXPECT_EQ(server_->counters().accepted, 1u);
}

TEST_F(StreamServerTest, BackPressureHoldsBuffersAndLosesNothing) {
  Make(StreamServerOptions{.port = kPort, .batch_bytes = 1000, .max_send_bytes = 700});
  const ConnId e = fake_.Accept(kPort);
  Spin();
  fake_.conns[e].send_space = 500;
  // 1024 requests for 400 bytes each (two 2 KiB RX buffers), from a client that does not read.
  std::string burst;
  for (int i = 0; i < 1024; ++i) burst += "400\n";
  const size_t total = 1024 * 400;
  fake_.Receive(e, burst);
  Spin();
  EXPECT_EQ(fake_.conns[e].sent.size(), 500u);
  // The replies to the first buffer wait: the second buffer is held, not returned, so the TCP
  // window stays shut.
  EXPECT_EQ(fake_.conns[e].consumed, 2048u);
  EXPECT_EQ(server_->held_buffers(), 1u);
  EXPECT_GE(server_->counters().short_sends, 1u);
  // Room opens in steps; everything arrives, in order.
  for (int step = 0; step < 100 && fake_.conns[e].sent.size() < total; ++step) {
    fake_.conns[e].send_space = 7000;
    fake_.Event(e, StackEventType::kTcpWritable);
    Spin();
  }
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, total));
  EXPECT_EQ(fake_.conns[e].consumed, burst.size());
  EXPECT_EQ(server_->held_buffers(), 0u);
}

TEST_F(StreamServerTest, LargeReplyInPiecesThroughASmallTxArea) {
  ixd::QpSizes sizes;
  sizes.tx_bytes = 64 * 1024;
  Make(StreamServerOptions{.port = kPort, .batch_bytes = 16 * 1024, .max_send_bytes = 48 * 1024},
       sizes);
  const ConnId e = fake_.Accept(kPort);
  Spin();
  fake_.Receive(e, "300000\n7\n");
  Spin(40);
  EXPECT_EQ(fake_.conns[e].sent.size(), 300007u);
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, 300007));
}

TEST_F(StreamServerTest, FinAnswersEverythingThenCloses) {
  const ConnId e = fake_.Accept(kPort);
  Spin();
  fake_.conns[e].send_space = 10;
  fake_.Receive(e, "30\n");
  fake_.Event(e, StackEventType::kTcpPeerClosed);
  Spin();
  EXPECT_FALSE(fake_.conns[e].closed);  // 20 reply bytes still wait
  fake_.conns[e].send_space = 100;
  fake_.Event(e, StackEventType::kTcpWritable);
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, 30));
  EXPECT_TRUE(fake_.conns[e].closed);
  EXPECT_FALSE(fake_.conns[e].aborted);
  EXPECT_EQ(server_->connections(), 0u);
  EXPECT_EQ(live_, 0);
}

TEST_F(StreamServerTest, ResetMidCommandFreesEverything) {
  const ConnId e = fake_.Accept(kPort);
  const ConnId f = fake_.Accept(kPort);
  Spin();
  EXPECT_EQ(live_, 2);
  fake_.conns[e].send_space = 0;
  fake_.Receive(e, "5000\n12");  // a reply waiting and a partial command
  Spin();
  fake_.Event(e, StackEventType::kTcpReset, ixd::TcpError::kConnectionReset);
  Spin();
  EXPECT_EQ(live_, 1);
  EXPECT_EQ(server_->connections(), 1u);
  EXPECT_EQ(server_->counters().reset, 1u);
  EXPECT_EQ(server_->held_buffers(), 0u);
  EXPECT_EQ(proc_.rx_buffers_out(backend_->app(), 0), 0u);  // the close reclaimed every buffer
  // The other connection is unaffected.
  fake_.Receive(f, "4\n");
  Spin();
  EXPECT_EQ(fake_.conns[f].sent, Pattern(0, 4));
}

TEST_F(StreamServerTest, HandlerCloseSendsRepliesFirstAndDropsLaterInput) {
  const ConnId e = fake_.Accept(kPort);
  Spin();
  fake_.Receive(e, "6\nclose\n9\n");
  Spin();
  EXPECT_EQ(fake_.conns[e].sent, Pattern(0, 6));
  EXPECT_TRUE(fake_.conns[e].closed);
  EXPECT_EQ(live_, 0);
}

TEST_F(StreamServerTest, RejectsOverTheConnectionLimit) {
  Make(StreamServerOptions{.port = kPort, .max_connections = 2});
  const ConnId a = fake_.Accept(kPort);
  const ConnId b = fake_.Accept(kPort);
  const ConnId c = fake_.Accept(kPort);
  Spin();
  EXPECT_EQ(server_->connections(), 2u);
  EXPECT_EQ(server_->counters().rejected, 1u);
  EXPECT_TRUE(fake_.conns[c].aborted);
  EXPECT_FALSE(fake_.conns[a].aborted || fake_.conns[b].aborted);
}

// More commands in one batch than the command ring holds (256 by default): none of their
// results may be lost (StreamServer::CommandRoom), so every connection gets all its bytes.
TEST_F(StreamServerTest, MoreCommandsThanRingSlotsInOneBatch) {
  std::vector<ConnId> ids;
  for (int i = 0; i < 300; ++i) ids.push_back(fake_.Accept(kPort));
  Spin();
  ASSERT_EQ(server_->connections(), 300u);
  for (ConnId e : ids) fake_.conns[e].send_space = 3;  // every send is short at first
  for (ConnId e : ids) fake_.Receive(e, "5\n");
  Spin(3);
  for (ConnId e : ids) {
    fake_.conns[e].send_space = 1 << 20;
    fake_.Event(e, StackEventType::kTcpWritable);
  }
  Spin(30);
  int complete = 0;
  for (ConnId e : ids) complete += fake_.conns[e].sent == Pattern(0, 5) ? 1 : 0;
  EXPECT_EQ(complete, 300);
  EXPECT_EQ(server_->held_buffers(), 0u);
  EXPECT_GT(server_->counters().deferred_cmds, 0u);
}

// A handler that produces its output in pieces, asking to be called again (as KvSession does
// on output_full).
class AgainHandler : public StreamHandler {
 public:
  Result OnData(absl::Span<const uint8_t> in, std::string* out) override {
    pending_ += in.size() * 3;  // three reply bytes per input byte, 100 at a time
    const size_t n = std::min<size_t>(pending_, 100);
    out->append(n, 'x');
    pending_ -= n;
    return {.consumed = in.size(), .again = pending_ > 0};
  }
  size_t pending_ = 0;
};

TEST_F(StreamServerTest, AgainIsCalledUntilDone) {
  server_ = std::make_unique<StreamServer>(
      ix_, [] { return std::make_unique<AgainHandler>(); },
      StreamServerOptions{.port = kPort + 1, .batch_bytes = 150});
  ASSERT_EQ(server_->Listen(), 0);
  Spin();
  const ConnId e = fake_.Accept(kPort + 1);
  Spin();
  fake_.Receive(e, std::string(1000, 'q'));
  Spin(80);
  EXPECT_EQ(fake_.conns[e].sent, std::string(3000, 'x'));
  EXPECT_EQ(fake_.conns[e].consumed, 1000u);
}

}  // namespace
}  // namespace ix::apps

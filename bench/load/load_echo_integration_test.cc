// Integration tests of the ix-load binary against a real loopback echo responder that delays
// every reply by 1 ms: (a) the measured p50 at a low rate is ~1 ms; (b) open loop: a 200 ms
// stall of the responder in the middle of the run shows up in p99 while the generator keeps
// sending at the offered rate (no coordinated omission).
#include <algorithm>
#include <string>

#include "bench/load/testing/delay_echo_server.h"
#include "bench/load/testing/run_ix_load.h"
#include "gtest/gtest.h"

namespace ix::load {
namespace {

using testing::DelayEchoServer;
using testing::IxLoadPath;
using testing::RunIxLoad;

class LoadEchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (IxLoadPath().empty()) GTEST_SKIP() << "IX_LOAD_BIN is not set (run through meson test)";
  }
};

TEST_F(LoadEchoTest, MedianMatchesTheResponderDelay) {
  DelayEchoServer server;
  ASSERT_TRUE(server.Start({.delay_ns = 1'000'000}).ok());
  const auto run = RunIxLoad({"--server=127.0.0.1:" + std::to_string(server.port()),
                              "--protocol=echo", "--rate=300", "--arrival=poisson",
                              "--duration=3s", "--warmup=500ms", "--connections=2",
                              "--payload_size=uniform:16:256", "--timeout=2s"},
                             /*time_limit_s=*/20);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  ASSERT_TRUE(run.report.is_object()) << run.stderr_text;
  const auto& r = run.report;
  std::printf("%s", run.stderr_text.c_str());
  const auto& req = r["requests"];
  EXPECT_GT(req["scheduled"].get<uint64_t>(), 700u);  // ~900 at 300/s for 3 s
  EXPECT_EQ(req["completed"], req["scheduled"]);
  EXPECT_EQ(req["errors"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["timeouts"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["bad_data"].get<uint64_t>(), 0u);
  const double p50_us = r["latency_us"]["p50"].get<double>();
  EXPECT_GE(p50_us, 900.0);
  EXPECT_LE(p50_us, 2000.0);
  EXPECT_GE(r["latency_us"]["min"].get<double>(), 1000.0);  // nothing beats the delay
  EXPECT_NEAR(r["achieved_send_rate"].get<double>(), 300.0, 60.0);
}

TEST_F(LoadEchoTest, StallShowsInTailWhileSendingContinues) {
  DelayEchoServer server;
  // ix-load connects, then starts within ~2 ms; warm-up 0.5 s, so the stall is ~2 s into the
  // measured 4 s.
  ASSERT_TRUE(server
                  .Start({.delay_ns = 1'000'000,
                          .stall_at_ns = 2'500'000'000,
                          .stall_ns = 200'000'000})
                  .ok());
  const double rate = 2000;
  const auto run = RunIxLoad({"--server=127.0.0.1:" + std::to_string(server.port()),
                              "--protocol=echo", "--rate=2000", "--arrival=fixed",
                              "--duration=4s", "--warmup=500ms", "--connections=4",
                              "--payload_size=64", "--timeout=2s", "--interval=100ms"},
                             /*time_limit_s=*/25);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  ASSERT_TRUE(run.report.is_object()) << run.stderr_text;
  std::printf("%s", run.stderr_text.c_str());
  ASSERT_NE(server.stall_started_ns(), 0u) << "the responder never stalled";
  EXPECT_GE(server.stall_ended_ns() - server.stall_started_ns(), 200'000'000u);
  const auto& r = run.report;
  const auto& req = r["requests"];
  EXPECT_EQ(req["completed"], req["scheduled"]);
  EXPECT_EQ(req["errors"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["timeouts"].get<uint64_t>(), 0u);
  // 200 ms of 4 s is 5% of the requests, all late by up to 200 ms: p99 must see it.
  const double p99_us = r["latency_us"]["p99"].get<double>();
  EXPECT_GE(p99_us, 50'000.0);
  EXPECT_GE(r["latency_us"]["max"].get<double>(), 150'000.0);
  // ...while the median stays at the responder's delay.
  EXPECT_LE(r["latency_us"]["p50"].get<double>(), 2'000.0);
  // Open loop: the send rate did not dip.
  EXPECT_NEAR(r["achieved_send_rate"].get<double>(), rate, rate * 0.03);
  EXPECT_NEAR(r["offered_rate"].get<double>(), rate, rate * 0.01);
  // Every 100 ms bin, the stall included, sent its ~200 requests on time; completions show the
  // stall as a bin with (almost) nothing completed.
  const auto& timeline = r["timeline"];
  ASSERT_EQ(timeline.size(), 40u);
  uint64_t min_sent = UINT64_MAX, min_completed = UINT64_MAX;
  for (const auto& bin : timeline) {
    min_sent = std::min(min_sent, bin["sent"].get<uint64_t>());
    min_completed = std::min(min_completed, bin["completed"].get<uint64_t>());
  }
  EXPECT_GE(min_sent, 180u);
  EXPECT_LE(min_completed, 40u);
  EXPECT_LT(r["send_lag_us"]["p99"].get<double>(), 10'000.0);
}

TEST_F(LoadEchoTest, UnansweredRequestsTimeOutAndTheConnectionRecovers) {
  DelayEchoServer server;
  // A 700 ms freeze against a 200 ms timeout: requests time out, connections are reset and
  // re-established, and requests complete again afterwards.
  ASSERT_TRUE(server
                  .Start({.delay_ns = 1'000'000,
                          .stall_at_ns = 1'000'000'000,
                          .stall_ns = 700'000'000})
                  .ok());
  const auto run = RunIxLoad({"--server=127.0.0.1:" + std::to_string(server.port()),
                              "--rate=500", "--arrival=fixed", "--duration=2500ms",
                              "--warmup=0s", "--connections=2", "--timeout=200ms",
                              "--interval=500ms"},
                             /*time_limit_s=*/20);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  ASSERT_TRUE(run.report.is_object()) << run.stderr_text;
  std::printf("%s", run.stderr_text.c_str());
  const auto& r = run.report;
  const auto& req = r["requests"];
  EXPECT_GT(req["timeouts"].get<uint64_t>(), 100u);
  EXPECT_GE(r["connections"]["resets"].get<uint64_t>(), 2u);
  EXPECT_GT(r["connections"]["connects"].get<uint64_t>(), 2u);
  // Every request is accounted for exactly once.
  EXPECT_EQ(req["completed"].get<uint64_t>() + req["timeouts"].get<uint64_t>() +
                req["aborted"].get<uint64_t>() + req["unsent"].get<uint64_t>(),
            req["scheduled"].get<uint64_t>());
  // The last 500 ms, well after the stall, completes normally again.
  const auto& last = r["timeline"].back();
  EXPECT_GT(last["completed"].get<uint64_t>(), 200u);
  EXPECT_LT(last["p99_us"].get<double>(), 50'000.0);
}

TEST_F(LoadEchoTest, MaxRequestsBoundsTheRun) {
  DelayEchoServer server;
  ASSERT_TRUE(server.Start({.delay_ns = 0}).ok());
  const auto run = RunIxLoad({"--server=127.0.0.1:" + std::to_string(server.port()),
                              "--rate=1000", "--duration=60s", "--warmup=100ms",
                              "--max-requests=300", "--threads=2", "--connections=2"},
                             /*time_limit_s=*/10);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const auto& r = run.report;
  const auto& req = r["requests"];
  EXPECT_EQ(req["sent"].get<uint64_t>() + req["warmup_sent"].get<uint64_t>(), 300u);
  EXPECT_EQ(req["completed"], req["sent"]);
  EXPECT_LT(r["wall_s"].get<double>(), 2.0);  // not 60 s
  EXPECT_NEAR(r["offered_rate"].get<double>(), 1000.0, 200.0);
}

TEST_F(LoadEchoTest, BadFlagsAndForeignAddressesExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--server=127.0.0.1:9", "--bogus=1"}, "unknown flag --bogus"},
           {{"--server=127.0.0.1:9", "--rate=fast"}, "bad value 'fast' for --rate"},
           {{"--server=127.0.0.1:9", "--rate=0"}, "--rate must be"},
           {{"--server=127.0.0.1:9", "--protocol=http"}, "--protocol must be"},
           {{"--server=127.0.0.1:9", "--payload_size=uniform:9:1"}, "bad size distribution"},
           {{"--rate=10"}, "--server is required"},
           {{"--server=10.1.2.3:11211"}, "refusing to send to non-loopback address"},
           {{"--server=8.8.8.8:53", "--allow-netns-address"}, "refusing to send to 8.8.8.8"},
       }) {
    const auto run = RunIxLoad(c.args, /*time_limit_s=*/10);
    EXPECT_EQ(run.exit_code, 2) << c.args.back();
    EXPECT_NE(run.stderr_text.find(c.message), std::string::npos) << run.stderr_text;
    EXPECT_TRUE(run.report.is_null());
  }
}

}  // namespace
}  // namespace ix::load

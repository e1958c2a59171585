// A tiny loopback echo responder for ix-load tests: echoes every chunk it reads after a fixed
// delay, and can stall once (neither reading nor writing) for a while in the middle of a run.
//
// Usage:
//   DelayEchoServer server;
//   ASSERT_TRUE(server.Start({.delay_ns = 1'000'000}).ok());
//   ... connect to 127.0.0.1:server.port() ...
//   server.Stop();   // also done by the destructor
#ifndef IX_BENCH_LOAD_TESTING_DELAY_ECHO_SERVER_H_
#define IX_BENCH_LOAD_TESTING_DELAY_ECHO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/status/status.h"

namespace ix::load::testing {

class DelayEchoServer {
 public:
  struct Options {
    uint64_t delay_ns = 0;     // each chunk is echoed this long after it was read
    uint64_t stall_at_ns = 0;  // stall this long after the first accepted connection...
    uint64_t stall_ns = 0;     // ...for this long (0 = never stall)
  };

  DelayEchoServer() = default;
  ~DelayEchoServer() { Stop(); }
  DelayEchoServer(const DelayEchoServer&) = delete;
  DelayEchoServer& operator=(const DelayEchoServer&) = delete;

  // Listens on 127.0.0.1 at a free port and serves from a thread of its own.
  absl::Status Start(const Options& options);
  void Stop();
  uint16_t port() const { return port_; }
  uint64_t bytes_echoed() const { return bytes_echoed_.load(); }
  uint64_t connections_accepted() const { return accepted_.load(); }
  // Monotonic ns of the stall's start and end, 0 until it happened.
  uint64_t stall_started_ns() const { return stall_started_ns_.load(); }
  uint64_t stall_ended_ns() const { return stall_ended_ns_.load(); }

 private:
  void Serve();

  Options options_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_echoed_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> stall_started_ns_{0};
  std::atomic<uint64_t> stall_ended_ns_{0};
};

}  // namespace ix::load::testing

#endif  // IX_BENCH_LOAD_TESTING_DELAY_ECHO_SERVER_H_

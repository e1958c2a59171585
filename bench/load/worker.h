// One ix-load worker thread: its share of the connections and of the precomputed schedule, an
// epoll loop that submits every request at its scheduled time whatever the server does, and
// the counters and histograms of what happened.
//
// Usage (one thread per worker):
//   Worker w(options, std::move(workload));
//   absl::Status s = w.Connect(deadline_ns);   // all connections up, or an error
//   w.Run(t0_ns);                              // returns when the schedule is done and drained
//   const WorkerResult& r = w.result();
#ifndef IX_BENCH_LOAD_WORKER_H_
#define IX_BENCH_LOAD_WORKER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "bench/load/conn.h"
#include "bench/load/distributions.h"
#include "bench/load/target.h"
#include "bench/load/workload.h"
#include "common/histogram.h"

namespace ix::load {

// Request counters cover requests scheduled in the measurement phase only; connection counters
// cover the whole run.
struct Counters {
  uint64_t scheduled = 0;      // due in the measurement phase
  uint64_t sent = 0;           // written (handed to the socket) for the first time
  uint64_t retries = 0;        // written again after a connection reset
  uint64_t completed = 0;      // a complete response arrived (any outcome)
  uint64_t ok = 0;             // successful responses (echo ok, STORED, hit, miss)
  uint64_t gets = 0, sets = 0, hits = 0, misses = 0;  // completed memcache operations
  uint64_t server_errors = 0;  // ERROR, CLIENT_ERROR, SERVER_ERROR, NOT_STORED, ...
  uint64_t bad_data = 0;       // wrong echo bytes, wrong key or value bytes
  uint64_t timeouts = 0;       // unanswered after --timeout
  uint64_t aborted = 0;        // reply could not be parsed (the connection was reset)
  uint64_t unsent = 0;         // never written before the run ended
  uint64_t warmup_sent = 0;    // requests of the warm-up phase
  uint64_t connects = 0, connect_errors = 0, resets = 0, protocol_errors = 0;

  // Errors as reported: everything that failed other than by timeout.
  uint64_t errors() const { return server_errors + bad_data + aborted; }
  void Add(const Counters& o);
};

struct TimelineBin {
  uint64_t sent = 0;       // measured requests written during the bin
  uint64_t completed = 0;  // measured responses that arrived during the bin
  LatencyHistogram latency;  // latency of requests scheduled during the bin
};

struct WorkerResult {
  Counters counters;
  LatencyHistogram latency;   // scheduled send -> response, successful measured requests
  LatencyHistogram send_lag;  // scheduled send -> written, measured requests
  std::vector<TimelineBin> timeline;
  void Add(const WorkerResult& o);
};

struct WorkerOptions {
  uint32_t index = 0;
  Target target;
  uint32_t connections = 1;
  ConnOptions conn;
  uint64_t warmup_ns = 0;
  uint64_t measure_ns = 0;
  uint64_t interval_ns = 0;        // timeline bin width; 0 = no timeline
  uint64_t spin_ns = 0;            // busy-poll this long before each scheduled send
  std::vector<uint64_t> schedule;  // offsets from t0, ascending, < warmup_ns + measure_ns
  uint64_t seed = 1;
};

class Worker : public ConnObserver {
 public:
  Worker(WorkerOptions options, std::unique_ptr<Workload> workload);
  ~Worker() override;

  // Opens every connection and waits until all are established, until deadline_ns, or until one
  // fails (then the error names the errno).
  absl::Status Connect(uint64_t deadline_ns);
  // Runs the schedule relative to t0_ns, then waits up to the timeout for the last responses.
  void Run(uint64_t t0_ns);
  const WorkerResult& result() const { return *result_; }

  // ConnObserver.
  void OnSent(const Request& req, uint64_t now_ns) override;
  void OnResponse(const Request& req, Outcome outcome, uint64_t now_ns) override;
  void OnDropped(const Request& req, DropReason why) override;
  void OnConnected() override { result_->counters.connects++; }
  void OnConnectError(int err) override;
  void OnReset(bool protocol_error) override;

 private:
  TimelineBin* BinAt(uint64_t t_ns);
  void PollOnce(uint64_t wait_ns);

  WorkerOptions o_;
  std::unique_ptr<Workload> workload_;
  Rng rng_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::unique_ptr<WorkerResult> result_;
  uint64_t t0_ns_ = 0;
  int last_connect_errno_ = 0;
};

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_WORKER_H_

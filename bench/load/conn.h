// One pipelined, non-blocking TCP connection of ix-load, driven by its worker's epoll loop.
//
// The worker hands the connection tickets (a scheduled send time); the connection turns each
// into a request with the workload as soon as it is connected and below its depth limit, writes
// it (many requests may be in flight: pipelining), parses the in-order responses and reports
// every request's fate to an observer: OnSent() each time it is written, then exactly one of
// OnResponse() or OnDropped(). A request unanswered --timeout after its scheduled time resets
// the connection. On any reset (timeout, unparsable reply, peer closed) the in-flight requests
// younger than the timeout go back to the backlog and are sent again after the reconnect (a
// short back-off later), so only requests that really waited out the timeout count as timeouts.
//
// Threading: a Connection belongs to one worker thread; nothing in it is thread-safe.
#ifndef IX_BENCH_LOAD_CONN_H_
#define IX_BENCH_LOAD_CONN_H_

#include <cstdint>
#include <deque>
#include <string>

#include "bench/load/distributions.h"
#include "bench/load/target.h"
#include "bench/load/workload.h"

namespace ix::load {

enum class DropReason : uint8_t {
  kTimeout,  // unanswered for longer than the timeout (counted as a timeout)
  kAborted,  // its reply could not be parsed (protocol error; the connection was reset)
  kUnsent,   // never written: the run ended first
};

class ConnObserver {
 public:
  virtual ~ConnObserver() = default;
  // May be called again for the same scheduled request after a reset re-queued it.
  virtual void OnSent(const Request& req, uint64_t now_ns) = 0;
  virtual void OnResponse(const Request& req, Outcome outcome, uint64_t now_ns) = 0;
  virtual void OnDropped(const Request& req, DropReason why) = 0;
  // Connection-level events, for counters.
  virtual void OnConnected() = 0;
  virtual void OnConnectError(int err) = 0;  // err: errno of the failed connect
  virtual void OnReset(bool protocol_error) = 0;
};

struct ConnOptions {
  uint32_t max_depth = 0;        // requests in flight at most; 0 = unlimited
  uint64_t timeout_ns = 1'000'000'000;
  uint64_t reconnect_backoff_ns = 10'000'000;
};

class Connection {
 public:
  // id is the connection's index in its worker; it goes into the epoll data with a generation.
  Connection(uint32_t id, const Target& target, const ConnOptions& options, Workload* workload,
             Rng* rng, ConnObserver* observer, int epoll_fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts a non-blocking connect. Failure to even create the socket is reported as a connect
  // error and retried after the back-off.
  void Open(uint64_t now_ns);

  // Queues a request due at scheduled_ns; it is formatted and written when possible.
  void Submit(uint64_t scheduled_ns, bool measured, uint64_t now_ns);

  // Handles epoll events. Ignores events of an earlier socket generation.
  void OnEvent(uint32_t events, uint32_t generation, uint64_t now_ns);

  // Writes out what is buffered (called once per loop iteration after submitting).
  void Flush(uint64_t now_ns);

  // Resets the connection if its oldest request is older than the timeout; reconnects when its
  // back-off has passed.
  void Tick(uint64_t now_ns);

  // Ends the run: drops everything outstanding (in flight: timeout; not written: unsent).
  void Abandon();

  bool connected() const { return state_ == State::kConnected; }
  bool idle() const { return inflight_.empty() && backlog_.empty(); }
  uint64_t epoll_data() const { return (uint64_t{id_} << 32) | generation_; }
  size_t inflight() const { return inflight_.size(); }

 private:
  enum class State { kClosed, kConnecting, kConnected };
  struct Ticket {
    uint64_t scheduled_ns;
    bool measured;
    bool retry;
  };

  void Reset(uint64_t now_ns, bool protocol_error);
  void Pump(uint64_t now_ns);  // backlog -> in flight while allowed
  void DropExpiredBacklog(uint64_t now_ns);  // tickets past the timeout become timeouts
  bool Expired(uint64_t scheduled_ns, uint64_t now_ns) const {
    return now_ns > scheduled_ns && now_ns - scheduled_ns >= options_.timeout_ns;
  }
  void ReadAndParse(uint64_t now_ns);
  void UpdateInterest();

  const uint32_t id_;
  const Target target_;
  const ConnOptions options_;
  Workload* const workload_;
  Rng* const rng_;
  ConnObserver* const observer_;
  const int epoll_fd_;

  State state_ = State::kClosed;
  int fd_ = -1;
  uint32_t generation_ = 0;
  bool want_out_ = false;
  uint64_t reconnect_at_ns_ = 0;
  std::string out_;
  size_t out_pos_ = 0;
  std::string in_;
  std::deque<Request> inflight_;
  std::deque<Ticket> backlog_;
};

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_CONN_H_

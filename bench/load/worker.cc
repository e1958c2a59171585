// ix-load worker thread: open-loop submission from the precomputed schedule (see worker.h).
#include "bench/load/worker.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "bench/load/clock.h"

namespace ix::load {
namespace {

constexpr uint64_t kTickNs = 1'000'000;  // timeout and reconnect checks
constexpr int kMaxEvents = 256;

}  // namespace

void Counters::Add(const Counters& o) {
  scheduled += o.scheduled;
  sent += o.sent;
  retries += o.retries;
  completed += o.completed;
  ok += o.ok;
  gets += o.gets;
  sets += o.sets;
  hits += o.hits;
  misses += o.misses;
  server_errors += o.server_errors;
  bad_data += o.bad_data;
  timeouts += o.timeouts;
  aborted += o.aborted;
  unsent += o.unsent;
  warmup_sent += o.warmup_sent;
  connects += o.connects;
  connect_errors += o.connect_errors;
  resets += o.resets;
  protocol_errors += o.protocol_errors;
}

void WorkerResult::Add(const WorkerResult& o) {
  counters.Add(o.counters);
  latency.Merge(o.latency);
  send_lag.Merge(o.send_lag);
  if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
  for (size_t i = 0; i < o.timeline.size(); ++i) {
    timeline[i].sent += o.timeline[i].sent;
    timeline[i].completed += o.timeline[i].completed;
    timeline[i].latency.Merge(o.timeline[i].latency);
  }
}

Worker::Worker(WorkerOptions options, std::unique_ptr<Workload> workload)
    : o_(std::move(options)),
      workload_(std::move(workload)),
      rng_(o_.seed),
      result_(std::make_unique<WorkerResult>()) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (o_.interval_ns != 0) {
    result_->timeline.resize((o_.measure_ns + o_.interval_ns - 1) / o_.interval_ns);
  }
  for (uint64_t off : o_.schedule) {
    if (off >= o_.warmup_ns) result_->counters.scheduled++;
  }
  for (uint32_t i = 0; i < o_.connections; ++i) {
    conns_.push_back(std::make_unique<Connection>(i, o_.target, o_.conn, workload_.get(), &rng_,
                                                  this, epoll_fd_));
  }
}

Worker::~Worker() {
  conns_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::OnConnectError(int err) {
  result_->counters.connect_errors++;
  last_connect_errno_ = err;
}

void Worker::OnReset(bool protocol_error) {
  result_->counters.resets++;
  if (protocol_error) result_->counters.protocol_errors++;
}

TimelineBin* Worker::BinAt(uint64_t t_ns) {
  const uint64_t start = t0_ns_ + o_.warmup_ns;
  if (o_.interval_ns == 0 || t_ns < start) return nullptr;
  const uint64_t i = (t_ns - start) / o_.interval_ns;
  return i < result_->timeline.size() ? &result_->timeline[i] : nullptr;
}

void Worker::OnSent(const Request& req, uint64_t now_ns) {
  Counters& c = result_->counters;
  if (req.retry) {
    if (req.measured) c.retries++;
    return;
  }
  if (!req.measured) {
    c.warmup_sent++;
    return;
  }
  c.sent++;
  result_->send_lag.Record(now_ns > req.scheduled_ns ? now_ns - req.scheduled_ns : 0);
  if (TimelineBin* b = BinAt(now_ns)) b->sent++;
}

void Worker::OnResponse(const Request& req, Outcome outcome, uint64_t now_ns) {
  if (!req.measured) return;
  Counters& c = result_->counters;
  c.completed++;
  if (TimelineBin* b = BinAt(now_ns)) b->completed++;
  if (req.op == Op::kGet) c.gets++;
  if (req.op == Op::kSet) c.sets++;
  switch (outcome) {
    case Outcome::kServerError:
      c.server_errors++;
      return;
    case Outcome::kBadData:
      c.bad_data++;
      return;
    case Outcome::kHit:
      c.hits++;
      break;
    case Outcome::kMiss:
      c.misses++;
      break;
    case Outcome::kOk:
      break;
  }
  c.ok++;
  const uint64_t latency_ns = now_ns > req.scheduled_ns ? now_ns - req.scheduled_ns : 0;
  result_->latency.Record(latency_ns);
  if (TimelineBin* b = BinAt(req.scheduled_ns)) b->latency.Record(latency_ns);
}

void Worker::OnDropped(const Request& req, DropReason why) {
  if (!req.measured) return;
  Counters& c = result_->counters;
  switch (why) {
    case DropReason::kTimeout:
      c.timeouts++;
      break;
    case DropReason::kAborted:
      c.aborted++;
      break;
    case DropReason::kUnsent:
      c.unsent++;
      break;
  }
}

void Worker::PollOnce(uint64_t wait_ns) {
  epoll_event events[kMaxEvents];
  timespec ts;
  ts.tv_sec = static_cast<time_t>(wait_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(wait_ns % 1'000'000'000u);
  const int n = epoll_pwait2(epoll_fd_, events, kMaxEvents, &ts, nullptr);
  const uint64_t now = MonoNowNs();
  for (int i = 0; i < n; ++i) {
    const uint64_t data = events[i].data.u64;
    const uint32_t id = static_cast<uint32_t>(data >> 32);
    if (id < conns_.size()) {
      conns_[id]->OnEvent(events[i].events, static_cast<uint32_t>(data), now);
    }
  }
}

absl::Status Worker::Connect(uint64_t deadline_ns) {
  if (epoll_fd_ < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  const uint64_t start = MonoNowNs();
  for (auto& c : conns_) c->Open(start);
  while (true) {
    const uint64_t now = MonoNowNs();
    if (result_->counters.connect_errors > 0) {
      return absl::UnavailableError(absl::StrCat("connect to ", o_.target.text, ": ",
                                                 strerror(last_connect_errno_)));
    }
    size_t up = 0;
    for (auto& c : conns_) up += c->connected() ? 1 : 0;
    if (up == conns_.size()) return absl::OkStatus();
    if (now >= deadline_ns) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", up, " of ", conns_.size(), " connections to ", o_.target.text,
                       " were established in time"));
    }
    PollOnce(std::min<uint64_t>(deadline_ns - now, kTickNs));
  }
}

void Worker::Run(uint64_t t0_ns) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake on time for the next scheduled send
  t0_ns_ = t0_ns;
  const std::vector<uint64_t>& sched = o_.schedule;
  const uint64_t hard_end = t0_ns + o_.warmup_ns + o_.measure_ns + o_.conn.timeout_ns;
  uint64_t drain_end = hard_end;
  size_t next = 0;
  size_t rr = 0;
  uint64_t next_tick = t0_ns;
  bool draining = false;
  while (true) {
    uint64_t now = MonoNowNs();
    // Submit everything due, round-robin, then write out only the connections that got some.
    const size_t first = rr;
    size_t submitted = 0;
    while (next < sched.size() && t0_ns + sched[next] <= now) {
      conns_[rr]->Submit(t0_ns + sched[next], sched[next] >= o_.warmup_ns, now);
      rr = rr + 1 == conns_.size() ? 0 : rr + 1;
      ++next;
      ++submitted;
    }
    for (size_t i = 0; i < std::min(submitted, conns_.size()); ++i) {
      conns_[(first + i) % conns_.size()]->Flush(now);
    }
    if (now >= next_tick) {
      for (auto& c : conns_) c->Tick(now);
      next_tick = now + kTickNs;
    }
    if (next == sched.size() && !draining) {
      draining = true;
      drain_end = std::min(hard_end, now + o_.conn.timeout_ns);
    }
    if (draining) {
      bool idle = true;
      for (auto& c : conns_) idle = idle && c->idle();
      if (idle || now >= drain_end) break;
    }
    if (now >= hard_end) break;
    uint64_t wake = std::min(next_tick, draining ? drain_end : hard_end);
    if (next < sched.size()) wake = std::min(wake, t0_ns + sched[next]);
    // Sleep in epoll until spin_ns before the wake-up time, then poll without sleeping.
    const uint64_t wait = wake > now ? wake - now : 0;
    PollOnce(wait > o_.spin_ns ? wait - o_.spin_ns : 0);
  }
  for (auto& c : conns_) c->Abandon();
}

}  // namespace ix::load

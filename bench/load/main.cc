// ix-load: an open-loop load generator (echo and memcached text protocol) in the spirit of
// mutilate. Requests follow a send schedule fixed before the run (Poisson or fixed-rate arrivals),
// so a slow server never slows the sender; latency is measured from each request's scheduled
// send time, not from when it was actually sent (no coordinated omission).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench/load/cli.h"
#include "bench/load/clock.h"
#include "bench/load/report.h"
#include "bench/load/schedule.h"
#include "bench/load/target.h"
#include "bench/load/worker.h"
#include "bench/load/workload.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, server, "",
          "Server to load, HOST:PORT with a numeric IPv4 address, [IPV6]:PORT or localhost:PORT. "
          "Required. Must be loopback unless --allow_netns_address is given.");
ABSL_FLAG(bool, allow_netns_address, false,
          "Allow a non-loopback server address. It must still be on a subnet directly attached "
          "to an interface without a default route (a veth into a namespace you created).");
ABSL_FLAG(std::string, protocol, "echo", "Request mix: echo or memcache.");
ABSL_FLAG(double, rate, 1000, "Offered load in requests per second, over all threads.");
ABSL_FLAG(std::string, arrival, "poisson",
          "Arrival process: poisson (exponential gaps) or fixed (equal gaps).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Length of the measurement phase (e.g. 10s, 500ms).");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "Warm-up phase before measuring: requests are sent but not recorded.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(1),
          "A request unanswered this long after its scheduled send time counts as a timeout and "
          "its connection is reset. Also the longest wait for the last replies.");
ABSL_FLAG(uint64_t, max_requests, 0,
          "Cap on requests sent (warm-up included); 0 = only --duration bounds the run.");
ABSL_FLAG(uint32_t, threads, 1, "Worker threads, each with its own epoll loop.");
ABSL_FLAG(uint32_t, connections, 4, "TCP connections in total, spread over the threads.");
ABSL_FLAG(uint32_t, depth, 0,
          "Most requests in flight per connection (pipelining); 0 = unlimited. Requests over "
          "the limit wait in the client but their latency still counts from the schedule.");
ABSL_FLAG(std::string, payload_size, "64",
          "echo: payload size distribution: N, fixed:N, uniform:MIN:MAX, exp:MEAN, "
          "normal:MEAN:SD (bytes).");
ABSL_FLAG(double, get_ratio, 0.9, "memcache: fraction of requests that are gets (rest: sets).");
ABSL_FLAG(uint64_t, keys, 10000, "memcache: number of distinct keys.");
ABSL_FLAG(uint32_t, key_size, 16, "memcache: key length in bytes ('k' + zero-padded index).");
ABSL_FLAG(std::string, value_size, "100",
          "memcache: value size distribution for sets (same forms as --payload_size).");
ABSL_FLAG(std::string, key_dist, "uniform",
          "memcache: key popularity: uniform or zipf:S (S > 0, key 0 hottest).");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "Timeline bin width in the JSON report; 0 disables the timeline.");
ABSL_FLAG(absl::Duration, spin, absl::ZeroDuration(),
          "Busy-poll this long before each scheduled send instead of sleeping, to cut the "
          "wake-up lag (costs CPU: each thread spins whenever the gap between sends is shorter). "
          "0 = always sleep in epoll.");
ABSL_FLAG(std::string, json, "", "Write the JSON report to this file instead of stdout.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for arrivals, keys and sizes (runs are repeatable).");

namespace ix::load {
namespace {

constexpr int kExitUsage = 2;

[[noreturn]] void UsageError(absl::string_view msg) {
  std::fprintf(stderr, "ix-load: error: %.*s (see ix-load --help)\n",
               static_cast<int>(msg.size()), msg.data());
  std::exit(kExitUsage);
}

uint64_t ToNs(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)); }

struct Plan {
  Target target;
  std::string protocol;
  Arrival arrival = Arrival::kPoisson;
  SizeDist payload_size, value_size;
  KeyDist key_dist;
  MemcacheOptions memcache;
  uint64_t warmup_ns = 0, measure_ns = 0, timeout_ns = 0, interval_ns = 0, spin_ns = 0;
};

// Validates the flags into a Plan; any problem is a usage error.
Plan MakePlan() {
  Plan p;
  const std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) UsageError("--server is required (e.g. --server=127.0.0.1:11211)");
  absl::StatusOr<Target> t = ParseTarget(server);
  if (!t.ok()) UsageError(t.status().message());
  p.target = *t;
  if (absl::Status s = CheckTargetAllowed(p.target, absl::GetFlag(FLAGS_allow_netns_address));
      !s.ok()) {
    UsageError(s.message());
  }
  p.protocol = absl::GetFlag(FLAGS_protocol);
  if (p.protocol != "echo" && p.protocol != "memcache") {
    UsageError(absl::StrCat("--protocol must be echo or memcache, got '", p.protocol, "'"));
  }
  absl::StatusOr<Arrival> a = ParseArrival(absl::GetFlag(FLAGS_arrival));
  if (!a.ok()) UsageError(a.status().message());
  p.arrival = *a;
  const double rate = absl::GetFlag(FLAGS_rate);
  if (!(rate > 0) || rate > 1e8) UsageError("--rate must be in (0, 1e8]");
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  if (duration <= absl::ZeroDuration() || duration > absl::Hours(1)) {
    UsageError("--duration must be in (0, 1h]");
  }
  if (warmup < absl::ZeroDuration() || warmup > absl::Hours(1)) {
    UsageError("--warmup must be in [0, 1h]");
  }
  if (timeout < absl::Milliseconds(1) || timeout > absl::Seconds(60)) {
    UsageError("--timeout must be in [1ms, 60s]");
  }
  const absl::Duration spin = absl::GetFlag(FLAGS_spin);
  if (spin < absl::ZeroDuration() || spin > absl::Milliseconds(10)) {
    UsageError("--spin must be in [0, 10ms]");
  }
  p.spin_ns = ToNs(spin);
  if (interval < absl::ZeroDuration() ||
      (interval > absl::ZeroDuration() && duration / interval > 100000)) {
    UsageError("--interval must be 0 or at least --duration / 100000");
  }
  p.warmup_ns = ToNs(warmup);
  p.measure_ns = ToNs(duration);
  p.timeout_ns = ToNs(timeout);
  p.interval_ns = ToNs(interval);
  const uint32_t threads = absl::GetFlag(FLAGS_threads);
  const uint32_t conns = absl::GetFlag(FLAGS_connections);
  if (threads < 1 || threads > 64) UsageError("--threads must be in [1, 64]");
  if (conns < threads || conns > 65536) {
    UsageError("--connections must be in [--threads, 65536]");
  }
  absl::StatusOr<SizeDist> ps = SizeDist::Parse(absl::GetFlag(FLAGS_payload_size));
  if (!ps.ok()) UsageError(absl::StrCat("--payload_size: ", ps.status().message()));
  p.payload_size = *ps;
  if (p.protocol == "memcache") {
    absl::StatusOr<SizeDist> vs = SizeDist::Parse(absl::GetFlag(FLAGS_value_size));
    if (!vs.ok()) UsageError(absl::StrCat("--value_size: ", vs.status().message()));
    absl::StatusOr<KeyDist> kd =
        KeyDist::Parse(absl::GetFlag(FLAGS_key_dist), absl::GetFlag(FLAGS_keys));
    if (!kd.ok()) UsageError(absl::StrCat("--key_dist: ", kd.status().message()));
    p.memcache.get_ratio = absl::GetFlag(FLAGS_get_ratio);
    p.memcache.num_keys = absl::GetFlag(FLAGS_keys);
    p.memcache.key_size = absl::GetFlag(FLAGS_key_size);
    p.memcache.value_size = *vs;
    p.memcache.key_dist = *kd;
    absl::StatusOr<std::unique_ptr<MemcacheWorkload>> probe = MemcacheWorkload::Create(p.memcache);
    if (!probe.ok()) UsageError(probe.status().message());
  }
  return p;
}

nlohmann::json ConfigJson(const Plan& p) {
  nlohmann::json c = {
      {"server", p.target.text},
      {"protocol", p.protocol},
      {"rate", absl::GetFlag(FLAGS_rate)},
      {"arrival", ArrivalName(p.arrival)},
      {"duration_s", static_cast<double>(p.measure_ns) / 1e9},
      {"warmup_s", static_cast<double>(p.warmup_ns) / 1e9},
      {"timeout_s", static_cast<double>(p.timeout_ns) / 1e9},
      {"max_requests", absl::GetFlag(FLAGS_max_requests)},
      {"threads", absl::GetFlag(FLAGS_threads)},
      {"connections", absl::GetFlag(FLAGS_connections)},
      {"depth", absl::GetFlag(FLAGS_depth)},
      {"seed", absl::GetFlag(FLAGS_seed)},
      {"spin_us", static_cast<double>(p.spin_ns) / 1e3},
  };
  if (p.protocol == "echo") {
    c["payload_size"] = p.payload_size.spec();
  } else {
    c["get_ratio"] = p.memcache.get_ratio;
    c["keys"] = p.memcache.num_keys;
    c["key_size"] = p.memcache.key_size;
    c["value_size"] = p.memcache.value_size.spec();
    c["key_dist"] = p.memcache.key_dist.spec();
  }
  return c;
}

std::unique_ptr<Workload> MakeWorkload(const Plan& p) {
  if (p.protocol == "echo") return std::make_unique<EchoWorkload>(EchoOptions{p.payload_size});
  return std::move(*MemcacheWorkload::Create(p.memcache));  // validated in MakePlan()
}

int Main() {
  const Plan plan = MakePlan();
  const uint32_t threads = absl::GetFlag(FLAGS_threads);
  const uint32_t conns = absl::GetFlag(FLAGS_connections);
  const uint64_t max_requests = absl::GetFlag(FLAGS_max_requests);
  const double rate = absl::GetFlag(FLAGS_rate);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const uint64_t span_ns = plan.warmup_ns + plan.measure_ns;

  // Each thread gets rate/threads; fixed-rate streams are phase-shifted so that together they
  // stay evenly spaced. --max_requests is split over the threads.
  std::vector<std::unique_ptr<Worker>> workers;
  uint64_t last_offset_ns = 0;
  bool truncated = false;
  for (uint32_t i = 0; i < threads; ++i) {
    ScheduleOptions so;
    so.rate_per_s = rate / threads;
    so.arrival = plan.arrival;
    so.span_ns = span_ns;
    so.phase_ns = static_cast<uint64_t>(1e9 / rate * i);
    so.seed = seed * 1000003 + i;
    if (max_requests != 0) {
      so.max_requests = max_requests / threads + (i < max_requests % threads ? 1 : 0);
      if (so.max_requests == 0) continue;
    }
    absl::StatusOr<std::vector<uint64_t>> sched = BuildSchedule(so);
    if (!sched.ok()) UsageError(sched.status().message());
    if (max_requests != 0 && sched->size() == so.max_requests) truncated = true;
    if (!sched->empty()) last_offset_ns = std::max(last_offset_ns, sched->back());
    WorkerOptions wo;
    wo.index = i;
    wo.target = plan.target;
    wo.connections = conns / threads + (i < conns % threads ? 1 : 0);
    wo.conn.max_depth = absl::GetFlag(FLAGS_depth);
    wo.conn.timeout_ns = plan.timeout_ns;
    wo.warmup_ns = plan.warmup_ns;
    wo.measure_ns = plan.measure_ns;
    wo.interval_ns = plan.interval_ns;
    wo.spin_ns = plan.spin_ns;
    wo.schedule = std::move(*sched);
    wo.seed = seed * 7919 + i;
    workers.push_back(std::make_unique<Worker>(std::move(wo), MakeWorkload(plan)));
  }

  const uint64_t start_ns = MonoNowNs();
  const uint64_t connect_deadline = start_ns + std::max<uint64_t>(plan.timeout_ns, 1'000'000'000);
  std::vector<absl::Status> connect_status(workers.size());
  absl::BlockingCounter connected(static_cast<int>(workers.size()));
  absl::Notification go;
  uint64_t t0_ns = 0;
  std::vector<std::thread> pool;
  for (size_t i = 0; i < workers.size(); ++i) {
    pool.emplace_back([&, i] {
      connect_status[i] = workers[i]->Connect(connect_deadline);
      connected.DecrementCount();
      go.WaitForNotification();
      if (connect_status[i].ok() && t0_ns != 0) workers[i]->Run(t0_ns);
    });
  }
  connected.Wait();
  absl::Status failed;
  for (const absl::Status& s : connect_status) {
    if (!s.ok() && failed.ok()) failed = s;
  }
  if (failed.ok()) t0_ns = MonoNowNs() + 1'000'000;  // 1 ms for every thread to get going
  go.Notify();
  for (std::thread& t : pool) t.join();
  if (!failed.ok()) {
    std::fprintf(stderr, "ix-load: %s\n", std::string(failed.message()).c_str());
    return 1;
  }

  WorkerResult total;
  for (const auto& w : workers) total.Add(w->result());
  ReportInfo info;
  info.config = ConfigJson(plan);
  info.protocol = plan.protocol;
  info.interval_ns = plan.interval_ns;
  info.wall_ns = MonoNowNs() - start_ns;
  info.measure_ns = plan.measure_ns;
  if (truncated) {  // the schedule ran out before the measurement phase did
    const uint64_t end = last_offset_ns + static_cast<uint64_t>(1e9 / rate);
    info.measure_ns = end > plan.warmup_ns ? std::min(end - plan.warmup_ns, plan.measure_ns) : 0;
  }
  const nlohmann::json report = BuildReport(total, info);
  const std::string text = report.dump(2) + "\n";
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (json_path.empty() || json_path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream f(json_path);
    f << text;
    f.close();
    if (!f) {
      std::fprintf(stderr, "ix-load: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  const std::string summary = FormatSummary(report);
  std::fwrite(summary.data(), 1, summary.size(), stderr);
  return 0;
}

}  // namespace
}  // namespace ix::load

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "an open-loop load generator for echo and memcached servers.\n\n"
      "Usage: ix-load --server=127.0.0.1:11211 [flags]\n\n"
      "Requests follow a send schedule computed before the run (--arrival poisson or fixed at\n"
      "--rate per second over all --threads), spread round-robin over --connections pipelined\n"
      "TCP connections. Latency is measured from each request's scheduled send time, so a\n"
      "stalled server shows up in the percentiles instead of slowing the generator down.\n"
      "A --warmup phase is sent but not recorded, then --duration is measured. The JSON report\n"
      "(stdout, or --json FILE) has offered vs achieved rates, latency p50/p90/p99/p99.9/max,\n"
      "errors, timeouts and a per --interval timeline; a summary goes to stderr.\n"
      "Flags may be written --flag_name or --flag-name. Bad flags exit with status 2.\n\n"
      "Examples:\n"
      "  ix-load --server=127.0.0.1:7 --protocol=echo --rate=20000 --payload_size=uniform:16:512\n"
      "  ix-load --server=127.0.0.1:11211 --protocol=memcache --get_ratio=0.9 --keys=100000 \\\n"
      "          --key_dist=zipf:0.99 --value_size=exp:200 --connections=16 --duration=30s\n");
  std::vector<std::string> args(argv, argv + argc);
  if (ix::load::WantsHelp(args)) {
    const std::string help = ix::load::HelpText(
        absl::StrCat("ix-load: ", absl::ProgramUsageMessage()), "bench/load/main.cc");
    std::fwrite(help.data(), 1, help.size(), stdout);
    return 0;
  }
  if (absl::Status s = ix::load::PreflightFlags(args); !s.ok()) {
    ix::load::UsageError(s.message());
  }
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  absl::ParseCommandLine(static_cast<int>(args.size()), cargs.data());
  return ix::load::Main();
}

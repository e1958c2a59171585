// JSON report and human-readable summary of an ix-load run (see report.h).
#include "bench/load/report.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace ix::load {
namespace {

double Us(uint64_t ns) { return std::round(static_cast<double>(ns)) / 1000.0; }

double PerSecond(uint64_t n, uint64_t span_ns) {
  return span_ns == 0 ? 0.0 : static_cast<double>(n) * 1e9 / static_cast<double>(span_ns);
}

}  // namespace

nlohmann::json LatencyJson(const LatencyHistogram& h) {
  nlohmann::json j;
  j["count"] = h.Count();
  j["min"] = Us(h.Min());
  j["mean"] = std::round(h.Mean()) / 1000.0;
  j["p50"] = Us(h.Percentile(50));
  j["p90"] = Us(h.Percentile(90));
  j["p99"] = Us(h.Percentile(99));
  j["p99.9"] = Us(h.Percentile(99.9));
  j["max"] = Us(h.Max());
  return j;
}

nlohmann::json BuildReport(const WorkerResult& r, const ReportInfo& info) {
  const Counters& c = r.counters;
  nlohmann::json j;
  j["tool"] = "ix-load";
  j["report_version"] = 1;
  j["config"] = info.config;
  j["measure_s"] = static_cast<double>(info.measure_ns) / 1e9;
  j["wall_s"] = static_cast<double>(info.wall_ns) / 1e9;
  j["offered_rate"] = PerSecond(c.scheduled, info.measure_ns);
  j["achieved_send_rate"] = PerSecond(c.sent, info.measure_ns);
  j["completed_rate"] = PerSecond(c.completed, info.measure_ns);
  j["requests"] = {
      {"scheduled", c.scheduled}, {"sent", c.sent},
      {"completed", c.completed}, {"ok", c.ok},
      {"errors", c.errors()},     {"server_errors", c.server_errors},
      {"bad_data", c.bad_data},   {"timeouts", c.timeouts},
      {"aborted", c.aborted},     {"unsent", c.unsent},
      {"retries", c.retries},
      {"warmup_sent", c.warmup_sent},
  };
  if (info.protocol == "memcache") {
    j["memcache"] = {{"gets", c.gets}, {"sets", c.sets}, {"hits", c.hits}, {"misses", c.misses}};
  }
  j["connections"] = {{"connects", c.connects},
                      {"connect_errors", c.connect_errors},
                      {"resets", c.resets},
                      {"protocol_errors", c.protocol_errors}};
  j["latency_us"] = LatencyJson(r.latency);
  j["send_lag_us"] = LatencyJson(r.send_lag);
  j["histogram_precision"] = "percentiles within 1/64 (1.6%) of the true sample; min/max exact";
  nlohmann::json timeline = nlohmann::json::array();
  for (size_t i = 0; i < r.timeline.size(); ++i) {
    const TimelineBin& b = r.timeline[i];
    timeline.push_back({{"t_s", static_cast<double>(i * info.interval_ns) / 1e9},
                        {"sent", b.sent},
                        {"completed", b.completed},
                        {"p50_us", Us(b.latency.Percentile(50))},
                        {"p99_us", Us(b.latency.Percentile(99))},
                        {"max_us", Us(b.latency.Max())}});
  }
  j["timeline"] = timeline;
  return j;
}

std::string FormatSummary(const nlohmann::json& j) {
  const auto& req = j["requests"];
  const auto& lat = j["latency_us"];
  const auto& lag = j["send_lag_us"];
  std::string s = absl::StrFormat(
      "ix-load: %s to %s, %.1f s measured\n"
      "  rate     offered %.0f/s  sent %.0f/s  completed %.0f/s\n"
      "  requests scheduled %d  sent %d  ok %d  errors %d  timeouts %d  unsent %d\n"
      "  latency  p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n"
      "  send lag p50 %.1f us  p99 %.1f us  max %.1f us\n",
      j["config"]["protocol"].get<std::string>(), j["config"]["server"].get<std::string>(),
      j["measure_s"].get<double>(), j["offered_rate"].get<double>(),
      j["achieved_send_rate"].get<double>(), j["completed_rate"].get<double>(),
      req["scheduled"].get<uint64_t>(), req["sent"].get<uint64_t>(), req["ok"].get<uint64_t>(),
      req["errors"].get<uint64_t>(), req["timeouts"].get<uint64_t>(),
      req["unsent"].get<uint64_t>(), lat["p50"].get<double>(), lat["p90"].get<double>(),
      lat["p99"].get<double>(), lat["p99.9"].get<double>(), lat["max"].get<double>(),
      lag["p50"].get<double>(), lag["p99"].get<double>(), lag["max"].get<double>());
  if (j.contains("memcache")) {
    const auto& m = j["memcache"];
    s += absl::StrFormat("  memcache gets %d (hits %d, misses %d)  sets %d\n",
                         m["gets"].get<uint64_t>(), m["hits"].get<uint64_t>(),
                         m["misses"].get<uint64_t>(), m["sets"].get<uint64_t>());
  }
  const auto& c = j["connections"];
  s += absl::StrFormat("  conns    connects %d  connect errors %d  resets %d\n",
                       c["connects"].get<uint64_t>(), c["connect_errors"].get<uint64_t>(),
                       c["resets"].get<uint64_t>());
  return s;
}

}  // namespace ix::load

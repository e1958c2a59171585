// ix-load results: the JSON object written to stdout or --json, and the summary for stderr.
#ifndef IX_BENCH_LOAD_REPORT_H_
#define IX_BENCH_LOAD_REPORT_H_

#include <cstdint>
#include <string>

#include "bench/load/worker.h"
#include "nlohmann/json.hpp"

namespace ix::load {

struct ReportInfo {
  nlohmann::json config;       // the flags as run
  std::string protocol;        // "echo" or "memcache"
  uint64_t measure_ns = 0;     // span over which the measured requests were scheduled
  uint64_t interval_ns = 0;    // timeline bin width (0 = none)
  uint64_t wall_ns = 0;        // whole run including connect, warm-up and drain
};

// Percentile summary of a histogram in microseconds: count, min, mean, p50, p90, p99, p99.9, max.
nlohmann::json LatencyJson(const LatencyHistogram& h);

nlohmann::json BuildReport(const WorkerResult& result, const ReportInfo& info);

// A few human-readable lines from a BuildReport() object.
std::string FormatSummary(const nlohmann::json& report);

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_REPORT_H_

// ix-run's end-of-run report: statistics from the shared RunStats turned into a table for people
// and JSON for tools.
#ifndef IX_TOOLS_RUN_REPORT_H_
#define IX_TOOLS_RUN_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "ix/run_stats.h"

namespace ix::tools {

struct RunReport {
  std::string program;
  int exit_code = 0;    // -1 when killed by a signal
  int term_signal = 0;  // the signal, or 0
  struct Syscall {
    std::string name;
    long nr;
    uint64_t count;
    uint64_t denied;
  };
  std::vector<Syscall> syscalls;  // most frequent first
  uint64_t total_syscalls = 0;
  uint64_t total_denied = 0;
  std::vector<std::pair<std::string, uint64_t>> exits;  // by exit kind, non-zero only
  std::vector<std::pair<std::string, uint64_t>> counters;
  uint64_t hypercalls = 0;
  double p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0, mean_ns = 0;
};

// TSC ticks per second, measured against CLOCK_MONOTONIC over about 20 ms.
uint64_t MeasureTscHz();

RunReport BuildReport(const RunStats& stats, uint64_t tsc_hz, const std::string& program, int wait_status);
std::string FormatReport(const RunReport& r);
std::string ReportJson(const RunReport& r);
absl::Status WriteReportJson(const RunReport& r, const std::string& path);

}  // namespace ix::tools

#endif  // IX_TOOLS_RUN_REPORT_H_

// ix-run's end-of-run report (see run_report.h).
#include "tools/run_report.h"

#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "vmm/exit.h"
#include "vmm/syscall_table.h"

namespace ix::tools {
namespace {

uint64_t Rdtsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t{hi} << 32) | lo;
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

}  // namespace

uint64_t MeasureTscHz() {
  uint64_t t0 = NowNs(), c0 = Rdtsc();
  timespec d{0, 20 * 1000 * 1000};
  nanosleep(&d, nullptr);
  uint64_t t1 = NowNs(), c1 = Rdtsc();
  return t1 > t0 ? (c1 - c0) * 1000000000ull / (t1 - t0) : 1;
}

RunReport BuildReport(const RunStats& s, uint64_t tsc_hz, const std::string& program, int status) {
  RunReport r;
  r.program = program;
  if (WIFSIGNALED(status)) {
    r.exit_code = -1;
    r.term_signal = WTERMSIG(status);
  } else {
    r.exit_code = WEXITSTATUS(status);
  }
  for (int nr = 0; nr < kRunStatsSyscalls; ++nr) {
    if (s.syscalls[nr] == 0 && s.denied[nr] == 0) continue;
    const char* name = vmm::SyscallName(nr);
    r.syscalls.push_back({name ? name : absl::StrFormat("syscall_%d", nr), nr, s.syscalls[nr], s.denied[nr]});
    r.total_syscalls += s.syscalls[nr];
    r.total_denied += s.denied[nr];
  }
  r.total_syscalls += s.other_syscalls;
  std::sort(r.syscalls.begin(), r.syscalls.end(),
            [](const auto& a, const auto& b) { return a.count != b.count ? a.count > b.count : a.nr < b.nr; });
  for (int k = 0; k < static_cast<int>(vmm::ExitKind::kCount) && k < kRunStatsExitKinds; ++k) {
    if (s.exits[k]) r.exits.emplace_back(vmm::ExitKindName(static_cast<vmm::ExitKind>(k)), s.exits[k]);
  }
  r.counters = {{"vms_created", s.vms_created},       {"vcpus_created", s.vcpus_created},
                {"threads_started", s.threads_started}, {"signals_delivered", s.signals_delivered},
                {"signals_dropped", s.signals_dropped}, {"faults", s.faults},
                {"fault_retries", s.fault_retries},     {"protection_violations", s.protection_violations},
                {"memory_slots_max", s.slots_max},     {"unknown_syscalls", s.other_syscalls}};
  const LatencyHistogram& h = s.hypercall_cycles;
  r.hypercalls = h.Count();
  double ns_per_tick = 1e9 / static_cast<double>(tsc_hz ? tsc_hz : 1);
  r.p50_ns = h.Percentile(50) * ns_per_tick;
  r.p90_ns = h.Percentile(90) * ns_per_tick;
  r.p99_ns = h.Percentile(99) * ns_per_tick;
  r.p999_ns = h.Percentile(99.9) * ns_per_tick;
  r.max_ns = h.Max() * ns_per_tick;
  r.mean_ns = h.Mean() * ns_per_tick;
  return r;
}

std::string FormatReport(const RunReport& r) {
  std::string out = absl::StrFormat("ix-run: %s %s: %d syscalls (%d denied by policy)\n", r.program,
                                    r.term_signal ? absl::StrFormat("killed by signal %d", r.term_signal)
                                                  : absl::StrFormat("exited %d", r.exit_code),
                                    r.total_syscalls, r.total_denied);
  out += absl::StrFormat("  %-24s %10s %8s\n", "syscall", "calls", "denied");
  for (const auto& s : r.syscalls) out += absl::StrFormat("  %-24s %10d %8d\n", s.name, s.count, s.denied);
  out += absl::StrFormat(
      "  hypercall host time (exit to re-entry), n=%d: p50 %.2f us, p90 %.2f us, p99 %.2f us, "
      "p99.9 %.2f us, max %.2f us\n",
      r.hypercalls, r.p50_ns / 1e3, r.p90_ns / 1e3, r.p99_ns / 1e3, r.p999_ns / 1e3, r.max_ns / 1e3);
  out += "  exits:";
  for (const auto& [k, v] : r.exits) out += absl::StrFormat(" %s=%d", k, v);
  out += "\n ";
  for (const auto& [k, v] : r.counters) out += absl::StrFormat(" %s=%d", k, v);
  out += "\n";
  return out;
}

std::string ReportJson(const RunReport& r) {
  nlohmann::json j;
  j["program"] = r.program;
  j["exit_code"] = r.exit_code;
  j["term_signal"] = r.term_signal;
  j["total_syscalls"] = r.total_syscalls;
  j["total_denied"] = r.total_denied;
  nlohmann::json calls = nlohmann::json::object();
  for (const auto& s : r.syscalls) calls[s.name] = {{"nr", s.nr}, {"count", s.count}, {"denied", s.denied}};
  j["syscalls"] = calls;
  nlohmann::json exits = nlohmann::json::object();
  for (const auto& [k, v] : r.exits) exits[k] = v;
  j["exits"] = exits;
  for (const auto& [k, v] : r.counters) j["counters"][k] = v;
  j["hypercall_ns"] = {{"count", r.hypercalls}, {"p50", r.p50_ns}, {"p90", r.p90_ns}, {"p99", r.p99_ns},
                       {"p99_9", r.p999_ns}, {"max", r.max_ns}, {"mean", r.mean_ns}};
  return j.dump(2) + "\n";
}

absl::Status WriteReportJson(const RunReport& r, const std::string& path) {
  std::ofstream out(path);
  if (!out) return absl::InternalError(absl::StrFormat("cannot write %s: %s", path, strerror(errno)));
  out << ReportJson(r);
  if (!out.good()) return absl::InternalError(absl::StrFormat("writing %s failed", path));
  return absl::OkStatus();
}

}  // namespace ix::tools

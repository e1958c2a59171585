// ix-bench-syscall: the cost of a syscall under ix, side by side in one run with the alternatives
// and the limit. Everything is pinned to one CPU (--cpu, default 1), so no cross-CPU wake-ups:
//   native            getpid on the host
//   ix ring 3         getpid under `ix-run --ring=3` (LSTAR stub -> MMIO exit -> same thread)
//   raw exit ring 3   the no-op hypercall from guest ring 3: the bare KVM exit round trip (limit)
//   ix ring 0         forwarded getpid from guest ring 0 (freestanding code; emulated on kvm_pvm)
//   raw exit ring 0   the no-op hypercall from guest ring 0
//   ptrace            getpid under a minimal PTRACE_SYSCALL tracer on the same CPU
// Each figure is the median of --repeats runs of --calls calls; the spread (min..max) is reported.
// --no_kvm measures only native and ptrace (for machines without a usable /dev/kvm): every other
// figure is listed as skipped ("skipped_figures" in the JSON), no ratio needing one is reported,
// and the exit status is that of the figures measured.
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "vmm/guest.h"

ABSL_FLAG(std::string, ix_run, "", "path to ix-run (default: next to this program in the build tree)");
ABSL_FLAG(int, calls, 20000, "calls per measurement");
ABSL_FLAG(int, repeats, 5, "measurements per figure (the median is reported)");
ABSL_FLAG(int, cpu, 1, "CPU to pin every party to (-1: no pinning)");
ABSL_FLAG(std::string, json, "", "write the results as JSON to this file");
ABSL_FLAG(bool, no_kvm, false,
          "measure only the figures that need no KVM (native, ptrace); list the others as skipped");
ABSL_FLAG(std::string, child, "", "internal: run one measurement loop (getpid|nop) and print ns/call");

extern "C" long IxBenchRing0(void* thread, long n, int nop);

namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t Tsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t{hi} << 32) | lo;
}

double TscPerNs() {
  uint64_t t0 = NowNs(), c0 = Tsc();
  timespec d{0, 50 * 1000 * 1000};
  nanosleep(&d, nullptr);
  return double(Tsc() - c0) / double(NowNs() - t0);
}

double GetpidLoopNs(long n) {
  uint64_t t0 = NowNs();
  for (long i = 0; i < n; ++i) syscall(SYS_getpid);
  return double(NowNs() - t0) / n;
}

// A syscall the VMM answers itself (IX_SYSCALL_GUEST_RING): the full hypercall path with no host
// syscall behind it.
double NullLoopNs(long n) {
  uint64_t t0 = NowNs();
  for (long i = 0; i < n; ++i) syscall(0x1d0e0002);
  return double(NowNs() - t0) / n;
}

double NopLoopNs(long n) {
  uint64_t t0 = NowNs();
  for (long i = 0; i < n; ++i) __asm__ volatile(".byte 0xa3\n .quad 0xfffff88000002000" ::: "memory");
  return double(NowNs() - t0) / n;
}

// Runs a command and returns the double it prints on stdout, or -1.
double RunChild(const std::vector<std::string>& argv) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(p[1]);
  char buf[128] = {};
  ssize_t n = read(p[0], buf, sizeof(buf) - 1);
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  return atof(buf);
}

// getpid under PTRACE_SYSCALL: the tracee times its own loop, the tracer resumes it at every stop.
double PtraceNs(long n) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    raise(SIGSTOP);
    double ns = GetpidLoopNs(n);
    dprintf(p[1], "%f\n", ns);
    _exit(0);
  }
  close(p[1]);
  int st;
  waitpid(pid, &st, 0);
  ptrace(PTRACE_SETOPTIONS, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
  for (;;) {
    if (ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr) != 0) break;
    if (waitpid(pid, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st)) break;
  }
  char buf[64] = {};
  ssize_t r = read(p[0], buf, sizeof(buf) - 1);
  close(p[0]);
  return r > 0 ? atof(buf) : -1;
}

double Ring0Ns(long n, bool nop, double tsc_per_ns) {
  ix::vmm::GuestOptions o;
  o.ring = 0;
  o.allow_guest_exit = true;
  absl::StatusOr<ix::vmm::VcpuThread*> t = ix::vmm::PrepareGuest(o);
  if (!t.ok()) {
    fprintf(stderr, "ring 0: %s\n", std::string(t.status().message()).c_str());
    return -1;
  }
  long ticks = IxBenchRing0(*t, n, nop ? 1 : 0);
  ix::vmm::ReleaseGuest();
  return ticks < 0 ? -1 : double(ticks) / tsc_per_ns / n;
}

struct Figure {
  std::string name, what;
  bool kvm;  // needs KVM (a guest or ix-run); not measured under --no_kvm
  std::vector<double> runs;
  double Median() const {
    std::vector<double> v = runs;
    std::sort(v.begin(), v.end());
    return v.empty() ? -1 : v[v.size() / 2];
  }
  double Min() const { return runs.empty() ? -1 : *std::min_element(runs.begin(), runs.end()); }
  double Max() const { return runs.empty() ? -1 : *std::max_element(runs.begin(), runs.end()); }
};

std::string DefaultIxRun() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "ix-run";
  std::string dir(exe, n);
  dir = dir.substr(0, dir.rfind('/'));
  return dir + "/../../tools/ix-run";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("measures syscall forwarding under ix against native, ptrace and the raw KVM exit.\n"
                               "Usage: ix-bench-syscall [--calls N] [--repeats R] [--cpu C] [--json FILE] [--no_kvm]\n"
                               "--no_kvm (no usable /dev/kvm): only native and ptrace are measured, the other\n"
                               "figures are listed as skipped and the exit status is that of the two measured.");
  absl::ParseCommandLine(argc, argv);
  long n = absl::GetFlag(FLAGS_calls);
  std::string child = absl::GetFlag(FLAGS_child);
  if (child == "getpid") return printf("%f\n", GetpidLoopNs(n)) < 0;
  if (child == "nop") return printf("%f\n", NopLoopNs(n)) < 0;
  if (child == "null") return printf("%f\n", NullLoopNs(n)) < 0;
  if (n <= 0 || absl::GetFlag(FLAGS_repeats) <= 0) {
    fprintf(stderr, "ix-bench-syscall: --calls and --repeats must be positive\n");
    return 2;
  }
  int cpu = absl::GetFlag(FLAGS_cpu);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) perror("sched_setaffinity");
  }
  std::string ix_run = absl::GetFlag(FLAGS_ix_run).empty() ? DefaultIxRun() : absl::GetFlag(FLAGS_ix_run);
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string me(self, sl > 0 ? sl : 0);
  double tsc_per_ns = TscPerNs();

  std::vector<Figure> f = {
      {"native", "getpid on the host", false},
      {"ix_ring3", "getpid forwarded from guest ring 3 under ix-run", true},
      {"raw_exit_ring3", "no-op hypercall from guest ring 3 (bare KVM exit, the limit)", true},
      {"ix_ring0", "getpid forwarded from guest ring 0 (freestanding code)", true},
      {"raw_exit_ring0", "no-op hypercall from guest ring 0", true},
      {"ptrace", "getpid under a PTRACE_SYSCALL tracer, same CPU", false},
      {"ix_null_ring3", "syscall the VMM answers itself, guest ring 3 (hypercall path, no host syscall)", true},
  };
  bool measure_kvm = !absl::GetFlag(FLAGS_no_kvm);
  std::string calls = "--calls=" + std::to_string(n);
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    f[0].runs.push_back(GetpidLoopNs(n));
    if (measure_kvm) {
      f[1].runs.push_back(RunChild({ix_run, "--ring=3", "--", me, "--child=getpid", calls}));
      f[2].runs.push_back(RunChild({ix_run, "--ring=3", "--", me, "--child=nop", calls}));
      f[3].runs.push_back(Ring0Ns(n / 10, false, tsc_per_ns));  // emulated ring 0 is slow: fewer calls
      f[4].runs.push_back(Ring0Ns(n / 10, true, tsc_per_ns));
    }
    f[5].runs.push_back(PtraceNs(n));
    if (measure_kvm) f[6].runs.push_back(RunChild({ix_run, "--ring=3", "--", me, "--child=null", calls}));
  }
  auto skipped = [&](const Figure& x) { return x.kvm && !measure_kvm; };
  bool failed = false;
  printf("%-16s %12s %22s   %s\n", "figure", "ns/call", "spread (min..max)", "what");
  for (const Figure& x : f) {
    if (skipped(x)) {
      printf("%-16s %35s   %s\n", x.name.c_str(), "skipped (--no_kvm)", x.what.c_str());
      continue;
    }
    failed |= x.Min() < 0;
    printf("%-16s %12.0f %10.0f..%-10.0f   %s\n", x.name.c_str(), x.Median(), x.Min(), x.Max(), x.what.c_str());
  }
  // The ratios reported: JSON key, label, numerator and denominator figures (left out when one
  // of them was skipped).
  struct Ratio {
    const char* key;
    const char* label;
    int a, b;
  };
  const std::vector<Ratio> ratios = {
      {"ix_ring3_over_raw_exit", "ix ring 3 / raw exit ring 3", 1, 2},
      {"ix_ring0_over_raw_exit", "ix ring 0 / raw exit ring 0", 3, 4},
      {"ix_ring3_over_native", "ix ring 3 / native", 1, 0},
      {"ptrace_over_ix_ring3", "ptrace / ix ring 3", 5, 1},
      {"ix_null_ring3_over_raw_exit",
       "ix null syscall / raw exit ring 3 (the syscall instruction, LSTAR stub and VMM dispatch)", 6, 2},
  };
  auto ratio = [&](int a, int b) { return f[b].Median() > 0 ? f[a].Median() / f[b].Median() : -1; };
  printf("\nratios (goal: forwarded within 1.2x of the raw exit of the same ring)%s\n",
         measure_kvm ? "" : ": none, each needs a figure skipped by --no_kvm");
  for (const Ratio& q : ratios) {
    if (skipped(f[q.a]) || skipped(f[q.b])) continue;
    printf("  %s = %.2fx\n", q.label, ratio(q.a, q.b));
  }
  std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    nlohmann::json j;
    j["calls"] = n;
    j["repeats"] = absl::GetFlag(FLAGS_repeats);
    j["cpu"] = cpu;
    j["figures"] = nlohmann::json::object();
    j["skipped_figures"] = nlohmann::json::array();
    for (const Figure& x : f) {
      if (skipped(x)) {
        j["skipped_figures"].push_back(x.name);
        continue;
      }
      j["figures"][x.name] = {{"median_ns", x.Median()}, {"min_ns", x.Min()}, {"max_ns", x.Max()}, {"what", x.what}};
    }
    j["ratios"] = nlohmann::json::object();
    for (const Ratio& q : ratios) {
      if (!skipped(f[q.a]) && !skipped(f[q.b])) j["ratios"][q.key] = ratio(q.a, q.b);
    }
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  if (failed) fprintf(stderr, "ix-bench-syscall: some measurements failed (-1 above)\n");
  return failed ? 1 : 0;
}

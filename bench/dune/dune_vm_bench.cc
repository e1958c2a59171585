// ix-bench-dune-vm: the virtual-memory-primitive benchmarks of the Dune paper (after Appel and Li),
// user-level page-protection traps with SIGSEGV + mprotect. Run it natively and under ix-run (the
// same binary); the harness (bench/run) compares the two.
//
// Definitions. Appel and Li, "Virtual memory primitives for user programs", ASPLOS-IV 1991, and
// their benchmark program vmpup.c (www.cs.princeton.edu/~appel/papers/vmpup.c), define
//   "trap"               trap on a protected page, enter a user-mode handler, return from it
//                        (the handler changes no protection: the access faults again, N times);
//   "prot1+trap+unprot"  touch a protected page; the handler protects one other page (the
//                        previously touched one) and unprotects the faulting page; per trap;
//   "protN+trap+unprot"  protect 100 contiguous pages with one call, then touch each (in a random
//                        order); the handler unprotects the faulting page; per trap, the protN
//                        call amortized over the 100 traps.
// Dune (Belay et al., OSDI 2012, Table 3 "ptrace, trap, appel1, appel2") reports appel1 =
// prot1+trap+unprot and appel2 = protN+trap+unprot (project-dune/dune bench/bench_linux.c prints
// "PROT1,TRAP,UNPROT" for appel1 and "PROTN,TRAP,UNPROT" for appel2; 100 pages, PROT_READ, write
// access). The Exokernel's version of the same suite (prot1, prot100, unprot1, trap, appel1,
// appel2) swaps the two appel names; we follow Dune. The single-call figures are as in the
// Exokernel suite: prot1 = mprotect of one random page to read-only, protN = mprotect of the 100
// pages to read-only in one call, unprot = mprotect of one random read-only page to read-write.
//
// As in vmpup.c, the benchmark tells the handler which page to unprotect through a global rather
// than reading si_addr (which ix-run also reports exactly: tests/programs/faults.c).
//
// Output: one line per figure on stderr, and JSON (--json FILE, or stdout with --json=-):
//   {"figures": {"trap": {"median_ns":..,"min_ns":..,"max_ns":..,"q1_ns":..,"q3_ns":..,
//    "ops":..,"runs":[..]}, ...}, "ops":.., "repeats":.., "pages": 100, "cpu":.., "checks_ok": true}
// Exit status 0 if every figure was measured and every trap count came out exact, else 1.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int, ops, 10000, "operations (traps, or mprotect calls) per measurement, >= 100");
ABSL_FLAG(int, repeats, 5, "measurements per figure; median, min/max and quartiles are reported");
ABSL_FLAG(int, cpu, -1, "CPU to pin to (-1: no pinning)");
ABSL_FLAG(std::string, json, "", "write JSON here ('-' for stdout)");
ABSL_FLAG(std::string, only, "", "run only this figure (trap, prot1, ...; default: all)");

namespace {

constexpr int kPages = 100;

// State shared with the SIGSEGV handler (vmpup.c style: the handler is told, never asks si_addr).
long g_page_size = 4096;
char* g_mem = nullptr;
char* volatile g_please_protect = nullptr;    // page the handler protects first (or null)
char* volatile g_please_unprotect = nullptr;  // page the handler unprotects (or null: none)
volatile long g_traps = 0;                    // handler entries
volatile long g_unprotect_after = 0;          // handler unprotects only once g_traps reaches this

volatile long g_trap_limit = 0;               // more traps than this in one measurement: stuck

// Ends the process from the handler when a fault cannot be resolved (async-signal-safe), so a
// broken mprotect or fault path fails the run instead of faulting forever.
[[noreturn]] void HandlerFail(const char* msg) {
  ssize_t ignored = write(2, msg, strlen(msg));
  (void)ignored;
  _exit(1);
}

void Handler(int, siginfo_t*, void*) {
  long n = g_traps + 1;
  g_traps = n;
  if (n > g_trap_limit) HandlerFail("ix-bench-dune-vm: the same fault keeps recurring\n");
  if (n < g_unprotect_after) return;  // "trap": return and fault again
  if (g_please_protect != nullptr && mprotect(g_please_protect, g_page_size, PROT_READ) != 0) {
    HandlerFail("ix-bench-dune-vm: mprotect(PROT_READ) failed in the SIGSEGV handler\n");
  }
  if (g_please_unprotect != nullptr &&
      mprotect(g_please_unprotect, g_page_size, PROT_READ | PROT_WRITE) != 0) {
    HandlerFail("ix-bench-dune-vm: mprotect(PROT_READ|PROT_WRITE) failed in the SIGSEGV handler\n");
  }
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

char* Page(int i) { return g_mem + long(i) * g_page_size; }

void Touch(char* p) { *reinterpret_cast<volatile char*>(p) = 10; }

// A fixed pseudo-random permutation of the pages (vmpup.c's shuffle; page 0 stays first).
std::vector<int> Permutation() {
  std::vector<int> perm(kPages);
  for (int i = 0; i < kPages; ++i) perm[i] = i;
  uint32_t x = 1;
  for (int i = 1; i < kPages - 1; ++i) {
    x = x * 1103515245u + 12345u;
    int j = int((x & 0x7fffffff) % uint32_t(kPages - i - 1));
    std::swap(perm[j + i], perm[i]);
  }
  return perm;
}

bool ProtectAll(int prot) { return mprotect(g_mem, kPages * g_page_size, prot) == 0; }

// One measurement result: ns per operation, and whether the trap count came out as expected.
struct Run {
  double ns_per_op = -1;
  bool ok = false;
};

// trap: one page, read-only; the handler returns `ops - 1` times without changing anything, so the
// write faults again; on the last trap it unprotects.
Run Trap(int ops, const std::vector<int>&) {
  if (!ProtectAll(PROT_READ | PROT_WRITE) || mprotect(Page(0), g_page_size, PROT_READ) != 0) return {};
  g_please_protect = nullptr;
  g_please_unprotect = Page(0);
  g_traps = 0;
  g_unprotect_after = ops;
  uint64_t t0 = NowNs();
  Touch(Page(0));
  uint64_t t1 = NowNs();
  g_unprotect_after = 0;
  return {double(t1 - t0) / ops, g_traps == ops};
}

// prot1: mprotect one random read-write page to read-only; rounds of 100 (the pages are made
// read-write again between rounds, untimed).
Run Prot1(int ops, const std::vector<int>& perm) {
  uint64_t total = 0;
  int done = 0;
  while (done < ops) {
    if (!ProtectAll(PROT_READ | PROT_WRITE)) return {};
    int n = std::min(kPages, ops - done);
    uint64_t t0 = NowNs();
    for (int i = 0; i < n; ++i) {
      if (mprotect(Page(perm[i]), g_page_size, PROT_READ) != 0) return {};
    }
    total += NowNs() - t0;
    done += n;
  }
  return {double(total) / ops, true};
}

// protN: mprotect the 100 pages to read-only in one call (they are made read-write between calls,
// untimed). Per call.
Run ProtN(int ops, const std::vector<int>&) {
  int calls = std::max(1, ops / kPages);
  uint64_t total = 0;
  for (int c = 0; c < calls; ++c) {
    if (!ProtectAll(PROT_READ | PROT_WRITE)) return {};
    uint64_t t0 = NowNs();
    if (!ProtectAll(PROT_READ)) return {};
    total += NowNs() - t0;
  }
  return {double(total) / calls, true};
}

// unprot: mprotect one random read-only page to read-write; rounds of 100.
Run Unprot(int ops, const std::vector<int>& perm) {
  uint64_t total = 0;
  int done = 0;
  while (done < ops) {
    if (!ProtectAll(PROT_READ)) return {};
    int n = std::min(kPages, ops - done);
    uint64_t t0 = NowNs();
    for (int i = 0; i < n; ++i) {
      if (mprotect(Page(perm[i]), g_page_size, PROT_READ | PROT_WRITE) != 0) return {};
    }
    total += NowNs() - t0;
    done += n;
  }
  return {double(total) / ops, true};
}

// appel1 = prot1+trap+unprot: every page read-only but the last one of the permutation; touching
// page perm[j] traps, the handler protects the previously touched page and unprotects perm[j].
Run Appel1(int ops, const std::vector<int>& perm) {
  if (!ProtectAll(PROT_READ)) return {};
  char* last = Page(perm[kPages - 1]);
  if (mprotect(last, g_page_size, PROT_READ | PROT_WRITE) != 0) return {};
  g_please_protect = last;
  g_traps = 0;
  g_unprotect_after = 0;
  int rounds = std::max(1, ops / kPages);
  uint64_t t0 = NowNs();
  for (int r = 0; r < rounds; ++r) {
    for (int j = 0; j < kPages; ++j) {
      g_please_unprotect = Page(perm[j]);
      Touch(g_please_unprotect);
      g_please_protect = g_please_unprotect;
    }
  }
  uint64_t t1 = NowNs();
  g_please_protect = nullptr;
  g_please_unprotect = nullptr;
  long expected = long(rounds) * kPages;
  return {double(t1 - t0) / expected, g_traps == expected};
}

// appel2 = protN+trap+unprot: protect the 100 pages in one call, touch each in the permuted order;
// the handler unprotects the faulting page. Per trap, the protN call included.
Run Appel2(int ops, const std::vector<int>& perm) {
  g_please_protect = nullptr;
  g_traps = 0;
  g_unprotect_after = 0;
  int rounds = std::max(1, ops / kPages);
  uint64_t t0 = NowNs();
  for (int r = 0; r < rounds; ++r) {
    if (!ProtectAll(PROT_READ)) return {};
    for (int j = 0; j < kPages; ++j) {
      g_please_unprotect = Page(perm[j]);
      Touch(g_please_unprotect);
    }
  }
  uint64_t t1 = NowNs();
  g_please_unprotect = nullptr;
  long expected = long(rounds) * kPages;
  return {double(t1 - t0) / expected, g_traps == expected};
}

struct Figure {
  const char* name;
  const char* what;
  std::function<Run(int, const std::vector<int>&)> fn;
  std::vector<double> runs;
  bool ok = true;
};

// Value at quantile q of sorted v (nearest rank, lower).
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = size_t(q * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Dune/Appel-Li VM-primitive benchmarks (trap, prot1, protN, unprot, appel1, appel2).\n"
      "Usage: ix-bench-dune-vm [--ops N] [--repeats R] [--cpu C] [--json FILE|-]\n"
      "Run it under `ix-run --` for the guest figures.");
  absl::ParseCommandLine(argc, argv);
  const int ops = absl::GetFlag(FLAGS_ops);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  if (ops < kPages || repeats <= 0) {
    fprintf(stderr, "ix-bench-dune-vm: --ops must be >= %d and --repeats positive\n", kPages);
    return 2;
  }
  const int cpu = absl::GetFlag(FLAGS_cpu);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) perror("sched_setaffinity");
  }
  g_page_size = sysconf(_SC_PAGESIZE);
  void* m = mmap(nullptr, (kPages + 1) * g_page_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  g_mem = static_cast<char*>(m);
  for (int i = 0; i < kPages; ++i) g_mem[long(i) * g_page_size] = 20;  // fault every page in
  struct sigaction sa = {};
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, nullptr) != 0) {
    perror("sigaction");
    return 1;
  }
  const std::vector<int> perm = Permutation();
  std::vector<Figure> figs = {
      {"trap", "page fault -> SIGSEGV handler -> return (Appel-Li 'trap only')", Trap},
      {"prot1", "mprotect one random page read-only", Prot1},
      {"protN", "mprotect 100 pages read-only in one call (per call)", ProtN},
      {"unprot", "mprotect one random read-only page read-write", Unprot},
      {"appel1", "prot1+trap+unprot, per trap (Dune's appel1)", Appel1},
      {"appel2", "protN+trap+unprot, 100 pages, per trap (Dune's appel2)", Appel2},
  };
  const std::string only = absl::GetFlag(FLAGS_only);
  bool all_ok = true;
  for (int r = 0; r < repeats; ++r) {
    for (Figure& f : figs) {
      if (!only.empty() && only != f.name) continue;
      g_trap_limit = 2L * ops + 2 * kPages;  // every figure traps at most once per operation
      Run run = f.fn(ops, perm);
      f.runs.push_back(run.ns_per_op);
      f.ok = f.ok && run.ok && run.ns_per_op > 0;
    }
  }
  ProtectAll(PROT_READ | PROT_WRITE);
  nlohmann::json j;
  j["ops"] = ops;
  j["repeats"] = repeats;
  j["pages"] = kPages;
  j["cpu"] = cpu;
  fprintf(stderr, "%-8s %12s %26s   %s\n", "figure", "ns/op", "spread (min..max)", "what");
  for (const Figure& f : figs) {
    if (f.runs.empty()) continue;
    all_ok = all_ok && f.ok;
    double med = Quantile(f.runs, 0.5), lo = Quantile(f.runs, 0.0), hi = Quantile(f.runs, 1.0);
    fprintf(stderr, "%-8s %12.0f %12.0f..%-12.0f   %s%s\n", f.name, med, lo, hi, f.what,
            f.ok ? "" : "  [FAILED: wrong trap count or mprotect error]");
    j["figures"][f.name] = {{"median_ns", med},       {"min_ns", lo},
                            {"max_ns", hi},           {"q1_ns", Quantile(f.runs, 0.25)},
                            {"q3_ns", Quantile(f.runs, 0.75)}, {"runs", f.runs},
                            {"ok", f.ok},             {"what", f.what}};
  }
  j["checks_ok"] = all_ok;
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (json_path == "-") {
    printf("%s\n", j.dump(2).c_str());
  } else if (!json_path.empty()) {
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return all_ok ? 0 : 1;
}

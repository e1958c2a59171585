// Runs the hostile guest programs of tests/hostile/ under ix-run (in the ring IX_TEST_RING names,
// else ix-run's default) and checks that every attack was refused: the program's verdict lines
// (no "BREACH"), a normal exit of ix-run with no host-side crash on stderr, and that the VMM
// counted the refusals in protection_violations.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/run_program.h"

namespace {

using ix::testing::Result;
using ix::testing::Spawn;

std::string Prog(const std::string& name) { return std::string(getenv("IX_HOSTILE_PROGS")) + "/hostile_" + name; }

// A program run under ix-run, with its statistics.
struct IxRun {
  Result r;
  nlohmann::json stats;
  uint64_t violations() const { return stats["counters"]["protection_violations"].get<uint64_t>(); }
};

IxRun UnderIx(const std::vector<std::string>& program, const std::vector<std::string>& env = {}) {
  std::string json = ::testing::TempDir() + "/hostile_stats.json";
  unlink(json.c_str());
  std::vector<std::string> a = {getenv("IX_RUN_BIN")};
  if (const char* ring = getenv("IX_TEST_RING"); ring != nullptr && *ring) a.push_back(std::string("--ring=") + ring);
  a.push_back("--stats_json=" + json);
  a.push_back("--");
  a.insert(a.end(), program.begin(), program.end());
  IxRun run;
  run.r = Spawn(a, env);
  std::ifstream f(json);
  if (f) run.stats = nlohmann::json::parse(f, nullptr, false);
  unlink(json.c_str());
  return run;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// The line that starts with "NAME ", or "".
std::string Verdict(const std::string& out, const std::string& name) {
  for (const std::string& l : Lines(out)) {
    if (l.rfind(name + " ", 0) == 0) return l;
  }
  return "";
}

// ix-run exited normally (the program's status, not a host-side crash) and said nothing on stderr
// that a crash of the VMM would print.
void ExpectCleanExit(const IxRun& run) {
  EXPECT_TRUE(WIFEXITED(run.r.status)) << "ix-run itself died: status " << run.r.status << "\n" << run.r.err;
  EXPECT_EQ(WEXITSTATUS(run.r.status), 0) << run.r.out << run.r.err;
  EXPECT_EQ(run.r.err.find("ix-run: "), std::string::npos) << run.r.err;
  EXPECT_TRUE(run.stats.is_object()) << "no statistics written";
  EXPECT_NE(run.r.out.find("\ndone\n"), std::string::npos) << "the program did not finish:\n" << run.r.out;
}

// Every line of the program's output that reports an attack says it was refused (or survived,
// where only survival is asserted), never BREACH.
// `known`: attacks that still succeed, asserted only by the DISABLED_ tests below (run them with
// --gtest_also_run_disabled_tests): open holes of issue 13, not results.
void ExpectNoBreach(const std::string& out, std::vector<std::string> known = {}) {
  for (const std::string& l : Lines(out)) {
    bool is_known = false;
    for (const std::string& k : known) is_known |= l.rfind(k + " ", 0) == 0;
    if (!is_known) {
      EXPECT_EQ(l.find("BREACH"), std::string::npos) << l;
    }
  }
}

// In the test VM (QEMU TCG, about 1 ms a hypercall) the races run fewer attempts: `vm` there,
// `native` here.
bool InTestVm() { return getenv("IX_TEST_VM") != nullptr; }
std::string Scaled(const char* name, long native, long vm) {
  return std::string(name) + "=" + std::to_string(InTestVm() ? vm : native);
}

// The number after "KEY=" in a verdict line, or -1.
long Field(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  return std::stol(line.substr(at + key.size() + 2));
}

// The program's "expect-violations N" line, and protection_violations at least that.
void ExpectViolations(const IxRun& run, uint64_t at_least) {
  std::string expect = Verdict(run.r.out, "expect-violations");
  ASSERT_FALSE(expect.empty()) << run.r.out;
  uint64_t expected = std::stoull(expect.substr(expect.find(' ') + 1));
  EXPECT_GE(expected, at_least) << run.r.out;
  if (run.stats.is_object()) {
    EXPECT_GE(run.violations(), expected) << "refusals the VMM did not count";
  }
}

// The verdict of `name` starts with "NAME <word>" for one of `words`.
void ExpectVerdict(const std::string& out, const std::string& name, std::initializer_list<const char*> words) {
  std::string v = Verdict(out, name);
  bool ok = false;
  for (const char* w : words) ok = ok || v.rfind(name + " " + w, 0) == 0;
  EXPECT_TRUE(ok) << (v.empty() ? name + ": no verdict\n" + out : v);
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm";
  }
};

// Attack class 1: every syscall with each argument in the private region; pointers below the low
// guard reaching across it; syscall numbers with bits above 31 set (Linux runs syscall eax); int
// 0x80. Each refusal the program saw must have been the VMM's: protection_violations counts at
// least as many as the program printed in "expect-violations".
TEST_F(HostileTest, SyscallSweep) {
  IxRun run = UnderIx({Prog("sweep")});
  ExpectCleanExit(run);
  for (const char* name : {"sweep", "below-guard", "high-nr-write", "high-nr-io_uring", "high-nr-ptrace", "int80"}) {
    std::string v = Verdict(run.r.out, name);
    EXPECT_NE(v.find(" refused "), std::string::npos) << (v.empty() ? std::string(name) + ": no verdict" : v);
  }
  EXPECT_EQ(Verdict(run.r.out, "below-guard-control"), "below-guard-control ok");
  ExpectNoBreach(run.r.out);
  std::string expect = Verdict(run.r.out, "expect-violations");
  ASSERT_FALSE(expect.empty()) << run.r.out;
  uint64_t expected = std::stoull(expect.substr(expect.find(' ') + 1));
  EXPECT_GE(expected, 900u) << "the sweep made too few refused calls to prove anything";
  if (run.stats.is_object()) {
    EXPECT_GE(run.violations(), expected) << "refusals the VMM did not count";
  }
  // Natively the program finds no region and proves nothing by passing.
  EXPECT_EQ(Spawn({Prog("sweep")}).out, "no-region\n");
}

// Attack class 2 (a)-(c): a second thread flips iov_base, msg_iov, msg_iovlen, msg_control, an
// SCM_RIGHTS descriptor (to a KVM one) and socklen_t words while this one makes the call. Both
// outcomes must have happened (the flipper raced the VMM), never a breach.
TEST_F(HostileTest, RaceIo) {
  IxRun run = UnderIx({Prog("race_io")}, {Scaled("IX_HOSTILE_ATTEMPTS", 10000, 2000)});
  ExpectCleanExit(run);
  for (const char* name : {"writev-iov_base", "sendmsg-iov_base", "sendmsg-msg_iov", "sendmsg-msg_iovlen",
                           "scm_rights-fd", "sendmsg-msg_control", "getsockname-addrlen", "getsockopt-optlen"}) {
    std::string v = Verdict(run.r.out, name);
    ExpectVerdict(run.r.out, name, {"ok"});
    // Under QEMU TCG the flipper thread is seldom scheduled beside the caller (seen: 0 of 8000
    // for most races), so there a race that never flipped in time only proves nothing.
    if (!InTestVm()) {
      EXPECT_GT(Field(v, "refused"), 0) << "the flipper never won: " << v;
    }
    EXPECT_GT(Field(v, "succeeded"), 0) << "the benign value never got through: " << v;
  }
  ExpectNoBreach(run.r.out);
  ExpectViolations(run, 100);
}

// Attack class 2 (d): execve with envp strings, the path, the file behind the path or the file's
// bytes changed by a racer, and targets the kernel would start natively (a foreign PT_INTERP, a
// 32-bit program); the exec'd helper must run under ix and see nothing injected, or the exec is
// refused. Every attempt builds two VMs (fork, exec): 200 attempts here, 8 in the test VM (several
// seconds each there).
TEST_F(HostileTest, ExecRace) {
  IxRun run = UnderIx({Prog("exec_race")}, {Scaled("IX_HOSTILE_EXEC_ATTEMPTS", 200, 8),
                                            Scaled("IX_HOSTILE_SECONDS", 8, 30)});
  ExpectCleanExit(run);
  for (const char* name : {"exec-env-ld_preload", "exec-env-ix_allow_exit", "exec-env-ix_policy", "exec-path-dyn-sta",
                           "exec-file-swap", "exec-file-rewrite", "exec-bad-interp", "exec-elf32"}) {
    ExpectVerdict(run.r.out, name, {"ok"});
  }
  ExpectNoBreach(run.r.out);
  ExpectViolations(run, 2);  // at least: the foreign interpreter and the 32-bit program
}

// Attack class 3: privileged RFLAGS bits handed in through r11 (syscall, the hypercall page, a
// raw fork) must never come back; in ring 3 cli must still fault.
TEST_F(HostileTest, Rflags) {
  IxRun run = UnderIx({Prog("rflags")});
  ExpectCleanExit(run);
  for (const char* name : {"rflags-syscall", "rflags-hypercall"}) ExpectVerdict(run.r.out, name, {"refused"});
  ExpectNoBreach(run.r.out, {"rflags-cli", "rflags-cli-control", "rflags-fork"});
}

// With real SVM/VT-x a ring-3 program's syscall enters the LSTAR stub at CPL 0; the VMM must put
// it back in ring 3 on return (cli must fault after any number of syscalls). kvm_pvm runs the stub
// at CPL 3 already.
TEST_F(HostileTest, Ring3StaysRing3) {
  IxRun run = UnderIx({Prog("rflags")});
  ExpectVerdict(run.r.out, "rflags-fork", {"refused"});
  ExpectVerdict(run.r.out, "rflags-cli", {"refused", "survived"});
  if (Verdict(run.r.out, "region").find("ring=3") != std::string::npos) {
    ExpectVerdict(run.r.out, "rflags-cli-control", {"ok"});
  }
  ExpectNoBreach(run.r.out);
}

// Attack class 4: unknown and high-bit syscall numbers, ix's own numbers with garbage, and
// privileged instructions and forged exception reports in forked children.
TEST_F(HostileTest, Hypercalls) {
  IxRun run = UnderIx({Prog("hypercalls")});
  ExpectCleanExit(run);
  ExpectVerdict(run.r.out, "unknown-nr", {"refused"});
  ExpectVerdict(run.r.out, "high-nr-semantics", {"refused"});
  for (const char* name : {"priv-out", "priv-in", "priv-hlt", "priv-forged-stub", "priv-forged-store"}) {
    ExpectVerdict(run.r.out, name, {"refused"});
  }
  // KVM answers vmcall/vmmcall in the kernel where it does not fault them.
  for (const char* name : {"priv-vmcall", "priv-vmmcall"}) ExpectVerdict(run.r.out, name, {"refused", "survived"});
  ExpectNoBreach(run.r.out);
  ExpectViolations(run, 4);
}

// Attack class 5: more small mappings than memory slots: clean ENOMEM or working memory.
TEST_F(HostileTest, Memslots) {
  IxRun run = UnderIx({Prog("memslots")}, {Scaled("IX_HOSTILE_SECONDS", 8, 40)});
  ExpectCleanExit(run);
  ExpectVerdict(run.r.out, "memslots", {"ok"});
  ExpectNoBreach(run.r.out);
}

// Attack class 6: a bounded fork storm, and RLIMIT_NPROC reached.
TEST_F(HostileTest, ForkStorm) {
  IxRun run = UnderIx({Prog("forkstorm")}, {Scaled("IX_HOSTILE_FORK_ROUNDS", 3, 1)});
  ExpectCleanExit(run);
  ExpectVerdict(run.r.out, "forkstorm", {"ok"});
  ExpectVerdict(run.r.out, "forkstorm-nproc", {"ok"});
  // A fork at the limit fails with EAGAIN; it never leaves a child that cannot run its vCPU.
  EXPECT_EQ(Verdict(run.r.out, "forkstorm-nproc").find("KVM_RUN failed"), std::string::npos) << run.r.out;
  ExpectNoBreach(run.r.out);
}

// Attack class 7: robust futexes, emulated by the VMM: they work (EOWNERDEAD across a thread's
// and a process's death), and hostile lists that lead into the region are refused, counted.
TEST_F(HostileTest, RobustFutex) {
  IxRun run = UnderIx({Prog("robust")});
  ExpectCleanExit(run);
  for (const char* name : {"robust-thread", "robust-pshared", "robust-get", "robust-thread-after"}) {
    ExpectVerdict(run.r.out, name, {"ok"});
  }
  for (const char* name : {"robust-next-into-region", "robust-offset-into-region", "robust-pending-into-region"}) {
    ExpectVerdict(run.r.out, name, {"survived"});
  }
  ExpectNoBreach(run.r.out);
  ExpectViolations(run, 3);
}

}  // namespace

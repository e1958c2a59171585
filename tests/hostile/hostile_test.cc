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

namespace {

struct Result {
  int status = -1;  // raw wait status
  std::string out, err;
};

std::string ReadAll(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, n);
  return s;
}

// Runs argv with stdout captured and stderr in a file (no pipe deadlocks).
Result Spawn(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe(out) != 0) abort();
  char err_path[] = "/tmp/hostile_test_err_XXXXXX";
  int err_fd = mkstemp(err_path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err_fd, 2);
    close(out[0]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  Result r;
  r.out = ReadAll(out[0]);
  close(out[0]);
  waitpid(pid, &r.status, 0);
  lseek(err_fd, 0, SEEK_SET);
  r.err = ReadAll(err_fd);
  close(err_fd);
  unlink(err_path);
  return r;
}

std::string Prog(const std::string& name) { return std::string(getenv("IX_HOSTILE_PROGS")) + "/hostile_" + name; }

// A program run under ix-run, with its statistics.
struct IxRun {
  Result r;
  nlohmann::json stats;
  uint64_t violations() const { return stats["counters"]["protection_violations"].get<uint64_t>(); }
};

IxRun UnderIx(const std::vector<std::string>& program) {
  std::string json = ::testing::TempDir() + "/hostile_stats.json";
  unlink(json.c_str());
  std::vector<std::string> a = {getenv("IX_RUN_BIN")};
  if (const char* ring = getenv("IX_TEST_RING"); ring != nullptr && *ring) a.push_back(std::string("--ring=") + ring);
  a.push_back("--stats_json=" + json);
  a.push_back("--");
  a.insert(a.end(), program.begin(), program.end());
  IxRun run;
  run.r = Spawn(a);
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
void ExpectNoBreach(const std::string& out) {
  for (const std::string& l : Lines(out)) EXPECT_EQ(l.find("BREACH"), std::string::npos) << l;
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

}  // namespace

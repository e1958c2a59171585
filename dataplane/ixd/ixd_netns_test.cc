// Integration tests of ixd and libix on a veth pair between two network namespaces this test
// creates (root only; exits 77 otherwise): the echo app in library mode and against ixd with
// Linux socat/nc as the peer (then ixd's stats socket), two apps on one ixd with one SIGKILLed
// mid-transfer while the other's transfer completes intact (sha256), and a hostile app sending
// random command batches while a good app keeps working. Everything started is stopped by pid;
// namespaces are removed.
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "dataplane/nic/testing/netns.h"
#include "gtest/gtest.h"

namespace ix::ixd {
namespace {

using nic::testing::NetnsPair;
using nic::testing::RunCommand;

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string Env(const char* name, const char* def) {
  const char* v = getenv(name);
  return v != nullptr ? v : def;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Veth leaves TCP/UDP checksums of locally sent packets unfinished; an AF_XDP receiver sees them
// so. Turn transmit checksum offload off on the Linux side (calling thread's namespace).
absl::Status TxChecksumOff(const std::string& ifname) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  ethtool_value ev{};
  ev.cmd = ETHTOOL_STXCSUM;
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  const int r = ioctl(fd, SIOCETHTOOL, &ifr);
  const int err = errno;
  close(fd);
  return r == 0 ? absl::OkStatus() : absl::ErrnoToStatus(err, "ETHTOOL_STXCSUM");
}

// A child process with stdout and stderr in files.
struct Child {
  pid_t pid = -1;
  std::string out, err;  // file paths
  std::string name;
};

struct Result {
  int exit_code = -1;
  std::string output;
};

// Connects to ixd's stats socket and reads its answer to EOF (5 s at most).
std::string ReadStatsSocket(const std::string& path) {
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  std::string out;
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    timeval tv{5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n;
    while ((n = recv(s, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  } else {
    out = "connect(" + path + "): " + strerror(errno);
  }
  close(s);
  return out;
}

// The number after the first "key": in compact JSON text, or -1.
long long JsonNumber(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t p = json.find(needle);
  return p == std::string::npos ? -1 : std::strtoll(json.c_str() + p + needle.size(), nullptr, 10);
}

class IxdNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nic::testing::CleanStaleNetns();
    auto pair = NetnsPair::Create({});
    ASSERT_TRUE(pair.ok()) << pair.status();
    pair_ = *std::move(pair);
    prefix_ = absl::StrFormat("/tmp/ixdt-%d-%d-", getpid(), counter_++);
    socket_ = prefix_ + "ixd.sock";
    ASSERT_TRUE(RunCommand(absl::StrFormat("ip -n %s addr add %s/24 dev %s", pair_->ns_b(), ip_b_,
                                           pair_->if_b()))
                    .ok());
    auto in_b = pair_->EnterB();
    ASSERT_TRUE(in_b.ok());
    ASSERT_TRUE(TxChecksumOff(pair_->if_b()).ok());
  }

  void TearDown() override {
    for (Child& c : children_) Stop(c, /*sig=*/SIGKILL);
    for (const Child& c : children_) {
      if (HasFailure()) {
        printf("--- %s stdout:\n%s--- %s stderr:\n%s", c.name.c_str(), ReadFile(c.out).c_str(),
               c.name.c_str(), ReadFile(c.err).c_str());
      }
      unlink(c.out.c_str());
      unlink(c.err.c_str());
    }
    unlink(socket_.c_str());
    // Scratch files of scripts that stopped early (the prefix is unique to this pid and test).
    (void)RunCommand("rm -f " + prefix_ + "*");
    pair_.reset();  // deletes the namespaces
  }

  Child* Spawn(const std::string& name, std::vector<std::string> args) {
    Child c;
    c.name = name;
    c.out = prefix_ + name + ".out";
    c.err = prefix_ + name + ".err";
    const int o = open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int e = open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(o);
    close(e);
    c.pid = pid;
    children_.push_back(c);
    return &children_.back();
  }

  // Waits until `text` appears in the child's stdout or stderr, or it exits, or timeout_s pass.
  bool WaitForText(const Child& c, const std::string& text, double timeout_s) {
    const double end = NowSeconds() + timeout_s;
    while (NowSeconds() < end) {
      if (absl::StrContains(ReadFile(c.out), text) || absl::StrContains(ReadFile(c.err), text)) {
        return true;
      }
      int status;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) return false;
      usleep(20000);
    }
    return false;
  }

  // Sends `sig`, waits up to 10 s (then SIGKILL); returns the exit status (128+n for signals).
  int Stop(Child& c, int sig = SIGTERM) {
    if (c.pid <= 0) return -1;
    kill(c.pid, sig);
    int status = 0;
    const double end = NowSeconds() + 10;
    pid_t r = 0;
    while ((r = waitpid(c.pid, &status, WNOHANG)) == 0 && NowSeconds() < end) usleep(10000);
    if (r == 0) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
    }
    c.pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  bool Alive(const Child& c) { return c.pid > 0 && waitpid(c.pid, nullptr, WNOHANG) == 0; }

  Child* StartIxd() {
    Child* d = Spawn("ixd", {"ip", "netns", "exec", pair_->ns_a(), Env("IXD_BIN", "ixd"),
                             "--iface=" + pair_->if_a(), "--ip=" + ip_a_ + "/24",
                             "--socket=" + socket_});
    EXPECT_TRUE(WaitForText(*d, "ixd: serving", 30)) << ReadFile(d->err);
    return d;
  }

  Child* StartApp(const std::string& mode, int port) {
    std::vector<std::string> args;
    if (mode == "library") args = {"ip", "netns", "exec", pair_->ns_a()};
    args.push_back(Env("IX_ECHO_APP_BIN", "ix_echo_app"));
    args.push_back(absl::StrFormat("--port=%d", port));
    args.push_back("--mode=" + mode);
    args.push_back("--socket=" + socket_);
    args.push_back("--iface=" + pair_->if_a());
    args.push_back("--ip=" + ip_a_ + "/24");
    Child* c = Spawn(absl::StrFormat("app%d-%d", port, counter_++), args);
    EXPECT_TRUE(WaitForText(*c, absl::StrFormat("ready %d", port), 30))
        << ReadFile(c->out) << ReadFile(c->err);
    return c;
  }

  Result RunInB(const std::string& script, int timeout_s) {
    const std::string path = prefix_ + absl::StrFormat("script%d.sh", counter_++);
    {
      std::ofstream f(path);
      f << "set -e\n" << script << "\n";
    }
    const std::string cmd = absl::StrFormat("ip netns exec %s timeout -k 5 %d sh %s 2>&1",
                                            pair_->ns_b(), timeout_s, path);
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
    const int status = p != nullptr ? pclose(p) : -1;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    unlink(path.c_str());
    return r;
  }

  // TCP echo of `bytes` random bytes through port `port`, checked with cmp; then UDP with nc.
  void ExpectEcho(int port, int bytes) {
    const std::string in = prefix_ + "echo.in", out = prefix_ + "echo.out";
    Result r = RunInB(
        absl::StrFormat("head -c %d /dev/urandom > %s\n"
                        "socat -t 5 -T 20 STDIO TCP:%s:%d < %s > %s\n"
                        "cmp %s %s && echo TCP-SAME\n"
                        "printf 'udp-hello' | nc -u -w 2 %s %d > %s.udp || true\n"
                        "cat %s.udp; echo\n"
                        "rm -f %s %s %s.udp",
                        bytes, in, ip_a_, port, in, out, in, out, ip_a_, port, out, out, in, out,
                        out),
        40);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "TCP-SAME")) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "udp-hello")) << r.output;
  }

  std::unique_ptr<NetnsPair> pair_;
  std::string prefix_, socket_;
  std::string ip_a_ = "10.79.0.1", ip_b_ = "10.79.0.2";
  std::deque<Child> children_;  // stable addresses: Spawn returns pointers
  int counter_ = 0;
};

TEST_F(IxdNetnsTest, EchoAppInLibraryMode) {
  Child* app = StartApp("library", 7);
  ExpectEcho(7, 262144);
  EXPECT_EQ(Stop(*app), 0);
}

TEST_F(IxdNetnsTest, SameEchoAppAgainstIxd) {
  Child* ixd = StartIxd();
  Child* app = StartApp("ixd", 7);
  ExpectEcho(7, 262144);
  // ixd's live counters on its stats socket (default: the attach socket + ".stats").
  const std::string stats = ReadStatsSocket(socket_ + ".stats");
  EXPECT_TRUE(absl::StrContains(stats, "\"attached\":1,")) << stats;
  EXPECT_TRUE(absl::StrContains(stats, "\"apps_attached\":1,")) << stats;
  EXPECT_GE(JsonNumber(stats, "tcp.passive_opens"), 1) << stats;
  EXPECT_GT(JsonNumber(stats, "nic.rx_packets"), 0) << stats;
  EXPECT_GE(JsonNumber(stats, "rx_bytes"), 262144) << stats;  // the app's (first "rx_bytes")
  EXPECT_EQ(Stop(*app), 0);
  EXPECT_TRUE(WaitForText(*ixd, "detached app", 5));
  EXPECT_TRUE(Alive(*ixd));
  EXPECT_EQ(Stop(*ixd), 0);
}

// Two apps on one ixd; app 1 is SIGKILLed while both transfers run. App 2's transfer must finish
// byte for byte (sha256), app 1's connection must be reset, ixd must live on and give port 7001
// to a new app.
TEST_F(IxdNetnsTest, KilledAppDoesNotHurtTheOther) {
  Child* ixd = StartIxd();
  Child* app1 = StartApp("ixd", 7001);
  Child* app2 = StartApp("ixd", 7002);
  const std::string in1 = prefix_ + "t1.in", in2 = prefix_ + "t2.in";
  const std::string out1 = prefix_ + "t1.out", out2 = prefix_ + "t2.out";
  // Each transfer is fed in 64 KiB pieces over about 3 s, so both are in flight at the kill.
  auto feed = [&](const std::string& in, int port, const std::string& out, const char* rc) {
    return absl::StrFormat(
        "((for i in $(seq 0 63); do dd if=%s bs=65536 skip=$i count=1 status=none; sleep 0.04; "
        "done) | socat -t 10 -T 20 - TCP:%s:%d > %s; echo %s=$? > %s.rc) &\n",
        in, ip_a_, port, out, rc, out);
  };
  const std::string script =
      absl::StrFormat("head -c 4194304 /dev/urandom > %s\nhead -c 4194304 /dev/urandom > %s\n"
                      "set +e\n",
                      in1, in2) +
      feed(in1, 7001, out1, "rc1") + feed(in2, 7002, out2, "rc2") +
      absl::StrFormat(
          "wait\ncat %s.rc %s.rc\n"
          "echo in2=$(sha256sum < %s | cut -d' ' -f1)\n"
          "echo out2=$(sha256sum < %s | cut -d' ' -f1)\n"
          "echo size1=$(stat -c %%s %s)\n"
          "rm -f %s %s %s %s %s.rc %s.rc\n",
          out1, out2, in2, out2, out1, in1, in2, out1, out2, out1, out2);
  Result r;
  std::thread peer([&] { r = RunInB(script, 60); });
  usleep(1'200'000);  // both transfers are under way
  EXPECT_EQ(Stop(*app1, SIGKILL), 128 + SIGKILL);
  peer.join();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string in2_sum, out2_sum;
  for (const std::string& line : std::vector<std::string>{"in2=", "out2="}) {
    const size_t at = r.output.find(line);
    ASSERT_NE(at, std::string::npos) << r.output;
    (line == "in2=" ? in2_sum : out2_sum) = r.output.substr(at + line.size(), 64);
  }
  EXPECT_EQ(in2_sum, out2_sum) << r.output;
  EXPECT_EQ(in2_sum.size(), 64u);
  EXPECT_TRUE(absl::StrContains(r.output, "rc2=0")) << r.output;
  // App 1's transfer was cut short (reset): fewer bytes came back than were sent.
  const size_t at = r.output.find("size1=");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::atoll(r.output.c_str() + at + 6), 4194304) << r.output;
  EXPECT_TRUE(WaitForText(*ixd, "connection(s) reset", 5)) << ReadFile(ixd->err);
  printf("peer:\n%s\nixd:\n%s", r.output.c_str(), ReadFile(ixd->err).c_str());
  EXPECT_TRUE(Alive(*ixd));
  // The dead app's port is free again.
  Child* app1b = StartApp("ixd", 7001);
  ExpectEcho(7001, 65536);
  EXPECT_EQ(Stop(*app1b), 0);
  EXPECT_EQ(Stop(*app2), 0);
  EXPECT_EQ(Stop(*ixd), 0);
}

// A hostile app floods ixd with random command batches and scribbles over its ring indices for
// a few seconds while a good app echoes a transfer; the transfer must be intact, the hostile app
// must not get the good app's port, and ixd must survive and count the rejections.
TEST_F(IxdNetnsTest, HostileAppDoesNotHurtAGoodOne) {
  Child* ixd = StartIxd();
  Child* good = StartApp("ixd", 7002);
  Child* evil = Spawn("hostile", {Env("IX_HOSTILE_BIN", "ix_hostile_app"), "--socket=" + socket_,
                                  "--seconds=4", "--seed=" + std::to_string(getpid()),
                                  "--peer=" + ip_b_, "--steal=7002"});
  ASSERT_TRUE(WaitForText(*evil, "ix_hostile_app: attached", 10)) << ReadFile(evil->err);
  const std::string in = prefix_ + "h.in", out = prefix_ + "h.out";
  Result r = RunInB(
      absl::StrFormat("head -c 2097152 /dev/urandom > %s\n"
                      "(for i in $(seq 0 31); do dd if=%s bs=65536 skip=$i count=1 status=none; "
                      "sleep 0.05; done) | socat -t 10 -T 20 - TCP:%s:%d > %s\n"
                      "cmp %s %s && echo SAME\nrm -f %s %s",
                      in, in, ip_a_, 7002, out, in, out, in, out),
      60);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "SAME")) << r.output;
  ASSERT_TRUE(WaitForText(*evil, "ix_hostile_app: done", 15)) << ReadFile(evil->err);
  unsigned long long total = 0, rejected = 0, stolen = 0;
  const std::string text = ReadFile(evil->out);
  const size_t at = text.find("ix_hostile_app: done");
  ASSERT_EQ(sscanf(text.c_str() + at, "ix_hostile_app: done %llu %llu %llu", &total, &rejected,
                   &stolen),
            3);
  EXPECT_GT(total, 1000u);
  EXPECT_GT(rejected, total / 4);
  EXPECT_EQ(stolen, 0u);
  printf("hostile: %llu commands, %llu rejected, %llu stolen\n", total, rejected, stolen);
  EXPECT_EQ(Stop(*evil), 0);
  EXPECT_TRUE(WaitForText(*ixd, "detached app", 5));
  EXPECT_TRUE(Alive(*ixd));
  printf("ixd:\n%s", ReadFile(ixd->err).c_str());
  // The good app still works after the hostile one is gone.
  ExpectEcho(7002, 65536);
  EXPECT_EQ(Stop(*good), 0);
  EXPECT_EQ(Stop(*ixd), 0);
}

// The same app under ix-run (a KVM guest whose syscalls are hypercalls) against ixd: the queue
// pair is memory in the app's own address space, so the data path needs no syscall. The echo of
// 1 MiB must work with far fewer syscalls than a socket server would need.
TEST_F(IxdNetnsTest, EchoAppUnderIxRunAgainstIxd) {
  const std::string ix_run = Env("IX_RUN_BIN", "");
  if (ix_run.empty() || access(ix_run.c_str(), X_OK) != 0) GTEST_SKIP() << "no ix-run binary";
  if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/kvm";
  Child* ixd = StartIxd();
  Child* app = Spawn("ixrun-app", {ix_run, "--stats", "--", Env("IX_ECHO_APP_BIN", "ix_echo_app"),
                                   "--port=7", "--mode=ixd", "--socket=" + socket_});
  ASSERT_TRUE(WaitForText(*app, "ready 7", 60)) << ReadFile(app->out) << ReadFile(app->err);
  ExpectEcho(7, 1 << 20);
  EXPECT_EQ(Stop(*app), 0);
  const std::string report = ReadFile(app->out) + ReadFile(app->err);
  const size_t at = report.find(" syscalls (");
  ASSERT_NE(at, std::string::npos) << report;
  size_t start = report.rfind(' ', at - 1);
  const long syscalls = std::atol(report.c_str() + start + 1);
  printf("ix-run report:\n%s\n", report.c_str());
  // About 1,100 commands and 1 MiB each way went through the queue pair; syscalls are only
  // attach, mapping, and sleeping / doorbells when one side was idle. How often a side was idle
  // depends on the machine's speed (under the test VM's emulation, often), so the sleeps (ppoll)
  // are bounded apart from the rest.
  const size_t ppoll_at = report.find("  ppoll ");
  const long ppolls = ppoll_at == std::string::npos ? 0 : std::atol(report.c_str() + ppoll_at + 8);
  EXPECT_GT(syscalls, 0);
  EXPECT_LT(syscalls - ppolls, 100) << report;
  EXPECT_LT(ppolls, 2000) << report;
  // 1 MiB of TCP and the 9-byte UDP probe went through the RX area.
  EXPECT_TRUE(WaitForText(*ixd, "rx 1048585 B", 5)) << ReadFile(ixd->err);
  EXPECT_EQ(Stop(*ixd), 0);
}

}  // namespace
}  // namespace ix::ixd

int main(int argc, char** argv) {
  const std::string why = ix::nic::testing::NetnsTestBlocker();
  if (!why.empty()) {
    printf("SKIP: %s\n", why.c_str());
    return 77;
  }
  for (const char* tool : {"socat", "nc", "sha256sum", "timeout"}) {
    if (!ix::nic::testing::RunCommand(std::string("command -v ") + tool).ok()) {
      printf("SKIP: needs %s\n", tool);
      return 77;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

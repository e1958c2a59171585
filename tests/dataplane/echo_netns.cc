// EchoNetns: namespaces, ix-echo started and stopped by PID, commands run in namespace B.
#include "tests/dataplane/echo_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace ix::testing {
namespace {

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

const char* EchoBin() {
  const char* p = getenv("IX_ECHO_BIN");
  return p != nullptr ? p : "ix-echo";
}

// Turns off transmit checksum offload (and with it TSO) on `ifname` in the calling thread's
// namespace, with the ethtool ioctl (no ethtool binary needed).
absl::Status TxChecksumOff(const std::string& ifname) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrFormat("socket: %s", strerror(errno)));
  ethtool_value ev{};
  ev.cmd = ETHTOOL_STXCSUM;
  ev.data = 0;
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  const int r = ioctl(fd, SIOCETHTOOL, &ifr);
  const int err = errno;
  close(fd);
  if (r != 0) {
    return absl::InternalError(
        absl::StrFormat("ioctl(SIOCETHTOOL, ETHTOOL_STXCSUM off, %s): %s", ifname, strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ScriptDir() {
  const char* p = getenv("IX_TEST_SCRIPTS");
  return p != nullptr ? p : ".";
}

std::string Blocker(const std::vector<std::string>& tools) {
  std::string why = nic::testing::NetnsTestBlocker();
  if (!why.empty()) return why;
  if (access(EchoBin(), X_OK) != 0) return absl::StrFormat("ix-echo not found at %s", EchoBin());
  for (const std::string& t : tools) {
    if (!nic::testing::RunCommand("command -v " + t).ok()) return "needs " + t;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<EchoNetns>> EchoNetns::Create(const EchoNetnsOptions& options) {
  nic::testing::CleanStaleNetns();
  std::unique_ptr<EchoNetns> env(new EchoNetns());
  absl::StatusOr<std::unique_ptr<nic::testing::NetnsPair>> pair =
      nic::testing::NetnsPair::Create({});
  if (!pair.ok()) return pair.status();
  env->pair_ = *std::move(pair);
  env->ip_a_ = "10.77.0.1";
  env->ip_b_ = "10.77.0.2";
  env->tmp_prefix_ = absl::StrFormat("/tmp/%s-", env->pair_->ns_a());
  env->stderr_path_ = env->TempPath("ix-echo.stderr");
  absl::Status st = nic::testing::RunCommand(absl::StrFormat(
      "ip -n %s addr add %s/24 dev %s", env->ns_b(), env->ip_b_, env->if_b()));
  if (!st.ok()) return st;
  {
    absl::StatusOr<std::unique_ptr<nic::testing::NetnsGuard>> in_b = env->pair_->EnterB();
    if (!in_b.ok()) return in_b.status();
    st = TxChecksumOff(env->if_b());
    if (!st.ok()) return st;
  }
  st = env->StartEcho(options);
  if (!st.ok()) return st;
  return env;
}

absl::Status EchoNetns::StartEcho(const EchoNetnsOptions& options) {
  std::vector<std::string> args = {"ip", "netns", "exec", pair_->ns_a(), EchoBin(),
                                   "--iface=" + pair_->if_a(), "--ip=" + ip_a_,
                                   absl::StrFormat("--port=%d", options.port),
                                   "--mode=" + options.mode};
  args.insert(args.end(), options.extra_flags.begin(), options.extra_flags.end());
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2");
  const int err_fd = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err_fd < 0) return absl::InternalError("open " + stderr_path_);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrFormat("fork: %s", strerror(errno)));
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err_fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err_fd);
  echo_pid_ = pid;
  // `ip netns exec` execs ix-echo in the same process, so echo_pid_ is ix-echo's pid.
  std::string text;
  const double deadline = NowSeconds() + 30;
  bool ready = false;
  while (!ready && NowSeconds() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    ready = absl::StrContains(text, "ix-echo: ready " + ip_a_);
  }
  close(out[0]);
  if (!ready) {
    return absl::InternalError(absl::StrFormat("ix-echo did not become ready: stdout '%s', "
                                               "stderr '%s'",
                                               text, ReadStderr()));
  }
  return absl::OkStatus();
}

std::string EchoNetns::ReadStderr() const {
  std::ifstream f(stderr_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CommandResult EchoNetns::RunInB(const std::string& script, int timeout_s) {
  const std::string path = TempPath(absl::StrFormat("script%d.sh", script_counter_++));
  {
    std::ofstream f(path);
    f << script << "\n";
  }
  CommandResult r;
  const std::string cmd = absl::StrFormat("ip netns exec %s timeout -k 5 %d sh %s 2>&1",
                                          pair_->ns_b(), timeout_s, path);
  const double start = NowSeconds();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.output = "popen failed";
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.seconds = NowSeconds() - start;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  unlink(path.c_str());
  return r;
}

absl::StatusOr<EchoCounters> EchoNetns::Counters() {
  if (echo_pid_ <= 0) return absl::FailedPreconditionError("ix-echo is not running");
  const size_t before = ReadStderr().size();
  kill(echo_pid_, SIGUSR1);
  const double deadline = NowSeconds() + 5;
  while (NowSeconds() < deadline) {
    usleep(20'000);
    const std::string all = ReadStderr();
    if (all.size() <= before) continue;
    // The dump is complete once a later line is written or the writer went quiet: wait a little.
    usleep(50'000);
    const std::string text = ReadStderr().substr(before);
    const size_t start = text.find("ix-echo: open_connections");
    if (start == std::string::npos) continue;
    EchoCounters c;
    c.text = text.substr(start);
    for (absl::string_view line : absl::StrSplit(c.text, '\n')) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() == 2) {
        uint64_t v = 0;
        if (absl::SimpleAtoi(f[1], &v)) c.values[std::string(f[0])] = v;
      }
      if (f.size() == 5 && f[0] == "ix-echo:") {
        uint64_t v = 0;
        if (absl::SimpleAtoi(f[2], &v)) c.values["open_connections"] = v;
        if (absl::SimpleAtoi(f[4], &v)) c.values["tcp_connections"] = v;
      }
    }
    return c;
  }
  return absl::DeadlineExceededError("ix-echo printed no counters after SIGUSR1: " + ReadStderr());
}

int EchoNetns::StopEcho(EchoCounters* final_counters) {
  if (echo_pid_ <= 0) return -1;
  kill(echo_pid_, SIGTERM);
  int status = 0;
  int code = -1;
  const double deadline = NowSeconds() + 10;
  while (NowSeconds() < deadline) {
    const pid_t r = waitpid(echo_pid_, &status, WNOHANG);
    if (r == echo_pid_) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    usleep(20'000);
  }
  if (code == -1) {
    kill(echo_pid_, SIGKILL);
    waitpid(echo_pid_, &status, 0);
  }
  echo_pid_ = -1;
  if (final_counters != nullptr) {
    const std::string all = ReadStderr();
    const size_t start = all.rfind("ix-echo: open_connections");
    final_counters->text = start == std::string::npos ? all : all.substr(start);
  }
  return code;
}

EchoNetns::~EchoNetns() {
  StopEcho();
  unlink(stderr_path_.c_str());
  pair_.reset();  // deletes both namespaces (and the veth pair)
}

}  // namespace ix::testing

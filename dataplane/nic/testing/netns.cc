// NetnsPair and friends: `ip` commands to build and remove test namespaces, setns to enter them.
#include "dataplane/nic/testing/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace ix::nic::testing {
namespace {

constexpr char kNsPrefix[] = "ixnic-";
constexpr char kIfPrefixA[] = "nxa";
constexpr char kIfPrefixB[] = "nxb";

}  // namespace

bool PidAlive(long pid) {
  // A killed test can linger as a zombie until it is reaped: that counts as gone.
  FILE* f = fopen(absl::StrFormat("/proc/%d/stat", pid).c_str(), "re");
  if (f == nullptr) return false;
  char line[512];
  const bool read = fgets(line, sizeof(line), f) != nullptr;
  fclose(f);
  if (!read) return false;
  // "pid (comm) S ...": the state follows the last ')' (comm may contain one).
  const char* close = strrchr(line, ')');
  if (close == nullptr || close[1] != ' ') return true;
  return close[2] != 'Z' && close[2] != 'X';
}

namespace {

// Parses the pid out of "<prefix><pid>-..." or returns -1.
long PidOf(const std::string& name, const std::string& prefix) {
  if (!absl::StartsWith(name, prefix)) return -1;
  const size_t start = prefix.size();
  const size_t dash = name.find('-', start);
  if (dash == std::string::npos) return -1;
  long pid = 0;
  if (!absl::SimpleAtoi(name.substr(start, dash - start), &pid)) return -1;
  return pid;
}

std::string MacString(const Mac& m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

}  // namespace

absl::Status RunCommand(const std::string& command) {
  const std::string full = command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr)
    return absl::InternalError(absl::StrFormat("popen(%s): %s", command, strerror(errno)));
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) output += buf;
  const int status = pclose(p);
  if (status != 0) {
    return absl::InternalError(
        absl::StrFormat("`%s` exited with status %d: %s", command, status, output));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NetnsGuard>> NetnsGuard::Enter(const std::string& netns_name) {
  std::unique_ptr<NetnsGuard> g(new NetnsGuard());
  g->original_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (g->original_fd_ < 0) {
    return absl::InternalError(
        absl::StrFormat("open(/proc/thread-self/ns/net): %s", strerror(errno)));
  }
  const std::string path = "/var/run/netns/" + netns_name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrFormat("open(%s): %s", path, strerror(errno)));
  const int r = setns(fd, CLONE_NEWNET);
  const int err = errno;
  close(fd);
  if (r != 0) {
    return absl::InternalError(absl::StrFormat("setns(%s, CLONE_NEWNET): %s", path, strerror(err)));
  }
  return g;
}

NetnsGuard::~NetnsGuard() {
  if (original_fd_ >= 0) {
    if (setns(original_fd_, CLONE_NEWNET) != 0) {
      fprintf(stderr, "NetnsGuard: cannot return to the original namespace: %s\n", strerror(errno));
      abort();  // the rest of the test would run in the wrong namespace
    }
    close(original_fd_);
  }
}

absl::StatusOr<std::unique_ptr<NetnsPair>> NetnsPair::Create(const NetnsPairOptions& options) {
  static std::atomic<int> counter{0};
  const int n = counter++;
  const int pid = getpid();
  std::unique_ptr<NetnsPair> p(new NetnsPair());
  p->ns_a_ = absl::StrFormat("%s%d-%da", kNsPrefix, pid, n);
  p->ns_b_ = absl::StrFormat("%s%d-%db", kNsPrefix, pid, n);
  p->if_a_ = absl::StrFormat("%s%d-%d", kIfPrefixA, pid, n);
  p->if_b_ = absl::StrFormat("%s%d-%d", kIfPrefixB, pid, n);
  p->mac_a_ = {0x02, 0x1a, 0x00, static_cast<uint8_t>(n), 0x00, 0x0a};
  p->mac_b_ = {0x02, 0x1a, 0x00, static_cast<uint8_t>(n), 0x00, 0x0b};
  // Pre-clean this exact pair in case a previous run with a recycled pid left it behind.
  p->created_a_ = p->created_b_ = true;
  p->Destroy();

  const uint32_t q = options.num_queues == 0 ? 1 : options.num_queues;
  absl::Status st = RunCommand("ip netns add " + p->ns_a_);
  if (!st.ok()) return st;
  p->created_a_ = true;
  st = RunCommand("ip netns add " + p->ns_b_);
  if (!st.ok()) return st;
  p->created_b_ = true;
  std::string cmds[] = {
      absl::StrFormat("ip link add %s numtxqueues %u numrxqueues %u type veth peer name %s "
                      "numtxqueues %u numrxqueues %u",
                      p->if_a_, q, q, p->if_b_, q, q),
      absl::StrFormat("ip link set %s netns %s", p->if_a_, p->ns_a_),
      absl::StrFormat("ip link set %s netns %s", p->if_b_, p->ns_b_),
      absl::StrFormat("ip -n %s link set %s address %s", p->ns_a_, p->if_a_, MacString(p->mac_a_)),
      absl::StrFormat("ip -n %s link set %s address %s", p->ns_b_, p->if_b_, MacString(p->mac_b_)),
  };
  for (const std::string& c : cmds) {
    st = RunCommand(c);
    if (!st.ok()) {
      RunCommand("ip link del " + p->if_a_).IgnoreError();
      return st;
    }
  }
  if (options.disable_ipv6) {
    for (const std::string& ns : {p->ns_a_, p->ns_b_}) {
      // Best effort: a kernel without IPv6 has nothing to disable.
      RunCommand(absl::StrFormat("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                                 "net.ipv6.conf.default.disable_ipv6=1",
                                 ns))
          .IgnoreError();
    }
  }
  for (const auto& [ns, ifname] : {std::pair{p->ns_a_, p->if_a_}, std::pair{p->ns_b_, p->if_b_}}) {
    for (const std::string& c : {absl::StrFormat("ip -n %s link set lo up", ns),
                                 absl::StrFormat("ip -n %s link set %s up", ns, ifname)}) {
      st = RunCommand(c);
      if (!st.ok()) return st;
    }
  }
  return p;
}

void NetnsPair::Destroy() {
  if (created_a_) RunCommand("ip netns del " + ns_a_ + " 2>/dev/null").IgnoreError();
  if (created_b_) RunCommand("ip netns del " + ns_b_ + " 2>/dev/null").IgnoreError();
  created_a_ = created_b_ = false;
}

NetnsPair::~NetnsPair() { Destroy(); }

void CleanStaleNetns() {
  if (DIR* d = opendir("/var/run/netns")) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      const long pid = PidOf(name, kNsPrefix);
      if (pid > 0 && !PidAlive(pid)) {
        fprintf(stderr, "removing stale test namespace %s\n", name.c_str());
        RunCommand("ip netns del " + name).IgnoreError();
      }
    }
    closedir(d);
  }
  // A veth that never made it into its namespace stays in the root namespace.
  if (DIR* d = opendir("/sys/class/net")) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      long pid = PidOf(name, kIfPrefixA);
      if (pid < 0) pid = PidOf(name, kIfPrefixB);
      if (pid > 0 && !PidAlive(pid)) {
        fprintf(stderr, "removing stale test interface %s\n", name.c_str());
        RunCommand("ip link del " + name).IgnoreError();
      }
    }
    closedir(d);
  }
}

std::string NetnsTestBlocker() {
  if (geteuid() != 0) return "needs root (network namespaces, XDP programs)";
  if (!RunCommand("ip -V").ok()) return "needs iproute2 (`ip`)";
  const int fd = socket(AF_XDP, SOCK_RAW, 0);
  if (fd < 0) return absl::StrFormat("AF_XDP sockets unavailable: %s", strerror(errno));
  close(fd);
  return "";
}

}  // namespace ix::nic::testing

// Test fixture for the dataplane integration tests: two network namespaces joined by a veth pair
// (names unique to the pid), ix-echo serving on side A over AF_XDP, Linux programs on side B.
//
//   auto env = EchoNetns::Create({.mode = "echo", .port = 7});
//   CommandResult r = (*env)->RunInB("ping -c 5 " + (*env)->ip_a(), /*timeout_s=*/20);
//   absl::StatusOr<EchoCounters> c = (*env)->Counters();   // SIGUSR1 to ix-echo, parsed
//   (*env)->StopEcho();                                     // SIGTERM, exit status checked
//
// Side B gets ip_b()/24 on its veth with transmit checksum offload turned off: over veth, Linux
// leaves TCP/UDP checksums of locally sent packets to the (virtual) hardware, and an AF_XDP
// receiver sees them unfinished. Side A's veth has no IP address: the ix stack owns ip_a().
// Everything the fixture starts is stopped by PID and the namespaces are deleted in the destructor.
#ifndef IX_TESTS_DATAPLANE_ECHO_NETNS_H_
#define IX_TESTS_DATAPLANE_ECHO_NETNS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/nic/testing/netns.h"

namespace ix::testing {

struct EchoNetnsOptions {
  std::string mode = "echo";
  int port = 7;
  std::vector<std::string> extra_flags;  // passed to ix-echo as is
};

struct CommandResult {
  int exit_code = -1;  // the shell's exit status; 124 when the time limit hit
  std::string output;  // stdout and stderr
  double seconds = 0;
};

// The counters ix-echo prints (only the non-zero ones appear; missing ones read as 0).
struct EchoCounters {
  std::map<std::string, uint64_t> values;
  uint64_t Get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? 0 : it->second;
  }
  std::string text;
};

class EchoNetns {
 public:
  static absl::StatusOr<std::unique_ptr<EchoNetns>> Create(const EchoNetnsOptions& options);
  ~EchoNetns();

  // Runs `script` with /bin/sh in namespace B, killed after timeout_s.
  CommandResult RunInB(const std::string& script, int timeout_s);
  // Asks ix-echo for its counters (SIGUSR1) and waits up to 5 s for them.
  absl::StatusOr<EchoCounters> Counters();
  // SIGTERM, then waits up to 10 s; returns the exit status (-1: had to SIGKILL) and the final
  // counters.
  int StopEcho(EchoCounters* final_counters = nullptr);

  pid_t echo_pid() const { return echo_pid_; }
  const std::string& ip_a() const { return ip_a_; }
  const std::string& ip_b() const { return ip_b_; }
  const std::string& if_b() const { return pair_->if_b(); }
  const std::string& ns_b() const { return pair_->ns_b(); }
  // A path under /tmp unique to this process for scratch files: "<prefix><suffix>".
  std::string TempPath(const std::string& suffix) const { return tmp_prefix_ + suffix; }

 private:
  EchoNetns() = default;
  absl::Status StartEcho(const EchoNetnsOptions& options);
  std::string ReadStderr() const;

  std::unique_ptr<nic::testing::NetnsPair> pair_;
  std::string ip_a_, ip_b_;
  std::string tmp_prefix_;
  std::string stderr_path_;
  pid_t echo_pid_ = -1;
  int script_counter_ = 0;
};

// Directory of the helper scripts (the source dir of this test), from IX_TEST_SCRIPTS.
std::string ScriptDir();

// Why the tests cannot run here ("" if they can): root, AF_XDP, ix-echo, the tools.
std::string Blocker(const std::vector<std::string>& tools);

}  // namespace ix::testing

#endif  // IX_TESTS_DATAPLANE_ECHO_NETNS_H_

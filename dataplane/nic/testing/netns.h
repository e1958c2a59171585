// Test helper: two network namespaces joined by a veth pair, named after the test process's pid,
// always removed (destructor), with stale leftovers of dead test processes removed first.
//
//   ix::nic::testing::CleanStaleNetns();
//   auto pair = ix::nic::testing::NetnsPair::Create({.num_queues = 1});
//   {
//     auto in_a = pair->EnterA();          // this thread now lives in namespace A
//     ... open an AF_XDP queue on pair->if_a() ...
//   }                                      // back in the original namespace
//
// Needs root and iproute2 (`ip`). Names: namespaces "ixnic-<pid>-<n>a" / "ixnic-<pid>-<n>b",
// interfaces "nxa<pid>-<n>" / "nxb<pid>-<n>" (n counts pairs made by this process).
#ifndef IX_DATAPLANE_NIC_TESTING_NETNS_H_
#define IX_DATAPLANE_NIC_TESTING_NETNS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ix::nic::testing {

using Mac = std::array<uint8_t, 6>;

struct NetnsPairOptions {
  uint32_t num_queues = 1;   // RX and TX queues on each veth end
  bool disable_ipv6 = true;  // keeps router solicitations and MLD off the link
};

// Moves the calling thread into a network namespace; moves it back when destroyed.
class NetnsGuard {
 public:
  static absl::StatusOr<std::unique_ptr<NetnsGuard>> Enter(const std::string& netns_name);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  NetnsGuard() = default;
  int original_fd_ = -1;
};

class NetnsPair {
 public:
  static absl::StatusOr<std::unique_ptr<NetnsPair>> Create(const NetnsPairOptions& options);
  ~NetnsPair();  // deletes both namespaces, which deletes the veth pair
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  absl::StatusOr<std::unique_ptr<NetnsGuard>> EnterA() const { return NetnsGuard::Enter(ns_a_); }
  absl::StatusOr<std::unique_ptr<NetnsGuard>> EnterB() const { return NetnsGuard::Enter(ns_b_); }

  const std::string& ns_a() const { return ns_a_; }
  const std::string& ns_b() const { return ns_b_; }
  const std::string& if_a() const { return if_a_; }
  const std::string& if_b() const { return if_b_; }
  const Mac& mac_a() const { return mac_a_; }
  const Mac& mac_b() const { return mac_b_; }

 private:
  NetnsPair() = default;
  void Destroy();

  std::string ns_a_, ns_b_, if_a_, if_b_;
  Mac mac_a_{}, mac_b_{};
  bool created_a_ = false, created_b_ = false;
};

// Runs a shell command; the error carries its exit status and output.
absl::Status RunCommand(const std::string& command);

// Removes namespaces and root-namespace veths left by earlier test processes that are gone.
void CleanStaleNetns();

// Whether process `pid` exists and is not a zombie.
bool PidAlive(long pid);

// Why this process cannot run namespace tests, or "" if it can (root, `ip`, AF_XDP sockets).
std::string NetnsTestBlocker();

}  // namespace ix::nic::testing

#endif  // IX_DATAPLANE_NIC_TESTING_NETNS_H_

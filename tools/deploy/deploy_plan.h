// deploy_plan: what `ix-deploy up` will make, decided from the options alone (pure, unit-tested),
// and the state file through which `down`, `status` and `logs` find exactly what `up` made.
//
//   ix::deploy::UpOptions o;  o.app = "ix-kv";  o.count = 2;
//   absl::StatusOr<ix::deploy::Plan> plan = ix::deploy::PlanUp(o, paths);
//   // plan->domains[i].name == "ix-kv-<i>", host_port == port_base + i, guest_port == 11211
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ix::deploy {

// Where the build tree keeps the known applications (set at build time by meson).
struct BuildPaths {
  std::string ix_kv;
  std::string ix_echo_app;
};

struct UpOptions {
  std::string app;                    // "ix-kv", "ix-echo-app" or a program's path
  std::vector<std::string> app_args;  // extra arguments (after --)
  int count = 1;
  std::string name;                   // deployment name; default: the app's short name
  int port_base = 22000;              // host ports: port_base + i on host_address
  int guest_port = 0;                 // 0: the app's own (11211 for ix-kv, 7 for ix-echo-app)
  std::string virt_type = "auto";     // auto, kvm or qemu
  int memory_mib = 512;
  int vcpus = 1;
};

struct PlannedDomain {
  std::string name;
  uint16_t host_port = 0;
  uint16_t guest_port = 0;
};

struct Plan {
  std::string deployment;             // names the state file and the domains' prefix
  std::string app_path;
  std::vector<std::string> app_args;  // everything the guest passes to the app
  std::vector<PlannedDomain> domains;
};

// Checks the options and names everything `up` makes. Errors are InvalidArgument, saying which
// option is wrong.
absl::StatusOr<Plan> PlanUp(const UpOptions& o, const BuildPaths& paths);

// The deployment name for an app: "ix-kv" -> "kv", "/usr/bin/my_server" -> "my_server"
// (letters, digits, '-' and '_' kept, anything else becomes '-').
std::string DeploymentName(const std::string& app);

// "ix-<deployment>-<i>".
std::string DomainName(const std::string& deployment, int index);

// auto -> kvm if the host has hardware virtualization (has_hw_virt) and libvirt offers kvm,
// else qemu (TCG). kvm and qemu are checked against what libvirt offers.
absl::StatusOr<std::string> ChooseVirtType(const std::string& wanted, bool libvirt_has_kvm,
                                           bool has_hw_virt);

// The state of one deployment, saved by `up` before it creates anything and updated as it goes.
struct DeployedDomain {
  std::string name;
  uint16_t host_port = 0;
  uint16_t guest_port = 0;
  std::string console_log;
};

struct DeployState {
  std::string deployment;
  std::string uri;
  std::string app;
  std::string virt_type;
  std::string dir;  // the deployment's directory (image, console logs): down removes it
  std::vector<DeployedDomain> domains;
};

std::string StateToJson(const DeployState& s);
absl::StatusOr<DeployState> StateFromJson(const std::string& text);

}  // namespace ix::deploy

// deploy_plan: option checks, naming and the state file of ix-deploy.
#include "tools/deploy/deploy_plan.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace ix::deploy {

std::string DeploymentName(const std::string& app) {
  std::string base = app.substr(app.find_last_of('/') == std::string::npos ? 0 : app.find_last_of('/') + 1);
  if (absl::StartsWith(base, "ix-")) base = base.substr(3);
  for (char& c : base) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) c = '-';
  }
  return base;
}

std::string DomainName(const std::string& deployment, int index) {
  return absl::StrCat("ix-", deployment, "-", index);
}

absl::StatusOr<Plan> PlanUp(const UpOptions& o, const BuildPaths& paths) {
  if (o.app.empty()) return absl::InvalidArgumentError("--app is required (ix-kv, ix-echo-app or a path)");
  if (o.count < 1 || o.count > 64) {
    return absl::InvalidArgumentError(absl::StrFormat("--count=%d: must be 1..64", o.count));
  }
  if (o.memory_mib < 128) return absl::InvalidArgumentError("--memory_mib: at least 128");
  if (o.vcpus < 1 || o.vcpus > 64) return absl::InvalidArgumentError("--vcpus: 1..64");
  if (o.virt_type != "auto" && o.virt_type != "kvm" && o.virt_type != "qemu") {
    return absl::InvalidArgumentError(
        absl::StrFormat("--virt_type=%s: must be auto, kvm or qemu", o.virt_type));
  }
  Plan p;
  int guest_port = o.guest_port;
  if (o.app == "ix-kv" || o.app == "ix-echo-app") {
    p.app_path = o.app == "ix-kv" ? paths.ix_kv : paths.ix_echo_app;
    const int own_port = o.app == "ix-kv" ? 11211 : 7;
    if (guest_port == 0) guest_port = own_port;
    p.app_args = {"--mode=ixd", "--socket=/run/ix/ixd.sock", absl::StrCat("--port=", guest_port)};
  } else {
    if (o.app.find('/') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--app=%s: not ix-kv or ix-echo-app; give a program's path (with a '/')", o.app));
    }
    if (guest_port == 0) {
      return absl::InvalidArgumentError("--guest_port is required with a program of your own");
    }
    p.app_path = o.app;
  }
  if (guest_port < 1 || guest_port > 65535) {
    return absl::InvalidArgumentError(absl::StrFormat("--guest_port=%d: must be 1..65535", guest_port));
  }
  if (o.port_base < 1024 || o.port_base + o.count - 1 > 65535) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--port_base=%d: ports %d..%d must lie in 1024..65535", o.port_base, o.port_base,
        o.port_base + o.count - 1));
  }
  p.app_args.insert(p.app_args.end(), o.app_args.begin(), o.app_args.end());
  p.deployment = o.name.empty() ? DeploymentName(o.app) : o.name;
  if (p.deployment.empty() || p.deployment != DeploymentName(p.deployment) ||
      p.deployment.size() > 40) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--name=%s: use 1..40 letters, digits, '-' or '_'", p.deployment));
  }
  for (int i = 0; i < o.count; ++i) {
    p.domains.push_back({DomainName(p.deployment, i), static_cast<uint16_t>(o.port_base + i),
                         static_cast<uint16_t>(guest_port)});
  }
  return p;
}

absl::StatusOr<std::string> ChooseVirtType(const std::string& wanted, bool libvirt_has_kvm,
                                           bool has_hw_virt) {
  if (wanted == "qemu") return std::string("qemu");
  if (wanted == "kvm") {
    if (!libvirt_has_kvm) {
      return absl::FailedPreconditionError(
          "--virt_type=kvm: libvirt offers no kvm domains on this host (use qemu or auto)");
    }
    return std::string("kvm");
  }
  if (wanted != "auto") return absl::InvalidArgumentError("--virt_type: auto, kvm or qemu");
  // Without VT-x/SVM (e.g. kvm_pvm, where guest ring 0 is emulated) a kvm guest crawls or
  // pauses on an emulation failure: TCG is faster and works.
  return std::string(libvirt_has_kvm && has_hw_virt ? "kvm" : "qemu");
}

std::string StateToJson(const DeployState& s) {
  nlohmann::json j = {{"deployment", s.deployment}, {"uri", s.uri}, {"app", s.app},
                      {"virt_type", s.virt_type}, {"dir", s.dir}};
  j["domains"] = nlohmann::json::array();
  for (const DeployedDomain& d : s.domains) {
    j["domains"].push_back({{"name", d.name}, {"host_port", d.host_port},
                            {"guest_port", d.guest_port}, {"console_log", d.console_log}});
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

absl::StatusOr<DeployState> StateFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("state file is not JSON");
  auto str = [&j](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  DeployState s;
  s.deployment = str("deployment");
  s.uri = str("uri");
  s.app = str("app");
  s.virt_type = str("virt_type");
  s.dir = str("dir");
  if (s.deployment.empty()) return absl::DataLossError("state file has no deployment");
  if (j.contains("domains") && j["domains"].is_array()) {
    for (const nlohmann::json& d : j["domains"]) {
      if (!d.is_object() || !d.contains("name") || !d["name"].is_string()) {
        return absl::DataLossError("state file: a domain without a name");
      }
      DeployedDomain dd;
      dd.name = d["name"].get<std::string>();
      if (d.contains("host_port") && d["host_port"].is_number_unsigned()) dd.host_port = d["host_port"].get<uint16_t>();
      if (d.contains("guest_port") && d["guest_port"].is_number_unsigned()) dd.guest_port = d["guest_port"].get<uint16_t>();
      if (d.contains("console_log") && d["console_log"].is_string()) dd.console_log = d["console_log"].get<std::string>();
      s.domains.push_back(dd);
    }
  }
  return s;
}

}  // namespace ix::deploy

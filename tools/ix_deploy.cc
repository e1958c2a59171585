// ix-deploy: runs ix applications (ixd + an app attached to it) as KVM/QEMU guests through libvirt.
//
//   ix-deploy up --app=ix-kv --count=2        # guests ix-kv-0, ix-kv-1 on 127.0.0.1:22000, 22001
//   ix-deploy status                          # JSON: domain state, the guests' ixd live stats
//   ix-deploy logs [--domain=ix-kv-0]         # ixd, app and agent logs from inside the guests
//   ix-deploy down                            # no domain, image or log file left behind
//
// Exit status: 0 done, 1 a libvirt, image or guest failure, 2 bad options.
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <spawn.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/strict_flags.h"
#include "nlohmann/json.hpp"
#include "tools/deploy/deploy_plan.h"
#include "tools/deploy/domain_xml.h"
#include "tools/deploy/libvirt_client.h"

ABSL_FLAG(std::string, connect, "qemu:///system",
          "libvirt URI, passed to virConnectOpen (e.g. qemu+ssh://root@host/system)");
ABSL_FLAG(std::string, app, "", "up: ix-kv, ix-echo-app or the path of a program that attaches to ixd");
ABSL_FLAG(int, count, 1, "up: number of guests");
ABSL_FLAG(std::string, name, "", "deployment name (default: the app's short name, e.g. kv)");
ABSL_FLAG(int, port_base, 22000, "up: guest i is reachable on 127.0.0.1:(port_base + i)");
ABSL_FLAG(int, guest_port, 0, "up: the app's TCP port in the guest (default: 11211 ix-kv, 7 ix-echo-app)");
ABSL_FLAG(std::string, virt_type, "auto",
          "up: kvm, qemu (TCG) or auto (kvm with VT-x/SVM and libvirt kvm support, else qemu)");
ABSL_FLAG(int, memory_mib, 512, "up: guest memory");
ABSL_FLAG(int, vcpus, 1, "up: guest CPUs");
ABSL_FLAG(int, boot_timeout_s, 180, "up: seconds to wait for every guest to serve");
ABSL_FLAG(int, request_timeout_s, 15, "status, logs: seconds to wait for a guest's agent");
ABSL_FLAG(std::string, domain, "", "logs: only this domain");
ABSL_FLAG(std::string, state_dir, "/var/lib/ix-deploy",
          "where deployments keep their state file, image and console logs");
ABSL_FLAG(std::string, kernel_cache, IX_DEPLOY_KERNEL_CACHE,
          "directory with (or to receive) the Debian kernel .deb (shared with tests/vm/ixvm)");
ABSL_FLAG(std::string, image_tool, IX_DEPLOY_IMAGE_TOOL, "the image builder (ix-deploy-image)");
ABSL_FLAG(std::string, ixd, IX_DEPLOY_IXD, "the ixd binary put in the image");
ABSL_FLAG(std::string, agent, IX_DEPLOY_AGENT, "the ix-deploy-agent binary put in the image");

namespace {

using ix::deploy::DeployState;
using ix::deploy::LibvirtClient;

int Fail(const absl::Status& s) {
  fprintf(stderr, "ix-deploy: %s\n", std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string StatePath(const std::string& deployment) {
  return absl::GetFlag(FLAGS_state_dir) + "/" + deployment + ".json";
}

absl::Status SaveState(const DeployState& s) {
  const std::string path = StatePath(s.deployment);
  const std::string tmp = path + ".tmp";
  std::ofstream f(tmp, std::ios::trunc);
  f << ix::deploy::StateToJson(s);
  f.close();
  if (!f || rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrFormat("cannot write %s: %s", path, strerror(errno)));
  }
  return absl::OkStatus();
}

// The deployment named by --name, or the only one in --state_dir.
absl::StatusOr<DeployState> LoadState() {
  std::string name = absl::GetFlag(FLAGS_name);
  const std::string dir = absl::GetFlag(FLAGS_state_dir);
  if (name.empty()) {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".json") found.push_back(e.path().stem().string());
    }
    if (found.empty()) return absl::NotFoundError(absl::StrCat("no deployment in ", dir, " (run up first)"));
    if (found.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("several deployments in ", dir, ": pick one with --name"));
    }
    name = found[0];
  }
  std::ifstream f(StatePath(name));
  if (!f) return absl::NotFoundError(absl::StrCat("no deployment '", name, "' in ", dir));
  std::stringstream ss;
  ss << f.rdbuf();
  return ix::deploy::StateFromJson(ss.str());
}

bool HostHasHardwareVirt() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (absl::StartsWith(line, "flags") &&
        (absl::StrContains(line, " vmx") || absl::StrContains(line, " svm"))) {
      return true;
    }
  }
  return false;
}

bool LocalPortFree(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// Runs argv, its output going to our stderr; kills it after timeout.
absl::Status RunTool(const std::vector<std::string>& argv, absl::Duration timeout) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid;
  const int err = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return absl::InternalError(absl::StrFormat("cannot run %s: %s", argv[0], strerror(err)));
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not finish in time"));
    }
    usleep(50 * 1000);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (status ", status, ")"));
  }
  return absl::OkStatus();
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  return s.size() <= bytes ? s : s.substr(s.size() - bytes);
}

// A guest is ready when its agent answers and says ixd serves and the app runs.
bool GuestReady(LibvirtClient& lv, const std::string& name, std::string* last) {
  absl::StatusOr<std::string> a = lv.Request(name, "stats", absl::Seconds(5));
  if (!a.ok()) {
    *last = std::string(a.status().message());
    return false;
  }
  *last = *a;
  nlohmann::json j = nlohmann::json::parse(*a, nullptr, false);
  return !j.is_discarded() && j.value("/ixd/serving"_json_pointer, false) &&
         j.value("/app/running"_json_pointer, false) && j.value("/ixd/running"_json_pointer, false);
}

int Up(const std::vector<std::string>& app_args) {
  ix::deploy::UpOptions o;
  o.app = absl::GetFlag(FLAGS_app);
  o.app_args = app_args;
  o.count = absl::GetFlag(FLAGS_count);
  o.name = absl::GetFlag(FLAGS_name);
  o.port_base = absl::GetFlag(FLAGS_port_base);
  o.guest_port = absl::GetFlag(FLAGS_guest_port);
  o.virt_type = absl::GetFlag(FLAGS_virt_type);
  o.memory_mib = absl::GetFlag(FLAGS_memory_mib);
  o.vcpus = absl::GetFlag(FLAGS_vcpus);
  absl::StatusOr<ix::deploy::Plan> plan =
      ix::deploy::PlanUp(o, {IX_DEPLOY_IX_KV, IX_DEPLOY_IX_ECHO_APP});
  if (!plan.ok()) return Fail(plan.status());
  if (std::filesystem::exists(StatePath(plan->deployment))) {
    return Fail(absl::AlreadyExistsError(absl::StrFormat(
        "deployment '%s' is already up (%s): run down first", plan->deployment, StatePath(plan->deployment))));
  }
  absl::StatusOr<std::unique_ptr<LibvirtClient>> lv = LibvirtClient::Connect(absl::GetFlag(FLAGS_connect));
  if (!lv.ok()) return Fail(lv.status());
  const bool local = (*lv)->IsLocal();
  absl::StatusOr<std::string> virt = ix::deploy::ChooseVirtType(
      o.virt_type, (*lv)->OffersKvm(), local ? HostHasHardwareVirt() : true);
  if (!virt.ok()) return Fail(virt.status());
  for (const auto& d : plan->domains) {
    if (local && !LocalPortFree(d.host_port)) {
      return Fail(absl::UnavailableError(absl::StrFormat(
          "127.0.0.1:%u is in use (pick other ports with --port_base)", d.host_port)));
    }
  }
  DeployState st;
  st.deployment = plan->deployment;
  st.uri = (*lv)->uri();
  st.app = o.app;
  st.virt_type = *virt;
  st.dir = absl::GetFlag(FLAGS_state_dir) + "/" + plan->deployment;
  std::error_code ec;
  std::filesystem::create_directories(st.dir + "/image", ec);
  if (ec) return Fail(absl::InternalError(absl::StrCat("cannot create ", st.dir, ": ", ec.message())));
  chmod(absl::GetFlag(FLAGS_state_dir).c_str(), 0755);
  chmod(st.dir.c_str(), 0755);
  if (absl::Status s = SaveState(st); !s.ok()) return Fail(s);  // from here on, down cleans up

  std::vector<std::string> tool = {absl::GetFlag(FLAGS_image_tool), "--out", st.dir + "/image",
                                   "--ixd", absl::GetFlag(FLAGS_ixd), "--agent", absl::GetFlag(FLAGS_agent),
                                   "--app", plan->app_path, "--kernel-cache", absl::GetFlag(FLAGS_kernel_cache), "--"};
  tool.insert(tool.end(), plan->app_args.begin(), plan->app_args.end());
  fprintf(stderr, "ix-deploy: building the image in %s/image\n", st.dir.c_str());
  if (absl::Status s = RunTool(tool, absl::Minutes(10)); !s.ok()) {
    return Fail(absl::Status(s.code(), absl::StrCat(s.message(), "; run down to clean up")));
  }
  for (size_t i = 0; i < plan->domains.size(); ++i) {
    const auto& pd = plan->domains[i];
    ix::deploy::DomainSpec spec;
    spec.name = pd.name;
    spec.virt_type = *virt;
    spec.memory_mib = static_cast<uint32_t>(o.memory_mib);
    spec.vcpus = static_cast<uint32_t>(o.vcpus);
    spec.kernel = st.dir + "/image/vmlinuz";
    spec.initrd = st.dir + "/image/initrd.img";
    spec.cmdline = absl::StrFormat("quiet ix.iface=eth0 ix.ip=%s/24 ix.gw=10.0.2.2", spec.guest_ip);
    spec.console_log = st.dir + "/" + pd.name + ".console.log";
    spec.forwards = {{pd.host_port, pd.guest_port}};
    spec.mac = absl::StrFormat("52:54:00:1c:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
    st.domains.push_back({pd.name, pd.host_port, pd.guest_port, spec.console_log});
    if (absl::Status s = SaveState(st); !s.ok()) return Fail(s);
    if (absl::Status s = (*lv)->DefineAndStart(ix::deploy::BuildDomainXml(spec)); !s.ok()) {
      return Fail(absl::Status(s.code(), absl::StrCat(s.message(), "; run down to clean up")));
    }
    fprintf(stderr, "ix-deploy: started %s (%s), 127.0.0.1:%u -> guest port %u\n", pd.name.c_str(),
            virt->c_str(), pd.host_port, pd.guest_port);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_boot_timeout_s));
  for (const auto& d : st.domains) {
    std::string last;
    while (!GuestReady(**lv, d.name, &last)) {
      if (absl::Now() > deadline) {
        fprintf(stderr, "ix-deploy: console of %s:\n%s\n", d.name.c_str(), Tail(d.console_log, 3000).c_str());
        return Fail(absl::DeadlineExceededError(absl::StrFormat(
            "%s did not serve within --boot_timeout_s=%d (last: %s); run down to clean up", d.name,
            absl::GetFlag(FLAGS_boot_timeout_s), last)));
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
  }
  nlohmann::json out = {{"deployment", st.deployment}, {"virt_type", st.virt_type}};
  for (const auto& d : st.domains) {
    out["domains"].push_back({{"name", d.name}, {"address", absl::StrCat("127.0.0.1:", d.host_port)}});
  }
  printf("%s\n", out.dump(2).c_str());
  return 0;
}

// libvirt's own record of the QEMU process of a running domain on this machine.
int64_t QemuPid(const std::string& name) {
  std::ifstream f("/run/libvirt/qemu/" + name + ".pid");
  int64_t pid = -1;
  f >> pid;
  return f ? pid : -1;
}

int Status() {
  absl::StatusOr<DeployState> st = LoadState();
  if (!st.ok()) return Fail(st.status());
  absl::StatusOr<std::unique_ptr<LibvirtClient>> lv = LibvirtClient::Connect(st->uri);
  if (!lv.ok()) return Fail(lv.status());
  nlohmann::json out = {{"deployment", st->deployment}, {"uri", st->uri}, {"app", st->app},
                        {"virt_type", st->virt_type}, {"domains", nlohmann::json::array()}};
  for (const auto& d : st->domains) {
    nlohmann::json j = {{"name", d.name}, {"address", absl::StrCat("127.0.0.1:", d.host_port)},
                        {"guest_port", d.guest_port}};
    absl::StatusOr<ix::deploy::DomainStatus> s = (*lv)->Status(d.name);
    if (!s.ok()) {
      j["error"] = std::string(s.status().message());
    } else {
      j["state"] = s->state;
      j["running"] = s->running;
      if (!s->reason.empty()) j["reason"] = s->reason;
      if (s->running && (*lv)->IsLocal()) j["qemu_pid"] = QemuPid(d.name);
      if (s->running) {
        absl::StatusOr<std::string> a =
            (*lv)->Request(d.name, "stats", absl::Seconds(absl::GetFlag(FLAGS_request_timeout_s)));
        nlohmann::json stats = a.ok() ? nlohmann::json::parse(*a, nullptr, false) : nlohmann::json();
        if (!a.ok()) {
          j["stats_error"] = std::string(a.status().message());
        } else if (stats.is_discarded()) {
          j["stats_error"] = "the agent's answer is not JSON";
        } else {
          j["guest"] = stats;
        }
      }
    }
    out["domains"].push_back(j);
  }
  printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

int Logs() {
  absl::StatusOr<DeployState> st = LoadState();
  if (!st.ok()) return Fail(st.status());
  absl::StatusOr<std::unique_ptr<LibvirtClient>> lv = LibvirtClient::Connect(st->uri);
  if (!lv.ok()) return Fail(lv.status());
  const std::string only = absl::GetFlag(FLAGS_domain);
  bool any = false;
  for (const auto& d : st->domains) {
    if (!only.empty() && d.name != only) continue;
    any = true;
    absl::StatusOr<std::string> a =
        (*lv)->Request(d.name, "logs", absl::Seconds(absl::GetFlag(FLAGS_request_timeout_s)));
    nlohmann::json j = a.ok() ? nlohmann::json::parse(*a, nullptr, false) : nlohmann::json();
    if (a.ok() && j.is_object()) {
      for (const char* part : {"ixd", "app", "agent"}) {
        printf("==> %s: %s <==\n%s\n", d.name.c_str(), part, j.value(part, "").c_str());
      }
    } else {
      printf("==> %s: no answer from the guest (%s) <==\n", d.name.c_str(),
             a.ok() ? "not JSON" : std::string(a.status().message()).c_str());
    }
    if ((*lv)->IsLocal()) {
      printf("==> %s: console (%s) <==\n%s\n", d.name.c_str(), d.console_log.c_str(),
             Tail(d.console_log, 8192).c_str());
    }
  }
  if (!any) return Fail(absl::InvalidArgumentError(absl::StrCat("--domain=", only, ": not in this deployment")));
  return 0;
}

int Down() {
  absl::StatusOr<DeployState> st = LoadState();
  if (!st.ok()) return Fail(st.status());
  absl::StatusOr<std::unique_ptr<LibvirtClient>> lv = LibvirtClient::Connect(st->uri);
  if (!lv.ok()) return Fail(lv.status());
  int failed = 0;
  std::error_code ec;
  for (const auto& d : st->domains) {
    if (absl::Status s = (*lv)->Remove(d.name); !s.ok()) {
      fprintf(stderr, "ix-deploy: %s\n", std::string(s.message()).c_str());
      ++failed;
    } else {
      fprintf(stderr, "ix-deploy: removed %s\n", d.name.c_str());
      // libvirt's own per-domain QEMU log on this machine: nothing of the domain stays.
      if ((*lv)->IsLocal()) std::filesystem::remove("/var/log/libvirt/qemu/" + d.name + ".log", ec);
    }
  }
  if (failed > 0) return Fail(absl::InternalError("some domains remain: state kept; run down again"));
  if (!st->dir.empty()) std::filesystem::remove_all(st->dir, ec);
  if (ec) return Fail(absl::InternalError(absl::StrCat("cannot remove ", st->dir, ": ", ec.message())));
  std::filesystem::remove(StatePath(st->deployment), ec);
  if (ec) return Fail(absl::InternalError(absl::StrCat("cannot remove the state file: ", ec.message())));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runs ix applications as KVM/QEMU guests through libvirt.\n"
      "  ix-deploy up --app=ix-kv|ix-echo-app|PATH [--count=N] [--port_base=22000] [-- APP-ARGS]\n"
      "  ix-deploy status      JSON: each domain's state; its guest's ixd live stats (ixd_live),\n"
      "                        app and NIC\n"
      "  ix-deploy logs [--domain=NAME]\n"
      "  ix-deploy down        removes the domains, the image and the console logs\n"
      "Guest i of a deployment is reachable only on 127.0.0.1:(port_base + i) of the libvirt host\n"
      "(QEMU user-mode networking; no libvirt network). --connect=URI works with any libvirt URI;\n"
      "for a remote host, --state_dir must be a path that host sees too (shared storage).\n"
      "libvirtd must be running: sudo scripts/libvirtd.sh start (where systemd does not start it).");
  absl::FlagsUsageConfig usage;
  // --help lists this tool's flags (absl matches on the binary's name by default: no match).
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "ix_deploy"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  // The command comes first: ix-deploy COMMAND [--flags] [-- APP-ARGS].
  std::string verb;
  std::vector<char*> args(argv, argv + argc);
  if (argc >= 2 && argv[1][0] != '-') {
    verb = argv[1];
    args.erase(args.begin() + 1);
  }
  ix::CheckFlagsOrExit("ix-deploy", static_cast<int>(args.size()), args.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (verb.empty()) {
    fprintf(stderr, "ix-deploy: give a command first: up, status, logs or down (see --help)\n");
    return 2;
  }
  std::vector<std::string> extra(rest.begin() + 1, rest.end());
  if (verb != "up" && !extra.empty()) {
    fprintf(stderr, "ix-deploy: %s takes no arguments (see --help)\n", verb.c_str());
    return 2;
  }
  if (verb == "up") return Up(extra);
  if (verb == "status") return Status();
  if (verb == "logs") return Logs();
  if (verb == "down") return Down();
  fprintf(stderr, "ix-deploy: unknown command '%s': up, status, logs or down\n", verb.c_str());
  return 2;
}

// Shared startup of the libix example applications: flags, ix_options, signals.
#include "examples/kv/ix_app.h"

#include <errno.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strict_flags.h"

ABSL_FLAG(std::string, mode, "library",
          "where the ix stack runs: 'library' (in this process, over AF_XDP on --iface) or "
          "'ixd' (the ixd daemon, attached through --socket)");
ABSL_FLAG(std::string, iface, "", "library mode: the network interface to own (else $IX_IFACE)");
ABSL_FLAG(std::string, ip, "", "library mode: our address A.B.C.D[/len] (else $IX_IP)");
ABSL_FLAG(std::string, socket, "",
          "ixd mode: ixd's Unix socket (else $IX_SOCKET or " IX_DEFAULT_SOCKET ")");

namespace ix::apps {
namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_dump = 0;

void OnSignal(int) { g_stop = 1; }
void OnDumpSignal(int) { g_dump = 1; }

bool EnvSet(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0';
}

}  // namespace

void ParseFlagsOrExit(const char* program, int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  // --help lists the flags defined in examples/ (absl matches the binary's name by default).
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "examples/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  ix::CheckFlagsOrExit(program, argc, argv);
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "library" && mode != "ixd") {
    ix::ExitBadFlag(program, "--mode must be 'library' or 'ixd', not '" + mode + "'");
  }
  if (mode == "library") {
    const bool iface = !absl::GetFlag(FLAGS_iface).empty() || EnvSet("IX_IFACE");
    const bool ip = !absl::GetFlag(FLAGS_ip).empty() || EnvSet("IX_IP");
    if (!iface || !ip) ix::ExitBadFlag(program, "library mode needs --iface and --ip");
  }
}

absl::StatusOr<IxApp> OpenIx(const char* name, uint64_t tx_bytes) {
  // The flag strings must outlive ix_init only; keep them in locals for the call.
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string iface = absl::GetFlag(FLAGS_iface);
  const std::string ip = absl::GetFlag(FLAGS_ip);
  const std::string socket = absl::GetFlag(FLAGS_socket);
  ix_options o;
  ix_options_init(&o);
  o.name = name;
  o.tx_bytes = tx_bytes;
  IxApp app;
  if (mode == "ixd") {
    o.mode = IX_MODE_IXD;
    if (!socket.empty()) o.socket_path = socket.c_str();
    app.where = "ixd";
  } else {
    o.mode = IX_MODE_LIBRARY;
    if (!iface.empty()) o.iface = iface.c_str();
    if (!ip.empty()) o.ip = ip.c_str();
    const char* ip_text = !ip.empty() ? ip.c_str() : getenv("IX_IP");
    app.where = std::string(ip_text != nullptr ? ip_text : "");
    app.where = app.where.substr(0, app.where.find('/'));
  }
  app.mode = o.mode;
  if (int e = ix_init(&o, &app.ix); e != 0) {
    // ix_init returns -errno, or ixd's -IX_E* refusal; ix_last_error says which in words.
    const char* why = *ix_last_error() != '\0' ? ix_last_error() : strerror(-e);
    return absl::UnavailableError(
        absl::StrCat("ix_init (", mode, " mode) failed: ", why, " (", e, ")"));
  }
  return app;
}

std::string IxErrorText(int64_t ret) {
  if (ret == -ECONNRESET) {
    return absl::StrCat("the dataplane went away: ", strerror(ECONNRESET), " (", ret, ")");
  }
  const int code = ret < 0 && ret > -IX_ERROR_COUNT ? static_cast<int>(-ret) : IX_ERROR_COUNT;
  return absl::StrCat(ix_strerror(code), " (", ret, ")");
}

void InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = OnDumpSignal;
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_stop != 0; }

bool DumpRequested() {
  if (g_dump == 0) return false;
  g_dump = 0;
  return true;
}

}  // namespace ix::apps

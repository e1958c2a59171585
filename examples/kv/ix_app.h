// Startup shared by the example applications on libix (ix-kv, ix-echo-app): the --mode, --iface,
// --ip and --socket flags, strict flag checking (exit status 2), the ix_options they select,
// and SIGINT/SIGTERM handling.
//
//   int main(int argc, char** argv) {
//     ix::apps::ParseFlagsOrExit("ix-kv", argc, argv, "usage text");   // exits 2 on a bad flag
//     ix::apps::InstallStopSignals();
//     absl::StatusOr<ix::apps::IxApp> app = ix::apps::OpenIx("ix-kv");
//     if (!app.ok()) { ...; return 1; }
//     while (!ix::apps::StopRequested()) ix_poll(app->ix, ...);
//     ix_destroy(app->ix);
//   }
//
// Threading: call everything from the main thread; StopRequested is signal-safe to read.
#ifndef IX_EXAMPLES_KV_IX_APP_H_
#define IX_EXAMPLES_KV_IX_APP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libix/ix.h"

namespace ix::apps {

// Checks every --flag of argv against the registered absl flags (unknown flag, bad value,
// missing value: message on stderr and exit(2)), then lets absl parse them (--help and friends
// print usage and exit as absl does). Also checks the shared flags: --mode must be library or
// ixd (exit 2 otherwise). `usage` is the first paragraph of --help.
void ParseFlagsOrExit(const char* program, int argc, char** argv, const char* usage);

// A queue pair opened from the shared flags.
struct IxApp {
  ix_t* ix = nullptr;
  int mode = IX_MODE_LIBRARY;
  // "A.B.C.D" in library mode (without the /len), "ixd" in ixd mode: for the ready line.
  std::string where;
};

// ix_init with the options the flags select (library: --iface/--ip, falling back to IX_IFACE /
// IX_IP; ixd: --socket, falling back to IX_SOCKET or IX_DEFAULT_SOCKET). `name` is what the
// dataplane logs. tx_bytes (0: default) sizes the TX area. The caller owns app->ix.
absl::StatusOr<IxApp> OpenIx(const char* name, uint64_t tx_bytes);

// A failed libix result in words, for messages: "<words> (<ret>)". ret is -IX_E* (a command's
// result, ix_strerror) or ix_poll's -ECONNRESET ("the dataplane went away: <strerror>").
std::string IxErrorText(int64_t ret);

// SIGINT and SIGTERM set a flag (StopRequested); SIGUSR1 sets another (DumpRequested: the app
// prints its state to stderr); SIGPIPE is ignored.
void InstallStopSignals();
bool StopRequested();
// True once per SIGUSR1.
bool DumpRequested();

}  // namespace ix::apps

#endif  // IX_EXAMPLES_KV_IX_APP_H_

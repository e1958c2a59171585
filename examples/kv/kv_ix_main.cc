// ix-kv: the ix key-value server (memcached text protocol, KvSession) on libix, in library mode
// (the stack in this process, over AF_XDP) or attached to ixd, chosen by --mode.
//
//   ix-kv --mode=library --iface=veth0 --ip=10.0.0.1/24 [--port=11211] [--memory_mb=64]
//   ix-kv --mode=ixd [--socket=/run/ix/ixd.sock] [--port=11211]
//
// Prints "ix-kv: ready <ip or ixd>:<port>" on stdout once it listens; exits 0 on SIGINT/SIGTERM,
// 1 if the dataplane cannot be used, 2 on bad flags. Counters go to stderr at exit.
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "examples/kv/ix_app.h"
#include "examples/kv/protocol.h"
#include "examples/kv/store.h"
#include "examples/kv/stream_server.h"

ABSL_FLAG(int32_t, port, 11211, "TCP port to serve");
ABSL_FLAG(int64_t, memory_mb, 64, "memory limit of the item store, in MiB");
ABSL_FLAG(int64_t, max_item_kb, 1024, "largest item (key + value + overhead), in KiB");
ABSL_FLAG(int64_t, tx_mb, 8, "size of the TX area asked of the dataplane, in MiB");

namespace ix::kv {
namespace {

uint64_t NowS() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec);
}

// One connection's KvSession behind the StreamServer.
class KvHandler : public apps::StreamHandler {
 public:
  KvHandler(KvStore* store, const KvSessionOptions& options, const uint64_t* now_s)
      : session_(store, options), now_s_(now_s) {}

  Result OnData(absl::Span<const uint8_t> in, std::string* out) override {
    const KvProcessResult r = session_.Process(in, *now_s_, out);
    return Result{.consumed = r.consumed, .close = r.close, .again = r.output_full};
  }

 private:
  KvSession session_;
  const uint64_t* now_s_;
};

void PrintCounters(const apps::StreamServerCounters& c, const KvStats& s) {
  fprintf(stderr,
          "ix-kv: accepted %llu rejected %llu closed %llu reset %llu rx_bytes %llu tx_bytes %llu "
          "sends %llu short_sends %llu tx_full %llu cmd_errors %llu deferred_cmds %llu "
          "cmd_get %llu cmd_set %llu curr_connections %llu\n",
          static_cast<unsigned long long>(c.accepted), static_cast<unsigned long long>(c.rejected),
          static_cast<unsigned long long>(c.closed), static_cast<unsigned long long>(c.reset),
          static_cast<unsigned long long>(c.rx_bytes), static_cast<unsigned long long>(c.tx_bytes),
          static_cast<unsigned long long>(c.sends), static_cast<unsigned long long>(c.short_sends),
          static_cast<unsigned long long>(c.tx_full),
          static_cast<unsigned long long>(c.cmd_errors),
          static_cast<unsigned long long>(c.deferred_cmds),
          static_cast<unsigned long long>(s.cmd_get), static_cast<unsigned long long>(s.cmd_set),
          static_cast<unsigned long long>(s.curr_connections));
}

int Main(int argc, char** argv) {
  apps::ParseFlagsOrExit(
      "ix-kv", argc, argv,
      "the ix key-value server (memcached text protocol) on libix.\n"
      "  ix-kv --mode=library --iface=IF --ip=A.B.C.D[/len] [--port=11211] [--memory_mb=64]\n"
      "  ix-kv --mode=ixd [--socket=PATH] [--port=11211]");
  const int32_t port = absl::GetFlag(FLAGS_port);
  const int64_t memory_mb = absl::GetFlag(FLAGS_memory_mb);
  const int64_t max_item_kb = absl::GetFlag(FLAGS_max_item_kb);
  const int64_t tx_mb = absl::GetFlag(FLAGS_tx_mb);
  if (port <= 0 || port > 65535 || memory_mb <= 0 || max_item_kb <= 0 || tx_mb <= 0 ||
      tx_mb > 1024) {
    fprintf(stderr, "ix-kv: --port must be 1..65535, --memory_mb and --max_item_kb positive, "
                    "--tx_mb 1..1024 (see --help)\n");
    return 2;
  }
  apps::InstallStopSignals();

  KvStore store(KvStoreOptions{
      .memory_limit_bytes = static_cast<size_t>(memory_mb) << 20,
      .max_item_bytes = static_cast<size_t>(max_item_kb) << 10,
  });
  uint64_t now_s = NowS();
  KvSessionOptions session_options;
  session_options.server_start_s = now_s;
  session_options.pid = getpid();
  // Keeps each connection's reply buffer small; the StreamServer sends it in pieces.
  session_options.output_soft_limit_bytes = 256 * 1024;

  absl::StatusOr<apps::IxApp> app = apps::OpenIx("ix-kv", static_cast<uint64_t>(tx_mb) << 20);
  if (!app.ok()) {
    fprintf(stderr, "ix-kv: %s\n", std::string(app.status().message()).c_str());
    return 1;
  }
  ix_t* ix = app->ix;
  int status = 0;
  {
    apps::StreamServer server(
        ix,
        [&] { return std::make_unique<KvHandler>(&store, session_options, &now_s); },
        apps::StreamServerOptions{.port = static_cast<uint16_t>(port)});
    ix_event events[256];
    bool ready = false;
    if (server.Listen() != 0) {
      fprintf(stderr, "ix-kv: cannot queue the listen command\n");
      status = 1;
    }
    const uint64_t listen_deadline_s = NowS() + 10;
    while (status == 0 && !apps::StopRequested()) {
      const int64_t timeout_ns = server.has_retries() ? 1'000'000 : 100'000'000;
      const int n = ix_poll(ix, events, 256, timeout_ns);
      if (n < 0) {
        fprintf(stderr, "ix-kv: ix_poll failed: %s\n", apps::IxErrorText(n).c_str());
        status = 1;
        break;
      }
      now_s = NowS();
      for (int i = 0; i < n; ++i) (void)server.HandleEvent(events[i]);
      server.AfterEvents();
      if (apps::DumpRequested()) {
        fprintf(stderr, "ix-kv: %s", server.DebugString().c_str());
      }
      if (!ready) {
        if (server.listen_status() == 0) {
          ready = true;
          printf("ix-kv: ready %s:%d\n", app->where.c_str(), port);
          fflush(stdout);
        } else if (server.listen_status() < 0) {
          fprintf(stderr, "ix-kv: cannot listen on port %d: %s\n", port,
                  apps::IxErrorText(server.listen_status()).c_str());
          status = 1;
        } else if (now_s > listen_deadline_s) {
          fprintf(stderr, "ix-kv: cannot listen on port %d: the dataplane did not answer within "
                          "10 s\n", port);
          status = 1;
        }
      }
    }
    PrintCounters(server.counters(), store.stats());
    if (server.counters().cmd_errors != 0) {
      fprintf(stderr, "ix-kv: %s", server.DebugString().c_str());
    }
  }
  ix_destroy(ix);
  return status;
}

}  // namespace
}  // namespace ix::kv

int main(int argc, char** argv) { return ix::kv::Main(argc, argv); }

// The ixd server: accepts applications on a Unix socket, gives each its queue pairs (sealed
// memfds and eventfds), runs the stack and the command processor in one run-to-completion loop
// on one core, sleeps when idle, and detaches applications whose socket closes (exit or crash):
// their connections are reset, their ports released and their memory reclaimed.
//
//   Daemon::Hooks hooks{.run = [&](uint64_t now) { return stack->RunOnce(now); },
//                       .flush = [&] { return stack->Flush(); },
//                       .next_deadline = [&] { return stack->NextDeadline(); },
//                       .wait_fd = queue->WaitFd()};
//   auto d = Daemon::Create(&stack_ops, hooks, {.socket_path = "/run/ix/ixd.sock"});
//   (*d)->Run(&stop_flag);                      // until stop_flag becomes true
//
// Attach protocol (include/ix/abi.h): SOCK_SEQPACKET; the app sends ix_attach_req, ixd checks
// SO_PEERCRED (same uid as ixd, or root), the ABI version and the sizes, and answers with
// ix_attach_resp plus IX_QP_FDS descriptors per queue pair. A client that does not send a valid
// request within attach_timeout_ns is dropped; the loop never blocks on a client.
//
// Stats (options.stats_socket_path, stats_server.h): every connection to that Unix stream socket
// gets StatsJson() and is closed, served from the loop (Control) without blocking it.
//
// Threading: Run() owns everything; Stop() (any thread, or a signal handler via the flag) ends it.
#ifndef IX_DATAPLANE_IXD_DAEMON_H_
#define IX_DATAPLANE_IXD_DAEMON_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/qp_memory.h"
#include "dataplane/ixd/stack_ops.h"
#include "dataplane/ixd/stats_server.h"

namespace ix::ixd {

struct DaemonOptions {
  std::string socket_path = IX_DEFAULT_SOCKET;
  std::string stats_socket_path;  // "": no stats socket (ixd's default: socket_path + ".stats")
  QpSizes default_sizes;
  ProcessorConfig processor;
  uint32_t max_apps = 64;
  uint64_t max_app_bytes = 512ull << 20;  // shared memory one app may ask for (all queue pairs)
  uint64_t spin_ns = 50'000;             // busy-poll this long after the last work, then sleep
  uint64_t control_interval_ns = 1'000'000;  // while busy, look at the Unix sockets this often
  uint64_t attach_timeout_ns = 5'000'000'000;
  bool verbose = true;  // log attach / detach with counters to stderr
};

struct DaemonStats {
  uint64_t attached = 0;
  uint64_t detached = 0;
  uint64_t refused = 0;  // bad credentials, version, sizes, too many apps, timeouts
  uint64_t sleeps = 0;
  uint64_t iterations = 0;
  uint64_t stats_served = 0;   // stats socket clients answered
  uint64_t stats_dropped = 0;  // stats socket clients whose socket did not take the answer
};

// Called with fn(name, value) for each counter: the stack's (dp::Stack::ForEachCounter) in ixd.
using CounterVisitor = absl::FunctionRef<void(absl::string_view, uint64_t)>;

class Daemon {
 public:
  struct Hooks {
    std::function<int(uint64_t now_ns)> run;  // one stack iteration (RunOnce)
    std::function<int()> flush;               // push out what commands produced
    std::function<uint64_t()> next_deadline;  // the stack's next timer (~0: none)
    int wait_fd = -1;                         // readable when frames arrive
    // Stack and NIC counters for StatsJson's "stack" object (optional).
    std::function<void(CounterVisitor)> counters;
  };

  static absl::StatusOr<std::unique_ptr<Daemon>> Create(StackOps* ops, const Hooks& hooks,
                                                        const DaemonOptions& options);
  ~Daemon();  // detaches every app, removes the socket file
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs the loop until *stop is true (checked every iteration and at least every 100 ms).
  void Run(const std::atomic<bool>* stop);
  // One loop iteration without sleeping (tests); returns work done.
  int Iterate();

  const DaemonStats& stats() const { return stats_; }
  Processor& processor() { return *proc_; }
  size_t apps() const { return apps_.size(); }  // connected clients, attached or not yet
  // The stats socket's answer, one JSON object on one line (daemon_stats.cc):
  //   {"version": 1, "pid", "uptime_ns", "socket", "stats_socket",
  //    "attached", "detached", "refused", "sleeps", "iterations" (DaemonStats, monotonic),
  //    "stats_served", "stats_dropped" (answers before this one),
  //    "apps_attached", "clients_pending" (connected, not attached yet), "apps_removed",
  //    "orphan_events" (Processor),
  //    "apps": [{"id", "name", "pid", "queues", "connections", "commands", "rejected",
  //              "ring_corrupt", "cmd_budget_hits", "buf_double_return", "events_posted",
  //              "rx_bytes", "tx_bytes", "rx_buf_starved", "udp_dropped", "knocks_dropped",
  //              "notify_dropped", "wakeups"}]  (AppCounters summed over the app's queue pairs),
  //    "stack": {NAME: VALUE}  (Hooks::counters, when set)}
  std::string StatsJson() const;

 private:
  struct QueueRes {
    std::unique_ptr<QpMemory> mem;
    int kick_fd = -1;
    int wake_fd = -1;
  };
  struct AppConn {
    int fd = -1;
    uint32_t app_id = 0;  // 0 until attached
    uint64_t accepted_ns = 0;
    std::string name;
    pid_t pid = 0;
    std::vector<QueueRes> queues;
  };

  Daemon(StackOps* ops, const Hooks& hooks, const DaemonOptions& options);
  absl::Status Listen();
  void Control(int timeout_ms);  // polls the sockets; handles accepts, requests, hangups, stats
  void ServeStats();
  void AcceptClients();
  void HandleRequest(AppConn& c);
  void Refuse(AppConn& c, int code);
  void Detach(int fd);
  void Sleep();
  void Wake(uint32_t app, uint32_t queue);

  StackOps* ops_;
  Hooks hooks_;
  DaemonOptions options_;
  std::unique_ptr<Processor> proc_;
  int listen_fd_ = -1;
  std::unique_ptr<StatsServer> stats_server_;  // null without options.stats_socket_path
  uint64_t created_ns_ = 0;
  std::map<int, AppConn> apps_;  // by socket fd
  std::map<uint32_t, int> fd_of_app_;
  DaemonStats stats_;
  uint64_t idle_since_ns_ = 0;
  uint64_t last_control_ns_ = 0;
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_DAEMON_H_

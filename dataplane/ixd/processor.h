// The command processor: the part of the dataplane that serves applications. It reads each queue
// pair's command ring (include/ix/abi.h), validates and executes the commands against a StackOps,
// writes return codes in place, turns stack events into ABI events in the owning queue pair's
// event ring, copies received bytes into the app's RX buffers, runs app timers, and tears an
// application down (connections reset, ports released, buffers reclaimed) when it goes away.
// Used by ixd (one processor, many apps) and by libix's library mode (one app, in-process).
//
//   Processor proc(&stack_ops, {});
//   uint32_t app = proc.AddApp("kv");
//   int qp = *proc.AddQueue(app, view);          // view: the dp's mapping of the shared areas
//   for (;;) {
//     uint64_t now = MonotonicNowNs();
//     int work = stack.RunOnce(now);
//     work += proc.ProcessCommands(now);         // bounded work per queue pair
//     work += proc.PumpStackEvents();            // stack events -> pending per connection
//     work += proc.RunTimers(now);
//     work += proc.FlushEvents();                // pending -> event rings (as room allows)
//   }
//   proc.RemoveApp(app);                         // then unmap the app's areas
//
// Trust: everything in the shared areas is written by the application and may be anything at any
// time. The processor keeps private copies of ring indices and sizes, copies every command slot
// and iovec array out before checking it, checks every offset and length against its own sizes
// (TxSpan), and never lets one app's input touch another app's state. Each rejection is counted
// in the queue pair's AppCounters.
//
// Threading: one thread (the stack's owner) calls everything.
#ifndef IX_DATAPLANE_IXD_PROCESSOR_H_
#define IX_DATAPLANE_IXD_PROCESSOR_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/ixd/stack_ops.h"
#include "ix/abi.h"

namespace ix::ixd {

// The dataplane's mapping of one queue pair's shared areas, with the sizes the dataplane chose.
// The header's size fields are never read back: these are the truth.
struct QpView {
  ix_qp_header* header = nullptr;
  ix_cmd* cmds = nullptr;
  ix_event* events = nullptr;
  uint32_t cmd_entries = 0;  // powers of two
  uint32_t ev_entries = 0;
  const uint8_t* tx = nullptr;
  uint64_t tx_bytes = 0;
  uint8_t* rx = nullptr;  // rx_buf_count * rx_buf_size bytes, written only by the dataplane
  uint32_t rx_buf_count = 0;
  uint32_t rx_buf_size = 0;
};

struct ProcessorConfig {
  uint32_t cmd_budget = 256;           // commands executed per queue pair per ProcessCommands
  uint32_t max_conns_per_queue = 4096;  // connection ids per queue pair (<= 2^20)
  // Connections one application may hold over all its queue pairs: keep the sum over apps below
  // the TCP engine's table (TcpConfig::max_connections) so that no app can starve the others.
  uint32_t max_conns_per_app = 4096;
  uint32_t max_listen_backlog = 4096;
  uint64_t max_timer_delay_ns = 3600ull * 1000 * 1000 * 1000;
  // RX buffers one connection may hold at once (0: a quarter of the queue pair's, at least 4).
  uint32_t max_bufs_per_conn = 0;
};

// Per queue pair: commands, results and every rejection. Monotonic.
struct AppCounters {
  uint64_t commands = 0;                 // commands executed (including rejected ones)
  uint64_t errors[IX_ERROR_COUNT] = {};  // rejected commands by -ret (errors[0] unused)
  uint64_t cmd_ring_corrupt = 0;         // cmd_prod further than cmd_entries ahead
  uint64_t ev_ring_corrupt = 0;          // ev_cons not within ev_entries behind ev_prod
  uint64_t cmd_budget_hits = 0;          // iterations that left commands for later
  uint64_t buf_double_return = 0;        // recv_done of a buffer that was already free
  uint64_t events_posted = 0;
  uint64_t rx_bytes = 0;                 // bytes copied into RX buffers (TCP and UDP)
  uint64_t tx_bytes = 0;                 // bytes accepted from the TX area
  uint64_t rx_buf_starved = 0;           // times a connection waited for a free RX buffer
  uint64_t udp_dropped = 0;              // datagrams dropped: no RX buffer or event ring full
  uint64_t knocks_dropped = 0;           // connections reset: no free connection id
  uint64_t notify_dropped = 0;           // IX_EV_UDP_SENT / IX_EV_TIMER lost (ring corrupt)
  uint64_t wakeups = 0;                  // wake callbacks issued
};

class Processor {
 public:
  // Called after events were posted to a queue pair whose application says it may be sleeping.
  using WakeFn = std::function<void(uint32_t app, uint32_t queue)>;

  Processor(StackOps* stack, const ProcessorConfig& config);
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  void set_wake_fn(WakeFn fn) { wake_fn_ = std::move(fn); }

  // Registers an application; returns its id (never reused).
  uint32_t AddApp(const std::string& name);
  // Adds a queue pair to `app`. The view's areas must stay mapped until RemoveApp. Initializes
  // the header (magic, version, sizes, indices). Returns the queue index within the app.
  absl::StatusOr<uint32_t> AddQueue(uint32_t app, const QpView& view);
  // Resets every connection of the app, releases its ports and timers and forgets it. Afterwards
  // the processor holds no pointer into its areas.
  void RemoveApp(uint32_t app);
  bool HasApp(uint32_t app) const { return apps_.count(app) != 0; }

  // Executes up to cmd_budget commands of every queue pair. Returns commands executed.
  int ProcessCommands(uint64_t now_ns);
  // Drains the stack's events into per-connection pending state (and UDP datagrams straight
  // into RX buffers). Returns events taken.
  int PumpStackEvents();
  // Hands one stack event to its owner (PumpStackEvents uses it; tests call it directly).
  void HandleStackEvent(const StackEvent& ev);
  // Posts due timer events. Returns timers fired.
  int RunTimers(uint64_t now_ns);
  // Moves pending connection events into the event rings as far as room and RX buffers allow,
  // publishes the rings and wakes sleeping apps. Returns events posted.
  int FlushEvents();
  // Earliest app timer deadline (~0 if none).
  uint64_t NextDeadline() const;
  // Whether any queue pair has unexecuted commands or pending events that could be posted now
  // (checked after setting dp_sleeping, before blocking).
  bool HasWork() const;
  // Sets dp_sleeping in every queue pair header (then a full fence).
  void SetSleeping(bool sleeping);

  // Counters of one queue pair, the sum over an app's queue pairs, and the apps gone so far.
  const AppCounters* queue_counters(uint32_t app, uint32_t queue) const;
  AppCounters app_counters(uint32_t app) const;
  uint64_t apps_removed() const { return apps_removed_; }
  // Connection ids in use by an app (for tests and stats).
  size_t app_connections(uint32_t app) const;
  // RX buffers an app's queue pair has handed out and not got back.
  size_t rx_buffers_out(uint32_t app, uint32_t queue) const;
  uint64_t orphan_events() const { return orphan_events_; }

 private:
  struct Conn;
  struct Queue;
  struct App;

  // processor.cc
  Queue* FindQueue(uint32_t app, uint32_t queue) const;
  Conn* LookupConn(Queue& q, uint32_t id);
  uint32_t AllocConn(Queue& q);  // slot index, or ~0u when the table is full
  void ReleaseConn(Queue& q, uint32_t slot);
  void Schedule(Queue& q, uint32_t slot, uint8_t bits);
  uint32_t ConnIdOf(const Queue& q, uint32_t slot) const;
  void FreeConnBuffers(Queue& q, uint32_t slot);
  void HandleUdp(const StackEvent& ev);
  void HandleAccepted(const StackEvent& ev);

  // processor_cmd.cc
  int ProcessQueue(Queue& q, uint64_t now_ns);
  int64_t Execute(Queue& q, const ix_cmd& cmd, uint64_t now_ns);
  int64_t CmdListen(Queue& q, const ix_cmd& cmd);
  int64_t CmdUnlisten(Queue& q, const ix_cmd& cmd);
  int64_t CmdConnect(Queue& q, const ix_cmd& cmd);
  int64_t CmdAccept(Queue& q, const ix_cmd& cmd, bool accept);
  int64_t CmdSendv(Queue& q, const ix_cmd& cmd);
  int64_t CmdRecvDone(Queue& q, const ix_cmd& cmd);
  int64_t CmdClose(Queue& q, const ix_cmd& cmd);
  int64_t CmdUdpBind(Queue& q, const ix_cmd& cmd, bool bind);
  int64_t CmdUdpSend(Queue& q, const ix_cmd& cmd);
  int64_t CmdUdpRecvDone(Queue& q, const ix_cmd& cmd);
  int64_t CmdTimer(Queue& q, const ix_cmd& cmd, uint64_t now_ns);
  // The one checked accessor for the TX area: sets *out to bytes [off, off + len) and returns
  // true, or returns false if any of them lies outside the area (overflow-safe).
  bool TxSpan(const Queue& q, uint64_t off, uint64_t len, absl::Span<const uint8_t>* out) const;
  // Resolves a command's payload (one span or an iovec array) into spans; returns 0 or IX_E*.
  int GatherTx(const Queue& q, const ix_cmd& cmd, absl::Span<const uint8_t>* spans,
               size_t* count, uint64_t* total) const;

  // processor_events.cc
  bool EventRoom(Queue& q);
  bool Post(Queue& q, const ix_event& ev);
  void Publish(Queue& q);
  // Posts what one connection has pending; false when it must stay queued (ring full).
  bool FlushConn(Queue& q, uint32_t slot);
  // Copies uncopied received bytes into RX buffers; false if it stopped for ring room.
  bool CopyRecv(Queue& q, uint32_t slot);
  uint32_t AllocBuf(Queue& q);

  StackOps* stack_;
  ProcessorConfig config_;
  WakeFn wake_fn_;
  std::map<uint32_t, std::unique_ptr<App>> apps_;
  uint32_t next_app_id_ = 1;
  uint64_t apps_removed_ = 0;
  uint64_t orphan_events_ = 0;
  // Engine connection -> owner (queue pair and slot).
  struct Owner {
    Queue* queue;
    uint32_t slot;
  };
  std::unordered_map<ConnId, Owner> by_engine_;
  std::vector<uint32_t> tcp_port_owner_;  // 65536 app ids, 0: none
  std::vector<uint32_t> udp_port_owner_;
  std::vector<uint8_t> scratch_;          // UDP gather
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_PROCESSOR_H_

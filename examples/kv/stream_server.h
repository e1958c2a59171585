// StreamServer: a TCP server loop on libix's C API for request/response protocols, with
// zero-copy receive and end-to-end back-pressure. Used by ix-kv (memcached protocol) and
// ix-echo-app (echo).
//
//   class Echo : public ix::apps::StreamHandler {
//     Result OnData(absl::Span<const uint8_t> in, std::string* out) override {
//       out->append(reinterpret_cast<const char*>(in.data()), in.size());
//       return {.consumed = in.size()};
//     }
//   };
//   ix::apps::StreamServer server(ix, [] { return std::make_unique<Echo>(); }, {.port = 7});
//   server.Listen();
//   ix_event ev[256];
//   for (;;) {
//     int n = ix_poll(ix, ev, 256, 100'000'000);
//     for (int i = 0; i < n; ++i) server.HandleEvent(ev[i]);   // false: not the server's
//     server.AfterEvents();
//   }
//
// Receive: the handler reads each IX_EV_TCP_RECV buffer in place (read-only RX memory). A buffer
// goes back to the dataplane (recv_done) as soon as the handler has consumed all of it. Nothing
// is copied on the way in.
// Send: the handler appends replies to the connection's output string; the server copies them
// into the TX area and sends them, one send command in flight per connection (a short send is
// continued after IX_EV_TCP_SENT). Back-pressure: the handler is not called while the output has
// reached `batch_bytes` and is not yet accepted by the stack, so the RX buffers it has not read
// stay held, which closes the TCP receive window (include/ix/abi.h, "Receive"). A client that
// sends without reading replies is throttled; no reply byte is ever dropped.
// End of stream: after the peer's FIN every byte already received is processed and answered,
// then the connection is closed. A reset or any error drops the connection, its handler and its
// held buffers (the close reclaims them in the dataplane).
// Threading: one StreamServer per ix_t, on the thread that polls it.
#ifndef IX_EXAMPLES_KV_STREAM_SERVER_H_
#define IX_EXAMPLES_KV_STREAM_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "libix/ix.h"

namespace ix::apps {

// The protocol of one connection.
class StreamHandler {
 public:
  struct Result {
    // Bytes of `in` used. Less than in.size() only together with `close` or `again`.
    size_t consumed = 0;
    // Send what is in `out`, then close the connection; later input is discarded.
    bool close = false;
    // Call OnData again (with the unconsumed bytes, possibly none) once `out` has been sent.
    bool again = false;
  };
  virtual ~StreamHandler() = default;
  // Consumes received bytes (read in place; not valid after the call) and appends replies to
  // *out. `in` is empty only when the previous call asked for `again`.
  virtual Result OnData(absl::Span<const uint8_t> in, std::string* out) = 0;
};

struct StreamServerOptions {
  uint16_t port = 0;
  uint32_t backlog = 1024;
  // The handler is not called while a connection's unsent output is at least this large.
  size_t batch_bytes = 128 * 1024;
  // Bytes per send command (each is copied into the TX area, which must be larger).
  size_t max_send_bytes = 256 * 1024;
  // Connections beyond this are rejected.
  size_t max_connections = 4096;
};

struct StreamServerCounters {
  uint64_t accepted = 0;
  uint64_t rejected = 0;      // over max_connections
  uint64_t closed = 0;        // connections gone (closed by us, or reset)
  uint64_t reset = 0;         // the peer reset it (IX_EV_TCP_DEAD, or a failed accept)
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;      // accepted by the stack
  uint64_t sends = 0;         // send commands
  uint64_t short_sends = 0;   // sends the stack took only part of
  uint64_t tx_full = 0;       // times the TX area had no room (retried after completions)
  uint64_t cmd_errors = 0;    // failed commands other than sends on dying connections
  uint16_t last_error_op = 0;  // the opcode and result of the last of those
  int64_t last_error = 0;
  uint64_t deferred_cmds = 0; // commands queued later because the command ring was full
};

class StreamServer {
 public:
  using Factory = std::function<std::unique_ptr<StreamHandler>()>;

  // `ix` must outlive the server.
  StreamServer(ix_t* ix, Factory factory, const StreamServerOptions& options);
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // Queues the listen command. Its result arrives through HandleEvent: see listen_status().
  int Listen();
  // 1 while the listen command is in flight, then 0 or its -IX_E* result.
  int listen_status() const { return listen_status_; }

  // Handles one event from ix_poll. Returns false for events that are not this server's (UDP,
  // timers, other listeners' results), which the caller handles.
  bool HandleEvent(const ix_event& ev);
  // Call after each batch of events: feeds and sends for the connections the events touched,
  // retries sends that found the TX area full and commands that found the ring full, and frees
  // closed connections.
  void AfterEvents();
  // Work is waiting for TX room or a command slot (poll with a short timeout).
  bool has_retries() const { return !dirty_.empty() || !deferred_.empty(); }

  // Whether n more commands may be queued before the next ix_poll. libix reuses a command slot
  // as soon as the dataplane has executed it, even if ix_poll has not yet collected its result,
  // and then loses that result (and its TX-memory bookkeeping); so the server keeps the commands
  // queued and not yet collected (ix_cmds_in_flight) within the ring's size. Other commands the
  // application queues on the same ix_t between polls must check this too.
  bool CommandRoom(uint32_t n) const { return ix_cmds_in_flight(ix_) + n <= cmd_entries_; }
  // ix_udp_recv_done through the same gate (for the application's UDP side).
  void UdpRecvDone(uint32_t buf) { Issue({IX_CMD_UDP_RECV_DONE, 0, buf}); }

  size_t connections() const { return conns_.size(); }
  // RX buffers currently held (read by no handler yet, or partly).
  size_t held_buffers() const;
  const StreamServerCounters& counters() const { return counters_; }
  // One line per connection that has output or input waiting (for diagnostics: SIGUSR1).
  std::string DebugString() const;

 private:
  struct Held {
    uint32_t buf;
    const uint8_t* data;
    uint32_t len;
    uint32_t off;  // bytes already consumed
  };
  struct Conn {
    uint64_t serial = 0;
    uint32_t id = 0;
    std::unique_ptr<StreamHandler> handler;
    std::deque<Held> held;
    std::string out;
    size_t out_off = 0;     // bytes of `out` the stack has accepted
    size_t inflight = 0;    // bytes offered by the send in flight (0: none)
    int sent_credit = 0;    // IX_EV_TCP_SENT events minus short sends; < 0: wait for room
    bool again = false;     // the handler asked to be called again
    bool eof = false;       // the peer's FIN arrived
    bool closing = false;   // close once `out` is sent
    bool released = false;  // close or abort queued: the id is gone
    bool dirty = false;     // in dirty_
  };

  Conn* Find(uint64_t serial);
  void OnKnock(const ix_event& ev);
  void OnRecv(Conn* c, const ix_event& ev);
  void OnSendDone(Conn* c, int64_t value);
  // Moves a connection forward: send output, feed input, close. Never blocks.
  void Pump(Conn* c);
  // Feeds held input to the handler until the output reaches batch_bytes or input runs out.
  void Feed(Conn* c);
  // Queues the send of the next chunk of output; false if it must be retried later.
  bool StartSend(Conn* c);
  void Release(Conn* c, bool abort);
  void MarkDirty(Conn* c);
  // Every command goes through Issue: queued now if the ring has room (see CommandRoom), else
  // remembered and queued, in order, by AfterEvents.
  struct DeferredCmd {
    uint16_t op;  // IX_CMD_TCP_RECV_DONE, _CLOSE, _ACCEPT, _REJECT or IX_CMD_UDP_RECV_DONE
    uint32_t id;
    uint64_t arg;  // buf; 1 for an abort; the cookie of an accept
  };
  void Issue(const DeferredCmd& d);
  int IssueNow(const DeferredCmd& d);
  void RecvDone(uint32_t id, uint32_t buf) { Issue({IX_CMD_TCP_RECV_DONE, id, buf}); }
  void QueueClose(uint32_t id, bool abort) { Issue({IX_CMD_TCP_CLOSE, id, abort ? 1u : 0u}); }

  ix_t* ix_;
  Factory factory_;
  StreamServerOptions options_;
  int listen_status_ = 1;
  uint64_t next_serial_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> dirty_;  // connections to pump in AfterEvents
  std::vector<uint64_t> dead_;   // released connections to free in AfterEvents
  std::vector<DeferredCmd> deferred_;
  uint32_t cmd_entries_ = 0;  // the command ring's size
  StreamServerCounters counters_;
};

}  // namespace ix::apps

#endif  // IX_EXAMPLES_KV_STREAM_SERVER_H_

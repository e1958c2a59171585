// The TCP protocol engine: RFC 9293 state machine, RFC 7323 options, RFC 6298 RTO, RFC 5681/6582
// congestion control, RFC 5961 blind-attack protection, SYN cookies. Pure code: no I/O, no threads,
// no clock reads. The caller passes time in, feeds received segments, and sends what the engine
// emits through a TcpOutput it provides. One engine is owned by one thread (not thread-safe).
//
// Usage (one event loop iteration; names other than the engine's are the caller's):
//
//   class MyOutput : public ix::net::tcp::TcpOutput {
//     void Emit(const TcpSegmentView& seg) override {
//       uint8_t* p = ip_layer.StartPacket(seg.dst_ip, seg.WireSize());
//       BuildTcpSegment(seg, absl::MakeSpan(p, seg.WireSize()));   // header, options, checksum
//       ip_layer.Send(seg.src_ip, seg.dst_ip, kIpProtoTcp);
//     }
//   };
//   TcpConfig cfg;  cfg.secret = {random64(), random64()};  cfg.max_connections = 16384;
//   MyOutput out;
//   TcpEngine tcp(cfg, &out);
//   absl::Status st = tcp.Listen(80, /*backlog=*/128);
//   for (;;) {
//     uint64_t now = clock_ns();
//     for (packet in rx burst) tcp.Receive(ip.src, ip.dst, ip.payload, now);
//     tcp.Advance(now);                                   // timers
//     TcpEvent ev[64];
//     for (size_t i = 0, n = tcp.PollEvents(absl::MakeSpan(ev)); i < n; ++i) {
//       switch (ev[i].type) {
//         case TcpEventType::kAccepted:   /* new connection ev[i].conn */ break;
//         case TcpEventType::kReadable: {
//           TcpReadView r = tcp.Peek(ev[i].conn);         // zero copy: up to two spans
//           Handle(r.first, r.second);
//           (void)tcp.Consume(ev[i].conn, r.size(), now); // frees buffer, reopens the window
//           break;
//         }
//         case TcpEventType::kWritable:   /* send buffer has room again */ break;
//         case TcpEventType::kPeerClosed: (void)tcp.Close(ev[i].conn, now); break;
//         case TcpEventType::kReset:      (void)tcp.Close(ev[i].conn, now); break;  // release
//         default: break;
//       }
//     }
//     // sleep/poll until min(next packet, tcp.NextDeadline())
//   }
//
// Connection handles. A ConnId names a slot of the fixed connection table plus a generation, so a
// stale handle is rejected (TcpError::kInvalidConn) instead of touching a reused slot. The
// application owns a handle from Connect() or the kAccepted event until it calls Close() or
// Abort(); after that the engine may finish the connection in the background (FIN_WAIT, TIME_WAIT)
// and reuse the slot. A handle stays valid after kReset/kClosed until the app releases it.
//
// Events are queued, never delivered by callback, so the application may call any engine method
// while handling them. Each connection is queued at most once with a bit set of pending events, so
// the queue cannot overflow; PollEvents returns a connection's events in the order kAccepted /
// kConnected, kReadable, kPeerClosed, kWritable, kClosed, kReset.
//
// Memory: the connection table, 4-tuple hash index, timer heap and event queue are sized at
// construction (max_connections). Send and receive buffers are per-connection rings whose memory
// is attached only while they hold data: from a cache of free buffers (up to buffer_cache per
// direction), else new[]; a ring that drains gives its memory back. An idle connection therefore
// costs its TcpConn block and index slots only, and a steady workload allocates nothing once the
// cache is warm. Segments are never buffered beyond the rings: out-of-order data is written
// straight into the receive ring at its offset.
//
// Protocol notes (what is implemented, and where this engine chooses among RFC options):
//  - RFC 9293 state machine with segment processing in the RFC's order; data on a SYN is not
//    acknowledged (the peer resends it); URG is ignored (urgent data is ordinary data).
//  - RFC 5961: exact-sequence RST only (in-window RST and any SYN in a synchronized state get a
//    challenge ACK, rate limited engine-wide), ACK range check against MAX.SND.WND. RFC 1337: RST
//    is ignored in TIME_WAIT. A bare ACK that fails the sequence test is answered at most once per
//    oow_ack_interval_ns per connection (as Linux does) so that two confused stacks cannot
//    exchange ACKs forever; pure ACKs carry SND.MAX (BSD) for the same reason.
//  - RFC 7323 window scaling and timestamps (PAWS, TS.Recent rules, RTT from TSecr); a
//    per-connection keyed timestamp offset. Segments without TSopt on a TS connection are
//    accepted (as Linux does), not dropped.
//  - RFC 6298 RTO (min/max configurable, backoff, Karn); RFC 5681 slow start / congestion
//    avoidance (byte counting, L = 1 SMSS), RFC 6928 initial window, RFC 6582 NewReno. After an
//    RTO the sender goes back to SND.UNA (go-back-N).
//  - SACK (config sack, tcp_sack.h): RFC 2018 SACK-permitted is offered in SYNs and answered in
//    SYN-ACKs (cookie SYN-ACKs carry it in the TSval with timestamps only). The receiver's ACKs
//    carry up to 3 (timestamps) or 4 blocks, the latest arrival's range first; data segments
//    carry none (an ACK that was due goes out as a pure ACK too). The sender keeps a scoreboard
//    of up to 8 SACKed ranges (invalid blocks ignored and counted, D-SACK ignored) and runs a
//    conservative RFC 6675 recovery: enter on 3 duplicates or IsLost(SND.UNA), cwnd = ssthresh
//    = FlightSize/2, NextSeg rule 1 holes then new data while cwnd - pipe >= SMSS, a NewReno
//    style resend of the head on a partial ACK when it is not yet presumed lost, exit when
//    SND.UNA reaches `recover`. No rescue retransmission (rule 4) and no rule 3. An RTO clears the
//    scoreboard (RFC 6675 5.1). SACKed data stays in the send buffer until cumulatively ACKed.
//    Without SACK on both sides, NewReno as above.
//  - Delayed ACKs (every ack_every_segments data segments or delayed_ack_ns), immediate ACKs for
//    out-of-order data, hole fills and FIN; receiver and sender SWS avoidance; optional Nagle;
//    zero-window probes (persist timer): never gives up while the peer answers, even with a window
//    that stays closed; after max_retransmits probes in a row with no ACK at all the connection
//    ends with kTimedOut, as a retransmission timeout does (RFC 9293 3.8.3 R2; Linux counts
//    unanswered probes against tcp_retries2 the same way); keepalive (off by default).
//  - Listen backlog bounds SYN_RECEIVED connections; beyond it (or with a full table) SYN cookies
//    (tcp_hash.h) carry MSS, and with timestamps also the peer's window scale. Cookie ACKs are
//    only honoured within two cookie periods of the last cookie sent. A valid cookie ACK that
//    finds the table still full is answered with a RST (the peer's connect() already succeeded;
//    a silent drop would leave it waiting), counted in cookie_table_full_resets.
//  - TIME_WAIT lasts time_wait_ns and may be reopened by a newer SYN (RFC 6191). A connection the
//    app released in FIN_WAIT_2 is dropped after fin_wait2_timeout_ns.
//  - ICMP errors (HandleIcmpError, tcp_icmp.cc): acted on only when the quoted 4-tuple and a
//    sequence number in [SND.UNA, SND.MAX) match (RFC 5927). Frag needed lowers snd_mss for
//    good (RFC 1191, floor MTU 552, MTU 0 ignored, no PMTU raise probing) and resends at once;
//    unreachables end a connect in SYN_SENT (as Linux does); everything else is a soft error,
//    counted only (RFC 1122 4.2.3.9); in SYN_SENT it becomes the error of a connect that then
//    times out (Linux's sk_err_soft), e.g. kHostUnreachable after a time exceeded.
//  - Timers: one lazily-keyed min-heap over connections; per-connection deadlines are in
//    TcpConnInfo::next_deadline_ns.
#ifndef IX_DATAPLANE_NET_TCP_TCP_ENGINE_H_
#define IX_DATAPLANE_NET_TCP_TCP_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/net/tcp/tcp_hash.h"
#include "dataplane/net/tcp/tcp_segment.h"
#include "dataplane/net/tcp/tcp_types.h"

namespace ix::net::tcp {

struct TcpConn;

// Where the engine sends segments. Emit is called synchronously from Receive, Advance and the
// per-connection calls; the view (and its payload spans, which may point into the engine's send
// ring) is valid only during the call. Emit must not call back into the engine.
class TcpOutput {
 public:
  virtual ~TcpOutput() = default;
  virtual void Emit(const TcpSegmentView& seg) = 0;
};

class TcpEngine {
 public:
  // `output` must outlive the engine.
  TcpEngine(const TcpConfig& config, TcpOutput* output);
  ~TcpEngine();
  TcpEngine(const TcpEngine&) = delete;
  TcpEngine& operator=(const TcpEngine&) = delete;

  // --- Control ---------------------------------------------------------------------------------
  // Accepts connections to `port` on any local address. `backlog` bounds half-open
  // (SYN_RECEIVED) connections; beyond it SYNs get cookies (if enabled) or are dropped.
  absl::Status Listen(uint16_t port, uint32_t backlog);
  // Stops listening; half-open connections of the port are reset.
  absl::Status Unlisten(uint16_t port, uint64_t now_ns);
  // Active open. local_port 0 picks an ephemeral port (RFC 6056 style). The SYN goes out now;
  // kConnected or kReset(kConnectionRefused / kTimedOut) follows.
  absl::StatusOr<ConnId> Connect(uint32_t local_ip, uint32_t remote_ip, uint16_t remote_port,
                                 uint64_t now_ns, uint16_t local_port = 0);

  // --- Data path -------------------------------------------------------------------------------
  // One received segment: `segment` is the TCP header and payload that followed the IPv4 header.
  void Receive(uint32_t src_ip, uint32_t dst_ip, absl::Span<const uint8_t> segment,
               uint64_t now_ns);
  // An ICMP error (destination unreachable or time exceeded) about a segment we sent from
  // local_ip to remote_ip; `quoted_tcp8` points at the 8 quoted TCP header bytes (ports and
  // sequence number; the caller checked they exist). Ignored and counted unless the quoted
  // 4-tuple names a connection and the quoted sequence is in [SND.UNA, SND.MAX) (RFC 5927 4.1-4.3;
  // ISS in SYN_SENT). Frag needed (RFC 1191) lowers snd_mss to next_hop_mtu - 40 - options (never
  // raises it, floor MTU 552, MTU 0 ignored) and resends from SND.UNA. Any other unreachable code
  // in SYN_SENT ends the connect with kReset(kNetUnreachable / kHostUnreachable /
  // kPortUnreachable / kAdminProhibited); elsewhere, and time exceeded always, it is a soft error:
  // counted (and, in SYN_SENT, reported instead of kTimedOut if the connect times out).
  // tcp_icmp.cc.
  void HandleIcmpError(uint32_t local_ip, uint32_t remote_ip, const uint8_t* quoted_tcp8,
                       uint8_t type, uint8_t code, uint16_t next_hop_mtu, uint64_t now_ns);
  // Runs every timer due at or before now_ns. Call it at least when NextDeadline() has passed.
  void Advance(uint64_t now_ns);
  // Earliest time Advance has work to do (may be early, never late); kNoDeadline if none.
  uint64_t NextDeadline() const;
  // Moves up to out.size() queued events into `out`; returns how many.
  size_t PollEvents(absl::Span<TcpEvent> out);

  // --- Per connection (application side) -------------------------------------------------------
  // Copies as much of `data` as fits into the send buffer and transmits what the windows allow.
  // A short count arms a kWritable event for when space frees up.
  TcpIoResult Send(ConnId id, absl::Span<const uint8_t> data, uint64_t now_ns);
  // Free space in the send buffer (0 for an invalid handle).
  size_t SendSpace(ConnId id) const;
  // The in-order received bytes not yet consumed (valid until the next engine call).
  TcpReadView Peek(ConnId id) const;
  // Releases n bytes from the head of the receive buffer; may send a window update.
  TcpError Consume(ConnId id, size_t n, uint64_t now_ns);
  // Peek + copy + Consume. bytes == 0 with kEof once the peer's FIN is reached.
  TcpIoResult Read(ConnId id, absl::Span<uint8_t> out, uint64_t now_ns);
  // Half close: send FIN after the queued data; keep the handle (reads still work).
  TcpError Shutdown(ConnId id, uint64_t now_ns);
  // Graceful close and release of the handle. Unread received data turns it into an abort (RST).
  TcpError Close(ConnId id, uint64_t now_ns);
  // Sends RST (if synchronized) and releases the handle.
  TcpError Abort(ConnId id, uint64_t now_ns);
  // Snapshot for diagnostics and tests.
  std::optional<TcpConnInfo> Info(ConnId id) const;

  const TcpCounters& counters() const { return counters_; }
  const TcpConfig& config() const { return config_; }
  // Connection slots in use (including ones in TIME_WAIT or waiting for the app to release).
  size_t connections_in_use() const { return conns_in_use_; }
  // Send and receive buffer memory attached to connections now (idle connections attach none).
  size_t buffer_bytes_attached() const { return buffer_bytes_attached_; }
  // Memory of the engine proper per connection slot: the TcpConn block and its share of the
  // 4-tuple index, timer heap and event queue (what an idle connection costs).
  size_t bytes_per_connection_slot() const;

 private:
  struct Listener {
    uint16_t port = 0;
    uint32_t backlog = 0;
    uint32_t half_open = 0;
    bool active = false;
  };

  static constexpr uint32_t kNoSlot = 0xffffffff;

  // tcp_engine.cc: slots, 4-tuple index, events, listeners.
  // Returns the connection for a handle, or null if stale; require_owned also rejects handles
  // the application has released.
  TcpConn* Lookup(ConnId id, bool require_owned) const;
  uint32_t AllocConn();  // kNoSlot when the table is full; attaches buffers
  void FreeConn(uint32_t idx);
  ConnId IdOf(uint32_t idx) const;
  void InitConn(TcpConn& c, const TcpFourTuple& t, uint64_t now_ns);
  uint32_t TsOffsetFor(const TcpFourTuple& t) const;
  int32_t TableFind(const TcpFourTuple& t) const;
  bool TableInsert(uint32_t idx);
  void TableRemove(uint32_t idx);
  size_t TableBucket(const TcpFourTuple& t) const;
  // Send and receive memory: attached when data first needs it, detached again when the ring
  // is empty (idle connections hold none), kept in a bounded cache for reuse.
  uint8_t* TakeBuffer(std::vector<uint8_t*>& cache, uint32_t bytes);
  void GiveBuffer(std::vector<uint8_t*>& cache, uint8_t* b);
  void EnsureSendBuffer(TcpConn& c);
  void EnsureRecvBuffer(TcpConn& c);
  void DetachSendBuffer(TcpConn& c);
  void DetachRecvBuffer(TcpConn& c);
  void ReleaseIdleBuffers(TcpConn& c);
  void ReleaseBuffers(TcpConn& c);
  void PostEvent(uint32_t idx, uint8_t bit);
  int FindListener(uint16_t port) const;
  // Moves a connection to CLOSED: leaves the tuple index and timers, reports `error` to the app
  // (kOk: normal close) and frees the slot if the app no longer holds it.
  void EnterClosed(uint32_t idx, TcpError error);
  void MaybeFree(uint32_t idx);
  void LeaveHalfOpen(TcpConn& c);
  void AbortConn(uint32_t idx, uint64_t now_ns);

  // tcp_in.cc: demultiplexing, LISTEN, SYN_SENT, sequence and RST checks.
  void HandleListen(int listener, const TcpSegmentView& seg, uint64_t now_ns);
  bool AcceptCookie(int listener, const TcpSegmentView& seg, uint64_t now_ns);
  void HandleSynSent(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns);
  void HandleSynchronized(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns);
  bool CheckSeq(TcpConn& c, const TcpSegmentView& seg, uint64_t now_ns);
  bool IsDisorderedAck(const TcpConn& c, const TcpSegmentView& seg) const;
  void HandleRst(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns);
  void NegotiateOptions(TcpConn& c, const TcpOptions& peer);
  // tcp_ack.cc: ACK processing and congestion control. HandleAck returns false when the rest of
  // the segment must be ignored (dropped, or the connection closed).
  bool HandleAck(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns);
  void ProcessNewAck(uint32_t idx, uint32_t ack, const TcpSegmentView& seg, uint64_t now_ns);
  void ProcessDupAck(TcpConn& c, uint64_t now_ns);
  // tcp_ack.cc, SACK connections: duplicate counting and RFC 6675 recovery entry.
  void ProcessSackAck(TcpConn& c, bool dup, bool fresh_sack, uint64_t now_ns);
  // tcp_reasm.cc: data, reassembly, FIN.
  void ProcessData(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns);
  bool OooInsert(TcpConn& c, uint32_t seq, absl::Span<const uint8_t> data);
  void ProcessFin(uint32_t idx, uint64_t now_ns);
  void EnterTimeWait(uint32_t idx, uint64_t now_ns);

  // tcp_out.cc: transmission.
  void Output(uint32_t idx, uint64_t now_ns);  // sends what may be sent, then arms timers
  bool SendSomeData(TcpConn& c, uint64_t now_ns, bool force);
  void EmitData(TcpConn& c, uint32_t seq, uint32_t len, bool fin, uint64_t now_ns);
  void RetransmitHead(TcpConn& c, uint64_t now_ns);
  void SendSyn(TcpConn& c, uint64_t now_ns);
  void SendAck(TcpConn& c, uint64_t now_ns);
  void SendChallengeAck(TcpConn& c, uint64_t now_ns);
  void SendRstFor(const TcpSegmentView& seg);
  void SendRstOnConn(TcpConn& c, uint64_t now_ns);
  void SendCookieSynAck(const TcpSegmentView& seg, uint64_t now_ns);
  void FillCommon(const TcpConn& c, TcpSegmentView* seg, uint64_t now_ns);
  uint16_t AdvertiseWindow(TcpConn& c);
  void MaybeWindowUpdate(uint32_t idx, uint64_t now_ns);
  uint32_t TsNow(const TcpConn& c, uint64_t now_ns) const;
  void Emit(const TcpSegmentView& seg);

  // tcp_timer.cc: timers and RTT estimation.
  void ArmTimers(uint32_t idx);  // after any deadline change
  void HeapInsert(uint32_t idx, uint64_t key);
  void HeapRemove(uint32_t idx);
  void HeapSiftUp(size_t pos);
  void HeapSiftDown(size_t pos);
  void HeapSwap(size_t a, size_t b);
  void RunTimers(uint32_t idx, uint64_t now_ns);
  void OnRetransmitTimeout(uint32_t idx, uint64_t now_ns);
  void OnPersistTimeout(uint32_t idx, uint64_t now_ns);
  void OnKeepaliveTimeout(uint32_t idx, uint64_t now_ns);
  void OnStateTimeout(uint32_t idx, uint64_t now_ns);
  void RttSample(TcpConn& c, uint64_t rtt_ns);
  uint64_t CurrentRto(const TcpConn& c) const;
  void RestartRetransmitTimer(TcpConn& c, uint64_t now_ns);

  TcpConfig config_;
  TcpOutput* output_;
  TcpCounters counters_;

  std::unique_ptr<TcpConn[]> conns_;
  std::vector<uint32_t> free_slots_;  // stack of unused slot indices
  size_t conns_in_use_ = 0;
  std::vector<uint32_t> table_;  // open addressing (linear probing): slot index + 1, 0 empty
  size_t table_mask_ = 0;
  std::vector<uint32_t> heap_;        // timer min-heap of slot indices
  std::vector<uint32_t> event_fifo_;  // ring of slot indices with pending events
  size_t event_head_ = 0;
  size_t event_count_ = 0;
  std::vector<uint8_t> event_bits_;  // per slot; kept across slot reuse (see PostEvent)
  std::vector<uint8_t> event_queued_;
  std::vector<uint8_t*> free_send_bufs_;  // buffers (new[]) not attached to a connection
  std::vector<uint8_t*> free_recv_bufs_;
  size_t buffer_bytes_attached_ = 0;
  uint32_t send_buf_bytes_ = 0;
  uint32_t recv_buf_bytes_ = 0;
  uint8_t rcv_wscale_ = 0;  // the shift we offer, from the receive buffer size
  std::vector<Listener> listeners_;
  std::vector<uint8_t> port_listener_;  // port -> listener index + 1 (0: none)
  uint32_t ephemeral_next_ = 0;
  uint64_t challenge_window_start_ns_ = 0;
  uint32_t challenge_acks_in_window_ = 0;
  uint64_t last_cookie_sent_ns_ = 0;
  bool cookie_sent_ever_ = false;
};

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_ENGINE_H_

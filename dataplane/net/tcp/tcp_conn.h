// Internal: the per-connection control block (one per table slot) and its event bits.
// Fields touched by every segment come first so a segment mostly touches the first cache lines.
#ifndef IX_DATAPLANE_NET_TCP_TCP_CONN_H_
#define IX_DATAPLANE_NET_TCP_TCP_CONN_H_

#include <cstdint>

#include "dataplane/net/tcp/tcp_hash.h"
#include "dataplane/net/tcp/tcp_ring.h"
#include "dataplane/net/tcp/tcp_seq.h"
#include "dataplane/net/tcp/tcp_types.h"

namespace ix::net::tcp {

inline constexpr uint32_t kMaxOooRanges = 8;
inline constexpr uint32_t kMaxSackedRanges = 8;  // sender scoreboard (RFC 6675), per connection
inline constexpr uint32_t kConnIndexBits = 24;
inline constexpr uint32_t kConnIndexMask = (1u << kConnIndexBits) - 1;

// Event bits, in delivery order.
inline constexpr uint8_t kEvOpen = 1 << 0;  // kAccepted or kConnected (see TcpConn::passive)
inline constexpr uint8_t kEvReadable = 1 << 1;
inline constexpr uint8_t kEvPeerClosed = 1 << 2;
inline constexpr uint8_t kEvWritable = 1 << 3;
inline constexpr uint8_t kEvClosed = 1 << 4;
inline constexpr uint8_t kEvReset = 1 << 5;

struct TcpConn {
  // --- identity and state (every segment) ---
  TcpState state = TcpState::kClosed;
  bool in_use = false;
  bool in_table = false;   // present in the 4-tuple index
  bool app_owned = false;  // the application holds a handle
  bool passive = false;    // created by a listener
  bool ts_ok = false;      // RFC 7323 timestamps negotiated
  bool wscale_ok = false;  // RFC 7323 window scaling negotiated
  bool sack_ok = false;    // RFC 2018 SACK negotiated (both SYNs carried SACK-permitted)
  uint8_t snd_wscale = 0;  // shift applied to the peer's window field
  uint8_t rcv_wscale = 0;  // shift the peer applies to ours
  TcpFourTuple tuple;

  // --- send sequence space (RFC 9293 3.3.1) ---
  uint32_t iss = 0;
  uint32_t snd_una = 0;
  uint32_t snd_nxt = 0;      // next to send (pulled back to snd_una by an RTO: go-back-N)
  uint32_t snd_max = 0;      // highest sequence sent + 1
  uint32_t snd_wnd = 0;      // peer's window, scaled
  uint32_t max_snd_wnd = 0;  // largest window the peer offered (RFC 5961, SWS)
  uint32_t snd_wl1 = 0;
  uint32_t snd_wl2 = 0;
  uint32_t snd_buf_seq = 0;  // sequence number of the first byte in the send ring
  uint32_t fin_seq = 0;      // sequence number of our FIN once fin_queued
  uint16_t snd_mss = 536;    // payload bytes per segment (options already deducted)
  uint16_t dupacks = 0;
  bool fin_queued = false;    // the app shut down its direction
  bool in_recovery = false;   // NewReno fast recovery (RFC 6582)
  bool persisting = false;    // zero-window probing
  bool send_blocked = false;  // a Send came up short: post kWritable when space frees

  // --- congestion control ---
  uint32_t cwnd = 0;
  uint32_t ssthresh = 0;
  uint32_t recover = 0;
  uint32_t bytes_acked_ca = 0;  // congestion-avoidance byte counter

  // --- receive sequence space ---
  uint32_t irs = 0;
  uint32_t rcv_nxt = 0;
  uint32_t rcv_adv = 0;    // right edge of the window we advertised
  uint32_t ts_recent = 0;  // RFC 7323
  uint32_t last_ack_sent = 0;
  uint32_t ts_offset = 0;     // per-connection timestamp offset
  uint16_t unacked_segs = 0;  // segments received since we last sent an ACK
  bool ack_now = false;       // send an ACK at the end of the current input step
  bool fin_received = false;

  // --- buffers ---
  TcpRing snd;
  TcpRing rcv;

  // --- out-of-order reassembly: sorted disjoint ranges of seq, beyond rcv_nxt ---
  uint8_t ooo_count = 0;
  bool ooo_fin = false;
  uint32_t ooo_fin_seq = 0;
  uint32_t ooo_start[kMaxOooRanges] = {};
  uint32_t ooo_end[kMaxOooRanges] = {};
  // Receiver side SACK (RFC 2018 4): starts of the latest out-of-order arrivals, newest first;
  // an ACK's blocks are the ooo ranges holding them, in this order, then the rest.
  uint8_t sack_hint_count = 0;
  uint32_t sack_hint[kMaxOooRanges] = {};

  // --- sender SACK scoreboard (RFC 6675): sorted disjoint SACKed ranges within
  // (snd_una, snd_max]; cleared by an RTO. high_rxt: end of the last hole retransmission. ---
  uint8_t sacked_count = 0;
  uint32_t high_rxt = 0;
  uint32_t sacked_start[kMaxSackedRanges] = {};
  uint32_t sacked_end[kMaxSackedRanges] = {};

  // --- RTT (RFC 6298) ---
  bool rtt_timing = false;  // timing the segment starting at rtt_seq (Karn)
  uint32_t rtt_seq = 0;
  uint64_t rtt_start_ns = 0;
  uint64_t srtt_ns = 0;  // 0: no sample yet
  uint64_t rttvar_ns = 0;
  uint64_t rto_ns = 0;  // before backoff
  uint8_t backoff = 0;  // RTO doublings
  uint8_t retries = 0;  // consecutive timeouts
  uint8_t persist_backoff = 0;
  uint8_t persist_probes = 0;  // zero-window probes sent since the last acceptable ACK
  uint8_t keepalive_sent = 0;

  // --- timers: absolute deadlines, kNoDeadline when off ---
  uint64_t rtx_ns = kNoDeadline;
  uint64_t persist_ns = kNoDeadline;
  uint64_t delack_ns = kNoDeadline;
  uint64_t keepalive_ns = kNoDeadline;
  uint64_t state_ns = kNoDeadline;      // TIME_WAIT, orphaned FIN_WAIT_2
  uint64_t timer_key_ns = kNoDeadline;  // key in the heap (<= earliest deadline)
  int32_t heap_pos = -1;
  uint64_t last_rx_ns = 0;
  uint64_t last_oow_ack_ns = 0;  // last ACK sent for an unacceptable bare ACK

  // --- bookkeeping ---
  uint8_t gen = 0;
  int16_t listener = -1;  // counts against this listener's backlog while half-open
  uint16_t listen_port = 0;
  TcpError close_error = TcpError::kOk;  // reported with kReset
  TcpError soft_error = TcpError::kOk;   // ICMP soft error in SYN_SENT: reported if it times out

  uint64_t EarliestDeadline() const {
    uint64_t t = rtx_ns;
    if (persist_ns < t) t = persist_ns;
    if (delack_ns < t) t = delack_ns;
    if (keepalive_ns < t) t = keepalive_ns;
    if (state_ns < t) t = state_ns;
    return t;
  }
  bool Synchronized() const {
    return state != TcpState::kClosed && state != TcpState::kSynSent &&
           state != TcpState::kSynReceived;
  }
  // States in which our data may still be sent.
  bool CanSendData() const {
    return state == TcpState::kEstablished || state == TcpState::kCloseWait ||
           state == TcpState::kFinWait1 || state == TcpState::kClosing ||
           state == TcpState::kLastAck;
  }
  // States in which the peer may still send data.
  bool CanReceiveData() const {
    return state == TcpState::kEstablished || state == TcpState::kFinWait1 ||
           state == TcpState::kFinWait2;
  }
  uint32_t FlightSize() const { return snd_max - snd_una; }
  // Receive window currently open to the peer.
  uint32_t RcvWnd() const { return SeqGt(rcv_adv, rcv_nxt) ? rcv_adv - rcv_nxt : 0; }
};

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_CONN_H_

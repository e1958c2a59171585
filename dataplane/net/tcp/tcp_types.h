// Value types of the TCP engine's interface: configuration, counters, events, states, results.
#ifndef IX_DATAPLANE_NET_TCP_TCP_TYPES_H_
#define IX_DATAPLANE_NET_TCP_TCP_TYPES_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "dataplane/net/tcp/tcp_hash.h"

namespace ix::net::tcp {

// A connection handle: bits 0..23 the table slot, bits 24..31 the slot's generation.
using ConnId = uint32_t;
inline constexpr ConnId kInvalidConnId = 0xffffffff;
inline constexpr uint64_t kNoDeadline = ~uint64_t{0};

enum class TcpState : uint8_t {
  kClosed,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
const char* TcpStateName(TcpState s);

enum class [[nodiscard]] TcpError : uint8_t{
    kOk,
    kInvalidConn,        // unknown, stale or released handle
    kBadState,           // the call makes no sense in the connection's state (e.g. Send after FIN)
    kWouldBlock,         // no data to read / no room to send
    kEof,                // the peer closed its direction and all data was read
    kConnectionReset,    // RST received
    kConnectionRefused,  // RST in answer to our SYN
    kTimedOut,           // retransmission, SYN, zero-window probe or keepalive limit reached
    kAborted,            // local abort or listener closed
    // An ICMP destination unreachable answered our SYN (RFC 1122 4.2.3.9, RFC 5927; as Linux):
    kNetUnreachable,     // net unreachable / unknown (ICMP codes 0, 6, 11)
    kHostUnreachable,    // host unreachable / unknown / isolated, source route failed (1, 5, 7, 8,
                         // 12, 14, 15)
    kPortUnreachable,    // port or protocol unreachable (3, 2): nothing listens at the peer
    kAdminProhibited,    // communication administratively prohibited (9, 10, 13): a filter
};
const char* TcpErrorName(TcpError e);

enum class TcpEventType : uint8_t {
  kAccepted,    // passive open completed; conn is a new handle owned by the app; local_port set
  kConnected,   // active open completed
  kReadable,    // new in-order data in the receive buffer
  kPeerClosed,  // the peer's FIN arrived (after all its data); reads end with kEof
  kWritable,    // send buffer space freed after a short Send
  kClosed,      // the connection finished normally (both FINs acknowledged)
  kReset,       // the connection died; `error` says why. The handle stays until Close/Abort.
};
const char* TcpEventTypeName(TcpEventType t);

struct TcpEvent {
  TcpEventType type;
  TcpError error;       // for kReset
  uint16_t local_port;  // for kAccepted: the listening port
  ConnId conn;
};

struct TcpIoResult {
  TcpError error;
  size_t bytes;
};

// Received, unconsumed bytes: first then second.
struct TcpReadView {
  absl::Span<const uint8_t> first;
  absl::Span<const uint8_t> second;
  size_t size() const { return first.size() + second.size(); }
};

struct TcpConfig {
  uint32_t max_connections = 16384;         // slots; <= 2^24
  uint32_t max_listeners = 64;              // <= 255
  uint32_t send_buffer_bytes = 256 * 1024;  // per connection, rounded up to a power of two
  uint32_t recv_buffer_bytes = 256 * 1024;  // per connection, rounded up to a power of two
  uint32_t buffer_cache = 256;  // drained buffers kept for reuse, per direction (rest freed)
  uint16_t mss = 1460;                      // MSS we advertise and the most we send
  bool window_scaling = true;               // RFC 7323
  bool timestamps = true;                   // RFC 7323
  bool sack = true;  // RFC 2018 selective acknowledgements, RFC 6675 recovery
  bool nagle = false;                       // RFC 9293 3.7.4 (off: small writes go out at once)
  uint32_t initial_cwnd_segments = 10;      // RFC 6928
  uint64_t initial_rto_ns = 1'000'000'000;  // RFC 6298
  uint64_t min_rto_ns = 200'000'000;
  uint64_t max_rto_ns = 60'000'000'000;
  uint32_t max_retransmits = 15;  // data and FIN; also unanswered zero-window probes in a row
  uint32_t max_syn_retransmits = 6;                // SYN and SYN-ACK
  uint64_t time_wait_ns = 60'000'000'000;          // 2*MSL
  uint64_t fin_wait2_timeout_ns = 60'000'000'000;  // FIN_WAIT_2 after the app released it
  uint64_t delayed_ack_ns = 40'000'000;            // 0: acknowledge every segment at once
  uint32_t ack_every_segments = 2;  // ack at once after this many unacknowledged full segments
  bool keepalive = false;
  uint64_t keepalive_idle_ns = 7200'000'000'000;
  uint64_t keepalive_interval_ns = 75'000'000'000;
  uint32_t keepalive_probes = 9;
  bool syn_cookies = true;  // answer SYNs with cookies when the backlog or table is full
  uint32_t challenge_acks_per_second = 1000;   // RFC 5961 rate limit (engine-wide)
  uint64_t oow_ack_interval_ns = 500'000'000;  // per connection: ACKs for out-of-window ACKs
  uint32_t max_ooo_ranges = 8;                 // out-of-order holes kept per connection (<= 8)
  uint64_t ts_tick_ns = 1'000'000;             // timestamp clock tick (1 ms)
  uint16_t ephemeral_port_min = 49152;
  uint16_t ephemeral_port_max = 65535;
  bool verify_checksum = true;  // false when the NIC verified it
  TcpSecret secret;             // key for ISNs, cookies, hashing: set it from a CSPRNG
};

// Every drop and every notable protocol action is counted. Monotonic, never reset.
struct TcpCounters {
  // Parsing (one per TcpParseResult).
  uint64_t rx_segments = 0;
  uint64_t rx_too_short = 0;
  uint64_t rx_bad_data_offset = 0;
  uint64_t rx_bad_checksum = 0;
  uint64_t rx_bad_option = 0;
  uint64_t rx_bad_port = 0;
  uint64_t rx_bad_flags = 0;
  // Demultiplexing and connection setup.
  uint64_t rx_no_connection = 0;     // no connection and no listener
  uint64_t rx_listen_dropped = 0;    // non-SYN, non-ACK segments to a listener
  uint64_t rx_syn_sent_dropped = 0;  // unacceptable segments in SYN_SENT
  uint64_t passive_opens = 0;
  uint64_t active_opens = 0;
  uint64_t backlog_drops = 0;     // SYN dropped: backlog full and cookies off
  uint64_t table_full_drops = 0;  // no free connection slot
  uint64_t syn_cookies_sent = 0;
  uint64_t syn_cookies_accepted = 0;
  uint64_t syn_cookies_rejected = 0;
  uint64_t cookie_table_full_resets = 0;  // valid cookie ACK, no free slot: RST (also in
                                          // table_full_drops)
  uint64_t time_wait_reused = 0;  // new SYN accepted over a TIME_WAIT connection
  // Synchronized states.
  uint64_t rx_out_of_window = 0;     // failed the sequence acceptability test
  uint64_t oow_acks_suppressed = 0;  // ... and, being a bare ACK, got no answer (rate limit)
  uint64_t rx_paws_rejected = 0;     // RFC 7323 PAWS
  uint64_t rx_paws_disordered_acks = 0;  // old timestamp, but a reordered pure dup ACK: accepted
  uint64_t rx_no_ack_flag = 0;
  uint64_t rx_ack_too_new = 0;  // acknowledges unsent data
  uint64_t rx_ack_too_old = 0;  // RFC 5961 5.2
  uint64_t rx_dup_acks = 0;
  uint64_t rx_ooo_segments = 0;
  uint64_t rx_ooo_dropped = 0;       // no free reassembly range
  uint64_t rx_data_after_close = 0;  // data discarded after the app released the handle
  uint64_t rx_rst_accepted = 0;
  uint64_t rx_rst_ignored = 0;    // out of window, TIME_WAIT, ...
  uint64_t rx_syn_in_window = 0;  // SYN in a synchronized state (challenge ACK)
  uint64_t challenge_acks = 0;
  uint64_t challenge_acks_suppressed = 0;
  // Transmission.
  uint64_t tx_segments = 0;
  uint64_t tx_data_segments = 0;
  uint64_t tx_pure_acks = 0;
  uint64_t tx_rst = 0;
  uint64_t retransmits = 0;  // segments sent again (RTO, fast retransmit, probes excl.)
  uint64_t rto_expirations = 0;
  uint64_t fast_retransmits = 0;    // loss recoveries entered (NewReno or SACK)
  uint64_t retransmitted_bytes = 0;  // data bytes sent again, any cause (probe bytes incl.)
  // SACK (RFC 2018 / RFC 6675), on connections that negotiated it.
  uint64_t sack_blocks_rx = 0;          // SACK blocks received and used
  uint64_t sack_blocks_invalid = 0;     // ignored: left >= right, or right beyond SND.MAX
  uint64_t sack_blocks_old = 0;         // ignored: wholly at or below SND.UNA (D-SACK, stale)
  uint64_t sack_scoreboard_full = 0;    // a SACKed range dropped: scoreboard full (8 ranges)
  uint64_t sack_recoveries = 0;         // SACK loss recoveries entered (also fast_retransmits)
  uint64_t sack_retransmits = 0;        // segments resent for holes (RFC 6675 NextSeg)
  uint64_t sack_blocks_tx = 0;          // SACK blocks sent in our ACKs
  uint64_t zero_window_probes = 0;
  uint64_t zero_window_aborts = 0;  // max_retransmits probes unanswered (also in conn_timeouts)
  uint64_t keepalive_probes = 0;
  uint64_t window_updates = 0;
  uint64_t delayed_acks = 0;  // ACKs sent by the delayed-ACK timer
  // Connection ends.
  uint64_t conn_reset_rx = 0;
  uint64_t conn_timeouts = 0;
  uint64_t conn_aborts = 0;
  // ICMP errors about our segments (tcp_icmp.cc, RFC 5927 checks first).
  uint64_t icmp_errors_rx = 0;       // handed to HandleIcmpError
  uint64_t icmp_no_connection = 0;   // quoted 4-tuple matches no connection
  uint64_t icmp_out_of_window = 0;   // quoted sequence not in [SND.UNA, SND.MAX): forged/stale
  uint64_t icmp_pmtu_reductions = 0;  // frag needed (RFC 1191): snd_mss lowered, resent
  uint64_t icmp_pmtu_ignored = 0;     // frag needed with MTU 0, not lower, or before ESTABLISHED
  uint64_t icmp_connect_aborts = 0;   // unreachable in SYN_SENT: connect failed (also conn_aborts)
  uint64_t icmp_soft_errors = 0;      // unreachable / time exceeded counted only (RFC 1122)
};

// A connection snapshot (Info()).
struct TcpConnInfo {
  TcpState state;
  TcpFourTuple tuple;
  uint32_t snd_una, snd_nxt, snd_max, snd_wnd, cwnd, ssthresh;
  uint32_t rcv_nxt, rcv_wnd;
  uint16_t snd_mss;
  uint8_t snd_wscale, rcv_wscale;
  bool timestamps;
  bool sack;             // RFC 2018 negotiated
  uint32_t sack_ranges;  // ranges in the sender's SACK scoreboard
  uint64_t srtt_ns, rttvar_ns, rto_ns;
  uint32_t send_queued;  // bytes in the send buffer (unacked + unsent)
  uint32_t recv_queued;  // in-order bytes not yet consumed
  uint32_t ooo_ranges;
  bool in_fast_recovery;
  bool peer_closed;
  uint64_t next_deadline_ns;  // this connection's earliest timer (kNoDeadline: none)
};

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_TYPES_H_

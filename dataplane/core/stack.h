// The run-to-completion network stack over one NIC queue: Ethernet, ARP, IPv4, ICMP echo, UDP
// and TCP, driven by RunOnce() from one thread (library mode: the app's thread; ixd: its core).
//
//   StackConfig cfg;
//   cfg.mac = nic_mac;
//   cfg.ip = *net::ParseIpv4Address("10.0.0.1");
//   absl::StatusOr<std::unique_ptr<Stack>> created = Stack::Create(cfg, queue);  // queue outlives
//   Stack& stack = **created;
//   (void)stack.Listen(7, 1024);
//   IdlePoller idle(&stack);                     // dataplane/core/idle_poller.h
//   for (;;) {
//     int work = stack.RunOnce(MonotonicNowNs());
//     StackEvent ev[64];
//     for (size_t i = 0, n = stack.PollEvents(absl::MakeSpan(ev)); i < n; ++i) Handle(ev[i]);
//     work += stack.Flush();                     // optional: send what Handle() produced now
//     idle.AfterIteration(work);                 // spins a little, then sleeps in ppoll()
//   }
//
// One iteration (RunOnce): frees the RX buffers of the previous iteration's UDP events, sends the
// frames the application produced since then, takes at most rx_batch frames that are ready (never
// waits to fill a batch), runs each through the layers to completion (replies and TCP segments
// are built straight into mbufs of the queue's pool), runs due TCP and ARP timers, hands the
// produced frames to the queue in TX bursts, kicks it and polls it.
//
// State and the flow table: TCP connection state lives in the TcpEngine (dataplane/net/tcp):
// a fixed table of connection blocks (tcp_conn.h) indexed by a 4-tuple open-addressing hash
// (keyed with TcpConfig::secret), sized by tcp.max_connections. That index *is* the stack's flow
// table; the stack keeps no copy. Neighbour state lives in one net::ArpCache, UDP port bindings
// in a 64 Ki bitmap, frames not yet accepted by the TX ring in a bounded backlog.
//
// Buffer ownership: RX buffers go back to the pool once their frame is processed, except those
// whose UDP payload a kUdpReceived event points into: those are freed at the start of the next
// RunOnce. TX frames are mbufs of queue->pool(); once TxBurst accepts one, the queue owns it.
// Frames waiting for ARP are copied into the ArpCache's bounded pending slots (their mbuf is
// freed) and sent when the reply arrives. If the TX ring is full, frames stay in the backlog
// (bounded by tx_backlog) for the next iteration; only beyond that bound is a frame dropped and
// counted (TCP retransmits it). Every dropped or rejected input is counted exactly once.
//
// UDP policy: a datagram to a port that is not bound is dropped and counted
// (net.udp_no_listener) and answered with an ICMP port unreachable as Linux does (stack_icmp.cc):
// never to a broadcast or multicast datagram or a non-unicast source, never for a non-first
// fragment or an ICMP error, at most icmp_errors_per_second (token bucket). ICMP destination
// unreachable and time exceeded received about our TCP segments go to the TCP engine
// (TcpEngine::HandleIcmpError: RFC 5927 checks, RFC 1191 PMTU, failed connects); about our UDP
// datagrams they are counted only.
// Routing: destinations inside ip/prefix_len (and 255.255.255.255) are on-link; others go to
// `gateway`, or, with gateway 0, are refused and counted (stack.no_route).
//
// Time: the stack's clock is the now_ns of the last RunOnce (0 before the first one); the TCP,
// UDP and ARP calls between iterations use it. Run one iteration before the first Connect or
// UdpSend so that timers start from the right time.
//
// Threading: one owner thread for the stack, its queue and the queue's pool. Nothing blocks except
// IdlePoller. No locks.
#ifndef IX_DATAPLANE_CORE_STACK_H_
#define IX_DATAPLANE_CORE_STACK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dataplane/net/arp.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/net/ipv4_reasm.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/nic/queue.h"

namespace ix::dp {

using net::tcp::kNoDeadline;

struct StackConfig {
  net::MacAddress mac{};         // our MAC (the NIC's)
  net::Ipv4Address ip = 0;       // host byte order, as dataplane/net uses
  int prefix_len = 24;           // 0..32
  net::Ipv4Address gateway = 0;  // 0: on-link peers only (others dropped and counted)
  int rx_batch = 64;             // adaptive batching bound: max frames taken per RunOnce (1..1024)
  net::tcp::TcpConfig tcp;       // tcp.secret left zero -> filled from getrandom() by Create
  // Frames produced but not yet accepted by the TX ring that the stack keeps for later
  // (0: half the pool's buffers, at most 8192).
  uint32_t tx_backlog = 0;
  net::ArpCacheConfig arp;  // our_mac / our_ip are overwritten from mac / ip
  // ICMP errors we send (port unreachable for a UDP datagram to an unbound port): a global token
  // bucket of this many per second (Linux icmp_msgs_per_sec) holding at most icmp_error_burst
  // tokens (Linux icmp_msgs_burst). 0 per second: never send ICMP errors.
  uint32_t icmp_errors_per_second = 1000;
  uint32_t icmp_error_burst = 50;
  // IPv4 reassembly of fragments to us (limits in ipv4_reasm.h). reasm.max_datagrams 0: no
  // reassembly, every fragment dropped and counted as net.ip_fragment.
  net::Ipv4ReasmConfig reasm;
};

enum class StackEventType : uint8_t {
  kTcpAccepted,    // new connection on a listening port; the app owns `conn` until Close/Abort
  kTcpConnected,   // Connect() completed
  kTcpReadable,    // new in-order data: Peek / Consume
  kTcpWritable,    // send space freed after a short Send
  kTcpPeerClosed,  // the peer's FIN arrived after all its data
  kTcpClosed,      // both directions finished normally
  kTcpReset,       // the connection died (error says why); the handle stays until Close/Abort
  kUdpReceived,    // a datagram to a bound port
};
const char* StackEventTypeName(StackEventType type);

struct StackEvent {
  StackEventType type;
  net::tcp::ConnId conn = net::tcp::kInvalidConnId;  // tcp events
  net::tcp::TcpError error = net::tcp::TcpError::kOk;  // kTcpReset
  uint32_t remote_ip = 0;    // tcp accepted/connected and udp (host order)
  uint16_t remote_port = 0;  // tcp accepted/connected and udp
  uint16_t local_port = 0;   // tcp accepted/connected and udp
  absl::Span<const uint8_t> payload;  // kUdpReceived: valid until the next RunOnce()
};

enum class [[nodiscard]] UdpSendResult : uint8_t {
  kOk,          // handed to the TX path (sent, in the TX backlog, or waiting for ARP)
  kTooLong,     // payload does not fit one unfragmented frame (> 1472 bytes)
  kNoRoute,     // off-link destination and no gateway (counted: stack.no_route)
  kNoBuffer,    // the pool had no buffer (counted: stack.tx_no_mbuf)
  kArpDropped,  // the ARP pending queue was full (counted by the cache)
  kTxFull,      // the TX backlog was full (counted: stack.tx_backlog_drops)
  kBadArgument,  // destination 0 or port 0
};
const char* UdpSendResultName(UdpSendResult r);

// Stack-level counters (the net and TCP layers keep their own; ForEachCounter shows all).
#define IX_STACK_COUNTER_LIST(X)                                                     \
  X(rx_frames, "frames taken from the queue")                                        \
  X(rx_bytes, "bytes of those frames")                                               \
  X(rx_bursts, "RxBurst calls that returned frames")                                 \
  X(tx_frames, "frames accepted by the TX ring")                                     \
  X(tx_bytes, "bytes of those frames")                                               \
  X(tx_ring_full, "TxBurst calls that left frames in the backlog")                   \
  X(tx_backlog_drops, "frames dropped because the TX backlog was full")              \
  X(tx_no_mbuf, "frames not built because the pool was empty")                       \
  X(tx_too_long, "frames not built because they exceed a buffer or the MTU")         \
  X(no_route, "frames to an off-link destination without a gateway")                 \
  X(arp_queued, "frames parked in the ARP cache until the neighbour answers")        \
  X(arp_released, "parked frames sent after the ARP reply")                          \
  X(arp_requests, "ARP requests sent")                                               \
  X(arp_replies, "ARP replies sent")                                                 \
  X(icmp_echo_replies, "ICMP echo replies sent")                                     \
  X(icmp_port_unreachable_sent, "ICMP port unreachable sent for UDP to an unbound port") \
  X(icmp_errors_rate_limited, "ICMP errors not sent: the token bucket was empty (or 0/s)") \
  X(icmp_errors_not_allowed, "ICMP errors not sent: to broadcast, from a non-unicast source...") \
  X(icmp_errors_rx, "ICMP unreachable / time exceeded received about a packet of ours") \
  X(icmp_udp_errors, "of those, about a UDP datagram we sent (counted only)")       \
  X(ip_fragments, "IPv4 fragments to us handed to the reassembler")                  \
  X(ip_reassembled, "IPv4 datagrams completed from fragments and dispatched")        \
  X(udp_delivered, "datagrams delivered as kUdpReceived")                            \
  X(udp_sent, "datagrams sent by UdpSend")                                           \
  X(udp_unpolled, "kUdpReceived events discarded because RunOnce came before PollEvents") \
  X(tcp_rx_segments, "frames handed to the TCP engine")                              \
  X(tcp_events, "TCP events delivered")

struct StackCounters {
#define IX_STACK_COUNTER_FIELD(name, text) uint64_t name = 0;
  IX_STACK_COUNTER_LIST(IX_STACK_COUNTER_FIELD)
#undef IX_STACK_COUNTER_FIELD
};

class Stack {
 public:
  // Validates the config (unicast MAC and IP, prefix 0..32, rx_batch 1..1024, gateway on-link),
  // fills tcp.secret from getrandom() when it is zero, and sizes every table. `queue` is not
  // owned and must outlive the stack; its pool's buffers must hold a full frame after headroom.
  static absl::StatusOr<std::unique_ptr<Stack>> Create(const StackConfig& config,
                                                       nic::Queue* queue);
  ~Stack();  // frees held RX buffers and the TX backlog back to the pool
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // One run-to-completion iteration at now_ns (monotonic; earlier values are treated as the last
  // one). Returns frames received + frames sent + events produced: 0 means idle.
  int RunOnce(uint64_t now_ns);
  // Hands frames produced since the last RunOnce (by Send, Close, UdpSend...) to the queue now and
  // kicks it. RunOnce does this too; call it to cut latency after handling events.
  int Flush();
  // Earliest time RunOnce has timer work (TCP, ARP retries), the current time if frames wait in
  // the TX backlog, kNoDeadline if none.
  uint64_t NextDeadline() const;
  // Moves up to out.size() events into `out`: UDP datagrams first, then TCP events (in the
  // engine's order). Returns how many.
  size_t PollEvents(absl::Span<StackEvent> out);

  // TCP, thin over TcpEngine with the stack's current time (the now_ns of the last RunOnce).
  absl::Status Listen(uint16_t port, uint32_t backlog);
  absl::Status Unlisten(uint16_t port);
  absl::StatusOr<net::tcp::ConnId> Connect(uint32_t remote_ip, uint16_t remote_port,
                                           uint16_t local_port = 0);
  net::tcp::TcpIoResult Send(net::tcp::ConnId c, absl::Span<const uint8_t> data);
  size_t SendSpace(net::tcp::ConnId c) const;
  net::tcp::TcpReadView Peek(net::tcp::ConnId c) const;
  net::tcp::TcpError Consume(net::tcp::ConnId c, size_t n);
  net::tcp::TcpError Shutdown(net::tcp::ConnId c);
  net::tcp::TcpError Close(net::tcp::ConnId c);
  net::tcp::TcpError Abort(net::tcp::ConnId c);
  std::optional<net::tcp::TcpConnInfo> Info(net::tcp::ConnId c) const;

  // UDP: datagrams to a bound port become kUdpReceived events; others are dropped and counted.
  absl::Status UdpBind(uint16_t port);
  absl::Status UdpUnbind(uint16_t port);
  // Sends one datagram (payload <= 1472 bytes: no fragmentation) from our IP.
  [[nodiscard]] UdpSendResult UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                                      absl::Span<const uint8_t> payload);

  // Calls fn(name, value) for every counter: "stack.<field>", "net.<field>", "tcp.<field>", the
  // queue's "nic.<field>", and gauges ("stack.tcp_connections", "stack.arp_entries",
  // "stack.tx_backlog", "stack.pool_free", "stack.reasm_datagrams", "stack.reasm_bytes").
  void ForEachCounter(absl::FunctionRef<void(absl::string_view, uint64_t)> fn) const;

  const StackCounters& counters() const { return counters_; }
  const net::NetCounters& net_counters() const { return net_counters_; }
  const net::tcp::TcpCounters& tcp_counters() const { return tcp_->counters(); }
  size_t tcp_connections() const { return tcp_->connections_in_use(); }
  const net::ArpCache& arp() const { return *arp_; }
  size_t tx_backlog() const { return tx_backlog_.size(); }
  uint64_t now_ns() const { return now_ns_; }
  const StackConfig& config() const { return config_; }
  nic::Queue* queue() const { return queue_; }

 private:
  class TcpOut;
  struct PendingUdp {
    uint32_t src_ip;
    uint16_t src_port;
    uint16_t dst_port;
    absl::Span<const uint8_t> payload;
  };

  Stack(const StackConfig& config, nic::Queue* queue);

  // Receive path (stack_io.cc). Each returns after counting the frame's fate.
  void ReceiveFrame(const nic::Packet& pkt);
  void ReceiveArp(const net::EthernetFrame& eth);
  // Sets *keep_buffer when a kUdpReceived event points into the frame.
  void ReceiveIpv4(const net::EthernetFrame& eth, bool* keep_buffer);
  // Hands a whole datagram (an unfragmented packet, or one the reassembler completed: then
  // ip.payload lives in the reassembler) to TCP, UDP or ICMP by protocol. Sets *keep_payload when
  // a kUdpReceived event points into ip.payload: the caller keeps its buffer until the next RunOnce.
  void DispatchIpv4(const net::EthernetFrame& eth, const net::Ipv4Packet& ip, bool* keep_payload);
  // A fragment (ip.IsFragment()): held by the reassembler; the fragment that completes a datagram
  // dispatches it (its payload stays in the reassembler until the next RunOnce if a kUdpReceived
  // event points into it). Without a reassembler: dropped and counted as net.ip_fragment.
  void ReceiveFragment(const net::EthernetFrame& eth, const net::Ipv4Packet& ip);

  // ICMP (stack_icmp.cc): echo requests and errors received; errors sent.
  void ReceiveIcmp(const net::EthernetFrame& eth, const net::Ipv4Packet& ip);
  void ReceiveIcmpError(const net::Ipv4Packet& ip, const net::IcmpMessage& msg);
  // Answers `ip` (received in `eth`) with an ICMP error if the rules and the rate limit allow.
  void SendIcmpError(const net::EthernetFrame& eth, const net::Ipv4Packet& ip, uint8_t type,
                     uint8_t code);
  bool TakeIcmpToken();

  // Transmit path (stack_io.cc).
  // Allocates an mbuf and returns its frame start (headroom), or null (counted).
  uint8_t* StartFrame(uint32_t* buf);
  // Routes a built IPv4 frame (Ethernet header with the source MAC and ethertype written; its
  // destination MAC is filled here) to `dst_ip`: sends it, parks it for ARP, or drops it
  // (counted). Takes the mbuf in every case.
  UdpSendResult SendIpv4Frame(uint32_t buf, size_t len, net::Ipv4Address dst_ip);
  // Queues a complete frame for TxBurst (takes the mbuf; drops and counts past the bound).
  bool QueueTx(uint32_t buf, size_t len);
  void EmitTcp(const net::tcp::TcpSegmentView& seg);
  void SendArpRequest(net::Ipv4Address target);
  void DrainArpReady();
  void RunArpTimers();
  int FlushTx();
  net::Ipv4Address NextHop(net::Ipv4Address dst) const;  // 0: no route

  StackConfig config_;
  nic::Queue* queue_;
  core::MbufPool* pool_;
  uint32_t netmask_ = 0;
  uint64_t now_ns_ = 0;
  StackCounters counters_;
  net::NetCounters net_counters_;
  std::unique_ptr<net::ArpCache> arp_;
  uint64_t next_arp_poll_ns_ = 0;
  net::Ipv4IdCounter ip_ids_;
  std::unique_ptr<TcpOut> tcp_out_;
  std::unique_ptr<net::tcp::TcpEngine> tcp_;
  std::optional<net::Ipv4Reassembler> reasm_;  // empty: reassembly off
  std::vector<uint64_t> udp_bound_;  // bitmap over 65536 ports
  std::vector<nic::Packet> rx_burst_;
  std::vector<uint32_t> rx_held_;  // RX buffers that UDP events point into
  std::vector<PendingUdp> udp_events_;
  size_t udp_events_head_ = 0;
  std::vector<nic::Packet> tx_backlog_;
  size_t tx_backlog_head_ = 0;
  size_t tx_backlog_max_ = 0;
  std::vector<uint8_t> scratch_;  // ARP frames copied out of the cache
  int events_this_iteration_ = 0;
  uint64_t icmp_tokens_milli_ = 0;  // token bucket of ICMP errors, in 1/1000 tokens
  uint64_t icmp_refill_ns_ = 0;
};

// Monotonic time (CLOCK_MONOTONIC) in ns, for run loops.
uint64_t MonotonicNowNs();

}  // namespace ix::dp

#endif  // IX_DATAPLANE_CORE_STACK_H_

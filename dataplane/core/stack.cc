// Stack: creation, the run-to-completion iteration, events, the application calls and counters.
// The per-frame receive and transmit paths are in stack_io.cc.
#include "dataplane/core/stack.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ix::dp {

using net::tcp::ConnId;
using net::tcp::TcpError;
using net::tcp::TcpEvent;
using net::tcp::TcpEventType;

class Stack::TcpOut : public net::tcp::TcpOutput {
 public:
  explicit TcpOut(Stack* stack) : stack_(stack) {}
  void Emit(const net::tcp::TcpSegmentView& seg) override { stack_->EmitTcp(seg); }

 private:
  Stack* stack_;
};

uint64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

const char* StackEventTypeName(StackEventType type) {
  switch (type) {
    case StackEventType::kTcpAccepted:
      return "tcp_accepted";
    case StackEventType::kTcpConnected:
      return "tcp_connected";
    case StackEventType::kTcpReadable:
      return "tcp_readable";
    case StackEventType::kTcpWritable:
      return "tcp_writable";
    case StackEventType::kTcpPeerClosed:
      return "tcp_peer_closed";
    case StackEventType::kTcpClosed:
      return "tcp_closed";
    case StackEventType::kTcpReset:
      return "tcp_reset";
    case StackEventType::kUdpReceived:
      return "udp_received";
  }
  return "?";
}

const char* UdpSendResultName(UdpSendResult r) {
  switch (r) {
    case UdpSendResult::kOk:
      return "ok";
    case UdpSendResult::kTooLong:
      return "too_long";
    case UdpSendResult::kNoRoute:
      return "no_route";
    case UdpSendResult::kNoBuffer:
      return "no_buffer";
    case UdpSendResult::kArpDropped:
      return "arp_dropped";
    case UdpSendResult::kTxFull:
      return "tx_full";
    case UdpSendResult::kBadArgument:
      return "bad_argument";
  }
  return "?";
}

Stack::Stack(const StackConfig& config, nic::Queue* queue)
    : config_(config), queue_(queue), pool_(&queue->pool()) {}

Stack::~Stack() {
  for (uint32_t b : rx_held_) pool_->Free(b);
  for (size_t i = tx_backlog_head_; i < tx_backlog_.size(); ++i) pool_->Free(tx_backlog_[i].buf);
}

absl::StatusOr<std::unique_ptr<Stack>> Stack::Create(const StackConfig& config,
                                                     nic::Queue* queue) {
  if (queue == nullptr) return absl::InvalidArgumentError("stack: no queue");
  if (!config.mac.IsUnicast()) {
    return absl::InvalidArgumentError(
        absl::StrCat("stack: MAC ", net::FormatMacAddress(config.mac), " is not unicast"));
  }
  if (!net::IsIpv4Unicast(config.ip)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stack: IP ", net::FormatIpv4Address(config.ip), " is not unicast"));
  }
  if (config.prefix_len < 0 || config.prefix_len > 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("stack: prefix length %d not in 0..32", config.prefix_len));
  }
  if (config.rx_batch < 1 || config.rx_batch > 1024) {
    return absl::InvalidArgumentError(
        absl::StrFormat("stack: rx_batch %d not in 1..1024", config.rx_batch));
  }
  const core::MbufPool& pool = queue->pool();
  if (pool.buffer_size() < pool.headroom() + net::kEthHeaderLen + net::kEthMtu) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "stack: pool buffers of %u bytes with %u headroom cannot hold a %u-byte frame",
        pool.buffer_size(), pool.headroom(), net::kEthHeaderLen + net::kEthMtu));
  }
  std::unique_ptr<Stack> s(new Stack(config, queue));
  s->netmask_ = config.prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - config.prefix_len);
  if (config.gateway != 0 && (config.gateway & s->netmask_) != (config.ip & s->netmask_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stack: gateway ", net::FormatIpv4Address(config.gateway), " is not in ",
                     net::FormatIpv4Address(config.ip), "/", config.prefix_len));
  }
  net::tcp::TcpSecret& secret = s->config_.tcp.secret;
  if (secret.k0 == 0 && secret.k1 == 0) {
    uint64_t words[2];
    size_t got = 0;
    while (got < sizeof(words)) {
      const ssize_t r = getrandom(reinterpret_cast<uint8_t*>(words) + got, sizeof(words) - got, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        return absl::InternalError(absl::StrCat("stack: getrandom: ", strerror(errno)));
      }
      got += static_cast<size_t>(r);
    }
    secret.k0 = words[0];
    secret.k1 = words[1];
  }
  net::ArpCacheConfig arp = config.arp;
  arp.our_mac = config.mac;
  arp.our_ip = config.ip;
  absl::StatusOr<net::ArpCache> cache = net::ArpCache::Create(arp, &s->net_counters_);
  if (!cache.ok()) return cache.status();
  s->arp_ = std::make_unique<net::ArpCache>(*std::move(cache));
  if (config.reasm.max_datagrams != 0) {
    absl::StatusOr<net::Ipv4Reassembler> reasm =
        net::Ipv4Reassembler::Create(config.reasm, &s->net_counters_);
    if (!reasm.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("stack: ", reasm.status().message()));
    }
    s->reasm_.emplace(*std::move(reasm));
  }
  s->tcp_out_ = std::make_unique<TcpOut>(s.get());
  s->tcp_ = std::make_unique<net::tcp::TcpEngine>(s->config_.tcp, s->tcp_out_.get());
  s->udp_bound_.assign(65536 / 64, 0);
  s->rx_burst_.resize(static_cast<size_t>(config.rx_batch));
  s->rx_held_.reserve(static_cast<size_t>(config.rx_batch));
  s->udp_events_.reserve(static_cast<size_t>(config.rx_batch));
  s->tx_backlog_max_ = config.tx_backlog != 0
                           ? config.tx_backlog
                           : std::clamp<uint32_t>(pool.capacity() / 2, 64, 8192);
  s->tx_backlog_.reserve(s->tx_backlog_max_);
  s->scratch_.resize(pool.buffer_size());
  s->icmp_tokens_milli_ = uint64_t{config.icmp_error_burst} * 1000;
  return s;
}

// --- The iteration ----------------------------------------------------------------------------

int Stack::RunOnce(uint64_t now_ns) {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  // Payloads handed out last time are no longer valid.
  for (uint32_t b : rx_held_) pool_->Free(b);
  rx_held_.clear();
  counters_.udp_unpolled += udp_events_.size() - udp_events_head_;
  udp_events_.clear();
  udp_events_head_ = 0;
  if (reasm_) reasm_->Release();

  int work = FlushTx();  // what the application produced since the last iteration
  const int n = queue_->RxBurst(rx_burst_.data(), config_.rx_batch);
  if (n > 0) ++counters_.rx_bursts;
  for (int i = 0; i < n; ++i) ReceiveFrame(rx_burst_[static_cast<size_t>(i)]);
  if (arp_->HasReady()) DrainArpReady();
  if (tcp_->NextDeadline() <= now_ns_) tcp_->Advance(now_ns_);
  if (now_ns_ >= next_arp_poll_ns_) RunArpTimers();
  if (reasm_ && reasm_->NextDeadline() <= now_ns_) reasm_->Expire(now_ns_);
  work += n + FlushTx();
  queue_->Poll();
  return work;
}

int Stack::Flush() { return FlushTx(); }

uint64_t Stack::NextDeadline() const {
  if (tx_backlog_head_ < tx_backlog_.size() || arp_->HasReady()) return now_ns_;
  uint64_t d = tcp_->NextDeadline();
  if (arp_->unresolved() > 0) d = std::min(d, next_arp_poll_ns_);
  if (reasm_) d = std::min(d, reasm_->NextDeadline());
  return d;
}

size_t Stack::PollEvents(absl::Span<StackEvent> out) {
  size_t n = 0;
  while (n < out.size() && udp_events_head_ < udp_events_.size()) {
    const PendingUdp& u = udp_events_[udp_events_head_++];
    StackEvent& ev = out[n++];
    ev = StackEvent{StackEventType::kUdpReceived};
    ev.remote_ip = u.src_ip;
    ev.remote_port = u.src_port;
    ev.local_port = u.dst_port;
    ev.payload = u.payload;
  }
  TcpEvent tmp[64];
  while (n < out.size()) {
    const size_t want = std::min(out.size() - n, sizeof(tmp) / sizeof(tmp[0]));
    const size_t got = tcp_->PollEvents(absl::MakeSpan(tmp, want));
    for (size_t i = 0; i < got; ++i) {
      const TcpEvent& t = tmp[i];
      StackEvent& ev = out[n++];
      ev = StackEvent{StackEventType::kTcpReadable};
      ev.conn = t.conn;
      ev.error = t.error;
      switch (t.type) {
        case TcpEventType::kAccepted:
        case TcpEventType::kConnected: {
          ev.type = t.type == TcpEventType::kAccepted ? StackEventType::kTcpAccepted
                                                      : StackEventType::kTcpConnected;
          if (std::optional<net::tcp::TcpConnInfo> info = tcp_->Info(t.conn)) {
            ev.remote_ip = info->tuple.remote_ip;
            ev.remote_port = info->tuple.remote_port;
            ev.local_port = info->tuple.local_port;
          }
          break;
        }
        case TcpEventType::kReadable:
          ev.type = StackEventType::kTcpReadable;
          break;
        case TcpEventType::kWritable:
          ev.type = StackEventType::kTcpWritable;
          break;
        case TcpEventType::kPeerClosed:
          ev.type = StackEventType::kTcpPeerClosed;
          break;
        case TcpEventType::kClosed:
          ev.type = StackEventType::kTcpClosed;
          break;
        case TcpEventType::kReset:
          ev.type = StackEventType::kTcpReset;
          break;
      }
    }
    counters_.tcp_events += got;
    if (got < want) break;
  }
  return n;
}

// --- TCP --------------------------------------------------------------------------------------

absl::Status Stack::Listen(uint16_t port, uint32_t backlog) { return tcp_->Listen(port, backlog); }
absl::Status Stack::Unlisten(uint16_t port) { return tcp_->Unlisten(port, now_ns_); }

absl::StatusOr<ConnId> Stack::Connect(uint32_t remote_ip, uint16_t remote_port,
                                      uint16_t local_port) {
  if (NextHop(remote_ip) == 0) {
    ++counters_.no_route;
    return absl::UnavailableError(
        absl::StrCat("stack: no route to ", net::FormatIpv4Address(remote_ip)));
  }
  return tcp_->Connect(config_.ip, remote_ip, remote_port, now_ns_, local_port);
}

net::tcp::TcpIoResult Stack::Send(ConnId c, absl::Span<const uint8_t> data) {
  return tcp_->Send(c, data, now_ns_);
}
size_t Stack::SendSpace(ConnId c) const { return tcp_->SendSpace(c); }
net::tcp::TcpReadView Stack::Peek(ConnId c) const { return tcp_->Peek(c); }
TcpError Stack::Consume(ConnId c, size_t n) { return tcp_->Consume(c, n, now_ns_); }
TcpError Stack::Shutdown(ConnId c) { return tcp_->Shutdown(c, now_ns_); }
TcpError Stack::Close(ConnId c) { return tcp_->Close(c, now_ns_); }
TcpError Stack::Abort(ConnId c) { return tcp_->Abort(c, now_ns_); }
std::optional<net::tcp::TcpConnInfo> Stack::Info(ConnId c) const { return tcp_->Info(c); }

// --- UDP bindings -----------------------------------------------------------------------------

absl::Status Stack::UdpBind(uint16_t port) {
  if (port == 0) return absl::InvalidArgumentError("udp bind: port 0");
  uint64_t& word = udp_bound_[port / 64];
  const uint64_t bit = uint64_t{1} << (port % 64);
  if (word & bit) return absl::AlreadyExistsError(absl::StrCat("udp bind: port ", port, " bound"));
  word |= bit;
  return absl::OkStatus();
}

absl::Status Stack::UdpUnbind(uint16_t port) {
  uint64_t& word = udp_bound_[port / 64];
  const uint64_t bit = uint64_t{1} << (port % 64);
  if (!(word & bit)) return absl::NotFoundError(absl::StrCat("udp unbind: port ", port));
  word &= ~bit;
  return absl::OkStatus();
}

// --- Counters ---------------------------------------------------------------------------------

// Every TcpCounters field, for ForEachCounter. The static_assert notices a field added there.
#define IX_TCP_COUNTER_FIELDS(X)                                                                 \
  X(rx_segments) X(rx_too_short) X(rx_bad_data_offset) X(rx_bad_checksum) X(rx_bad_option)      \
  X(rx_bad_port) X(rx_bad_flags) X(rx_no_connection) X(rx_listen_dropped)                        \
  X(rx_syn_sent_dropped) X(passive_opens) X(active_opens) X(backlog_drops) X(table_full_drops)   \
  X(syn_cookies_sent) X(syn_cookies_accepted) X(syn_cookies_rejected)                           \
  X(cookie_table_full_resets) X(time_wait_reused)                                               \
  X(rx_out_of_window) X(oow_acks_suppressed) X(rx_paws_rejected) X(rx_paws_disordered_acks)     \
  X(rx_no_ack_flag)                                                                             \
  X(rx_ack_too_new) X(rx_ack_too_old) X(rx_dup_acks) X(rx_ooo_segments) X(rx_ooo_dropped)       \
  X(rx_data_after_close) X(rx_rst_accepted) X(rx_rst_ignored) X(rx_syn_in_window)               \
  X(challenge_acks) X(challenge_acks_suppressed) X(tx_segments) X(tx_data_segments)             \
  X(tx_pure_acks) X(tx_rst) X(retransmits) X(rto_expirations) X(fast_retransmits)               \
  X(retransmitted_bytes) X(sack_blocks_rx) X(sack_blocks_invalid) X(sack_blocks_old)             \
  X(sack_scoreboard_full) X(sack_recoveries) X(sack_retransmits) X(sack_blocks_tx)              \
  X(zero_window_probes) X(zero_window_aborts) X(keepalive_probes) X(window_updates)              \
  X(delayed_acks) X(conn_reset_rx) X(conn_timeouts) X(conn_aborts)                              \
  X(icmp_errors_rx) X(icmp_no_connection) X(icmp_out_of_window) X(icmp_pmtu_reductions)       \
  X(icmp_pmtu_ignored) X(icmp_connect_aborts) X(icmp_soft_errors)
#define IX_COUNT_ONE(f) +1
static_assert(sizeof(net::tcp::TcpCounters) ==
                  (0 IX_TCP_COUNTER_FIELDS(IX_COUNT_ONE)) * sizeof(uint64_t),
              "TcpCounters changed: update IX_TCP_COUNTER_FIELDS");
#undef IX_COUNT_ONE

void Stack::ForEachCounter(absl::FunctionRef<void(absl::string_view, uint64_t)> fn) const {
#define IX_STACK_VISIT(name, text) fn("stack." #name, counters_.name);
  IX_STACK_COUNTER_LIST(IX_STACK_VISIT)
#undef IX_STACK_VISIT
  fn("stack.tcp_connections", tcp_->connections_in_use());
  fn("stack.arp_entries", arp_->entries());
  fn("stack.tx_backlog", tx_backlog_.size() - tx_backlog_head_);
  fn("stack.pool_free", pool_->available());
  fn("stack.reasm_datagrams", reasm_ ? reasm_->datagrams() : 0);
  fn("stack.reasm_bytes", reasm_ ? reasm_->bytes_held() : 0);
  net::ForEachNetCounter(net_counters_, [&](absl::string_view name, uint64_t value) {
    fn(absl::StrCat("net.", name), value);
  });
  const net::tcp::TcpCounters& t = tcp_->counters();
#define IX_TCP_VISIT(f) fn("tcp." #f, t.f);
  IX_TCP_COUNTER_FIELDS(IX_TCP_VISIT)
#undef IX_TCP_VISIT
  const nic::QueueStats q = queue_->stats();
  fn("nic.rx_packets", q.rx_packets);
  fn("nic.rx_bytes", q.rx_bytes);
  fn("nic.tx_packets", q.tx_packets);
  fn("nic.tx_bytes", q.tx_bytes);
  fn("nic.tx_completed", q.tx_completed);
  fn("nic.tx_ring_full", q.tx_ring_full);
  fn("nic.rx_dropped", q.rx_dropped);
  fn("nic.rx_no_buffer", q.rx_no_buffer);
  fn("nic.kicks", q.kicks);
}

}  // namespace ix::dp

// TCP engine: construction, connection slots, the 4-tuple index, events, listeners, and the
// application-facing calls. Segment input is in tcp_in.cc, output in tcp_out.cc, timers in
// tcp_timer.cc.
#include "dataplane/net/tcp/tcp_engine.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {

uint32_t RoundUpPow2(uint32_t v, uint32_t lo, uint32_t hi) {
  v = std::clamp(v, lo, hi);
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace

const char* TcpStateName(TcpState s) {
  switch (s) {
    case TcpState::kClosed:
      return "CLOSED";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynReceived:
      return "SYN_RECEIVED";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait1:
      return "FIN_WAIT_1";
    case TcpState::kFinWait2:
      return "FIN_WAIT_2";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
  }
  return "?";
}

const char* TcpErrorName(TcpError e) {
  switch (e) {
    case TcpError::kOk:
      return "ok";
    case TcpError::kInvalidConn:
      return "invalid_conn";
    case TcpError::kBadState:
      return "bad_state";
    case TcpError::kWouldBlock:
      return "would_block";
    case TcpError::kEof:
      return "eof";
    case TcpError::kConnectionReset:
      return "connection_reset";
    case TcpError::kConnectionRefused:
      return "connection_refused";
    case TcpError::kTimedOut:
      return "timed_out";
    case TcpError::kAborted:
      return "aborted";
    case TcpError::kNetUnreachable:
      return "net_unreachable";
    case TcpError::kHostUnreachable:
      return "host_unreachable";
    case TcpError::kPortUnreachable:
      return "port_unreachable";
    case TcpError::kAdminProhibited:
      return "admin_prohibited";
  }
  return "?";
}

const char* TcpEventTypeName(TcpEventType t) {
  switch (t) {
    case TcpEventType::kAccepted:
      return "accepted";
    case TcpEventType::kConnected:
      return "connected";
    case TcpEventType::kReadable:
      return "readable";
    case TcpEventType::kPeerClosed:
      return "peer_closed";
    case TcpEventType::kWritable:
      return "writable";
    case TcpEventType::kClosed:
      return "closed";
    case TcpEventType::kReset:
      return "reset";
  }
  return "?";
}

TcpEngine::TcpEngine(const TcpConfig& config, TcpOutput* output)
    : config_(config), output_(output) {
  config_.max_connections = std::clamp<uint32_t>(config_.max_connections, 1, kConnIndexMask);
  config_.max_listeners = std::clamp<uint32_t>(config_.max_listeners, 1, 255);
  config_.max_ooo_ranges = std::min(config_.max_ooo_ranges, kMaxOooRanges);
  config_.ack_every_segments = std::max<uint32_t>(config_.ack_every_segments, 1);
  config_.mss = std::clamp<uint16_t>(config_.mss, 88, 65495);
  config_.ts_tick_ns = std::max<uint64_t>(config_.ts_tick_ns, 1);
  config_.min_rto_ns = std::max<uint64_t>(config_.min_rto_ns, 1000);
  config_.max_rto_ns = std::max(config_.max_rto_ns, config_.min_rto_ns);
  config_.time_wait_ns = std::max<uint64_t>(config_.time_wait_ns, 1);
  if (config_.ephemeral_port_min == 0) config_.ephemeral_port_min = 1;
  if (config_.ephemeral_port_max < config_.ephemeral_port_min) {
    config_.ephemeral_port_max = config_.ephemeral_port_min;
  }
  send_buf_bytes_ = RoundUpPow2(config_.send_buffer_bytes, 1024, 1u << 30);
  recv_buf_bytes_ = RoundUpPow2(config_.recv_buffer_bytes, 1024, 1u << 30);
  if (config_.window_scaling) {
    while (rcv_wscale_ < 14 && (recv_buf_bytes_ >> rcv_wscale_) > 65535) ++rcv_wscale_;
  }

  const uint32_t n = config_.max_connections;
  conns_.reset(new TcpConn[n]);
  free_slots_.reserve(n);
  for (uint32_t i = n; i > 0; --i) free_slots_.push_back(i - 1);
  size_t table_size = 16;
  while (table_size < 2 * size_t{n}) table_size <<= 1;
  table_.assign(table_size, 0);
  table_mask_ = table_size - 1;
  heap_.reserve(n);
  event_fifo_.assign(n, 0);
  event_bits_.assign(n, 0);
  event_queued_.assign(n, 0);
  listeners_.resize(config_.max_listeners);
  port_listener_.assign(65536, 0);
  free_send_bufs_.reserve(std::min<size_t>(n, config_.buffer_cache));
  free_recv_bufs_.reserve(std::min<size_t>(n, config_.buffer_cache));
}

TcpEngine::~TcpEngine() {
  for (uint32_t i = 0; i < config_.max_connections; ++i) ReleaseBuffers(conns_[i]);
  for (uint8_t* p : free_send_bufs_) delete[] p;
  for (uint8_t* p : free_recv_bufs_) delete[] p;
}

// --- Slots -----------------------------------------------------------------------------------

ConnId TcpEngine::IdOf(uint32_t idx) const {
  return (uint32_t{conns_[idx].gen} << kConnIndexBits) | idx;
}

TcpConn* TcpEngine::Lookup(ConnId id, bool require_owned) const {
  const uint32_t idx = id & kConnIndexMask;
  if (id == kInvalidConnId || idx >= config_.max_connections) return nullptr;
  TcpConn& c = conns_[idx];
  if (!c.in_use || c.gen != (id >> kConnIndexBits)) return nullptr;
  if (require_owned && !c.app_owned) return nullptr;
  return &c;
}

uint32_t TcpEngine::AllocConn() {
  if (free_slots_.empty()) return kNoSlot;
  const uint32_t idx = free_slots_.back();
  free_slots_.pop_back();
  TcpConn& c = conns_[idx];
  c.in_use = true;
  c.snd.Init(send_buf_bytes_);
  c.rcv.Init(recv_buf_bytes_);
  ++conns_in_use_;
  event_bits_[idx] = 0;
  return idx;
}

void TcpEngine::FreeConn(uint32_t idx) {
  TcpConn& c = conns_[idx];
  if (c.heap_pos >= 0) HeapRemove(idx);
  if (c.in_table) TableRemove(idx);
  ReleaseBuffers(c);
  const uint8_t gen = static_cast<uint8_t>(c.gen + 1);
  c = TcpConn{};
  c.gen = gen;
  event_bits_[idx] = 0;
  free_slots_.push_back(idx);
  --conns_in_use_;
}

uint8_t* TcpEngine::TakeBuffer(std::vector<uint8_t*>& cache, uint32_t bytes) {
  if (cache.empty()) return new uint8_t[bytes];
  uint8_t* b = cache.back();
  cache.pop_back();
  return b;
}

void TcpEngine::GiveBuffer(std::vector<uint8_t*>& cache, uint8_t* b) {
  if (cache.size() < config_.buffer_cache) {
    cache.push_back(b);
  } else {
    delete[] b;
  }
}

void TcpEngine::EnsureSendBuffer(TcpConn& c) {
  if (c.snd.attached()) return;
  c.snd.Attach(TakeBuffer(free_send_bufs_, send_buf_bytes_));
  buffer_bytes_attached_ += send_buf_bytes_;
}

void TcpEngine::EnsureRecvBuffer(TcpConn& c) {
  if (c.rcv.attached()) return;
  c.rcv.Attach(TakeBuffer(free_recv_bufs_, recv_buf_bytes_));
  buffer_bytes_attached_ += recv_buf_bytes_;
}

void TcpEngine::DetachSendBuffer(TcpConn& c) {
  GiveBuffer(free_send_bufs_, c.snd.Detach());
  buffer_bytes_attached_ -= send_buf_bytes_;
}

void TcpEngine::DetachRecvBuffer(TcpConn& c) {
  GiveBuffer(free_recv_bufs_, c.rcv.Detach());
  buffer_bytes_attached_ -= recv_buf_bytes_;
}

void TcpEngine::ReleaseIdleBuffers(TcpConn& c) {
  if (c.snd.attached() && c.snd.size() == 0) DetachSendBuffer(c);
  if (c.rcv.attached() && c.rcv.size() == 0 && c.ooo_count == 0) DetachRecvBuffer(c);
}

void TcpEngine::ReleaseBuffers(TcpConn& c) {
  if (c.snd.attached()) DetachSendBuffer(c);
  if (c.rcv.attached()) DetachRecvBuffer(c);
  c.snd.Reset();
  c.rcv.Reset();
}

size_t TcpEngine::bytes_per_connection_slot() const {
  const size_t n = config_.max_connections;
  // conns_, heap_, event_fifo_, free_slots_, event_bits_ + event_queued_, and the 4-tuple index.
  const size_t per_slot = sizeof(TcpConn) + 3 * sizeof(uint32_t) + 2;
  return per_slot + table_.size() * sizeof(uint32_t) / n;
}

void TcpEngine::InitConn(TcpConn& c, const TcpFourTuple& t, uint64_t now_ns) {
  c.tuple = t;
  c.iss = InitialSequenceNumber(config_.secret, t, now_ns);
  c.snd_una = c.snd_nxt = c.snd_max = c.iss;
  c.snd_buf_seq = c.iss + 1;
  c.recover = c.iss;
  c.rto_ns = std::clamp(config_.initial_rto_ns, config_.min_rto_ns, config_.max_rto_ns);
  c.ts_offset = TsOffsetFor(t);
  c.snd_mss = 536;
  c.cwnd = config_.initial_cwnd_segments * c.snd_mss;
  c.ssthresh = 0x7fffffff;
  c.last_rx_ns = now_ns;
}

uint32_t TcpEngine::TsOffsetFor(const TcpFourTuple& t) const {
  return static_cast<uint32_t>(TupleHash(config_.secret, t, 0x74736f6666ull));
}

void TcpEngine::EnterClosed(uint32_t idx, TcpError error) {
  TcpConn& c = conns_[idx];
  const TcpState prev = c.state;
  c.state = TcpState::kClosed;
  if (c.in_table) TableRemove(idx);
  LeaveHalfOpen(c);
  c.rtx_ns = c.persist_ns = c.delack_ns = c.keepalive_ns = c.state_ns = kNoDeadline;
  if (c.heap_pos >= 0) HeapRemove(idx);
  if (c.app_owned) {
    if (error == TcpError::kOk) {
      if (prev != TcpState::kTimeWait) PostEvent(idx, kEvClosed);
    } else {
      c.close_error = error;
      PostEvent(idx, kEvReset);
    }
  }
  MaybeFree(idx);
}

void TcpEngine::MaybeFree(uint32_t idx) {
  TcpConn& c = conns_[idx];
  if (c.in_use && c.state == TcpState::kClosed && !c.app_owned) FreeConn(idx);
}

void TcpEngine::LeaveHalfOpen(TcpConn& c) {
  if (c.listener >= 0) {
    Listener& l = listeners_[c.listener];
    if (l.half_open > 0) --l.half_open;
    c.listener = -1;
  }
}

// --- 4-tuple index: linear probing, backward-shift deletion ------------------------------------

size_t TcpEngine::TableBucket(const TcpFourTuple& t) const {
  const uint64_t a = ((uint64_t{t.local_ip} << 32) | t.remote_ip) ^ config_.secret.k0;
  const uint64_t b = ((uint64_t{t.local_port} << 16) | t.remote_port) ^ config_.secret.k1;
  return static_cast<size_t>(Mix64(a ^ Mix64(b))) & table_mask_;
}

int32_t TcpEngine::TableFind(const TcpFourTuple& t) const {
  for (size_t i = TableBucket(t);; i = (i + 1) & table_mask_) {
    const uint32_t v = table_[i];
    if (v == 0) return -1;
    if (conns_[v - 1].tuple == t) return static_cast<int32_t>(v - 1);
  }
}

bool TcpEngine::TableInsert(uint32_t idx) {
  TcpConn& c = conns_[idx];
  size_t i = TableBucket(c.tuple);
  while (table_[i] != 0) i = (i + 1) & table_mask_;  // never full: size >= 2 * slots
  table_[i] = idx + 1;
  c.in_table = true;
  return true;
}

void TcpEngine::TableRemove(uint32_t idx) {
  TcpConn& c = conns_[idx];
  size_t i = TableBucket(c.tuple);
  while (table_[i] != idx + 1) {
    if (table_[i] == 0) return;  // not present (invariant broken; be safe)
    i = (i + 1) & table_mask_;
  }
  table_[i] = 0;
  c.in_table = false;
  for (size_t j = (i + 1) & table_mask_; table_[j] != 0; j = (j + 1) & table_mask_) {
    const size_t home = TableBucket(conns_[table_[j] - 1].tuple);
    // Leave entry j alone if its home lies cyclically in (i, j].
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    table_[i] = table_[j];
    table_[j] = 0;
    i = j;
  }
}

// --- Events ----------------------------------------------------------------------------------

void TcpEngine::PostEvent(uint32_t idx, uint8_t bit) {
  if (!conns_[idx].app_owned) return;
  event_bits_[idx] |= bit;
  if (!event_queued_[idx]) {
    event_queued_[idx] = 1;
    event_fifo_[(event_head_ + event_count_) % event_fifo_.size()] = idx;
    ++event_count_;
  }
}

size_t TcpEngine::PollEvents(absl::Span<TcpEvent> out) {
  size_t n = 0;
  while (event_count_ > 0 && n < out.size()) {
    const uint32_t idx = event_fifo_[event_head_];
    TcpConn& c = conns_[idx];
    uint8_t& bits = event_bits_[idx];
    if (!c.in_use || !c.app_owned) bits = 0;
    while (bits != 0 && n < out.size()) {
      const uint8_t bit = bits & static_cast<uint8_t>(-bits);  // lowest set bit first
      bits &= static_cast<uint8_t>(~bit);
      TcpEvent ev{TcpEventType::kReadable, TcpError::kOk, 0, IdOf(idx)};
      switch (bit) {
        case kEvOpen:
          ev.type = c.passive ? TcpEventType::kAccepted : TcpEventType::kConnected;
          ev.local_port = c.tuple.local_port;
          break;
        case kEvReadable:
          ev.type = TcpEventType::kReadable;
          break;
        case kEvPeerClosed:
          ev.type = TcpEventType::kPeerClosed;
          break;
        case kEvWritable:
          ev.type = TcpEventType::kWritable;
          break;
        case kEvClosed:
          ev.type = TcpEventType::kClosed;
          break;
        default:
          ev.type = TcpEventType::kReset;
          ev.error = c.close_error;
          break;
      }
      out[n++] = ev;
    }
    if (bits != 0) break;  // out is full; keep this connection at the head
    event_queued_[idx] = 0;
    event_head_ = (event_head_ + 1) % event_fifo_.size();
    --event_count_;
  }
  return n;
}

// --- Listeners -------------------------------------------------------------------------------

int TcpEngine::FindListener(uint16_t port) const {
  const uint8_t v = port_listener_[port];
  return v == 0 ? -1 : v - 1;
}

absl::Status TcpEngine::Listen(uint16_t port, uint32_t backlog) {
  if (port == 0) return absl::InvalidArgumentError("tcp listen: port 0");
  if (FindListener(port) >= 0) {
    return absl::AlreadyExistsError(absl::StrFormat("tcp listen: port %u in use", port));
  }
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i].active) continue;
    listeners_[i] = Listener{port, std::max<uint32_t>(backlog, 1), 0, true};
    port_listener_[port] = static_cast<uint8_t>(i + 1);
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError("tcp listen: listener table full");
}

absl::Status TcpEngine::Unlisten(uint16_t port, uint64_t now_ns) {
  const int li = FindListener(port);
  if (li < 0) return absl::NotFoundError(absl::StrFormat("tcp unlisten: port %u", port));
  for (uint32_t i = 0; i < config_.max_connections; ++i) {
    TcpConn& c = conns_[i];
    if (c.in_use && c.listener == li && c.state == TcpState::kSynReceived) {
      SendRstOnConn(c, now_ns);
      EnterClosed(i, TcpError::kAborted);
    }
  }
  listeners_[li] = Listener{};
  port_listener_[port] = 0;
  return absl::OkStatus();
}

// --- Application calls -----------------------------------------------------------------------

absl::StatusOr<ConnId> TcpEngine::Connect(uint32_t local_ip, uint32_t remote_ip,
                                          uint16_t remote_port, uint64_t now_ns,
                                          uint16_t local_port) {
  if (remote_port == 0 || remote_ip == 0) {
    return absl::InvalidArgumentError("tcp connect: remote address or port is 0");
  }
  TcpFourTuple t{local_ip, remote_ip, local_port, remote_port};
  if (local_port != 0) {
    if (TableFind(t) >= 0) return absl::AlreadyExistsError("tcp connect: 4-tuple in use");
  } else {
    // RFC 6056 algorithm 3: a keyed per-destination offset plus a global counter.
    const uint32_t lo = config_.ephemeral_port_min;
    const uint32_t range = uint32_t{config_.ephemeral_port_max} - lo + 1;
    const uint32_t offset = static_cast<uint32_t>(TupleHash(config_.secret, t, 0x6570686dull));
    bool found = false;
    for (uint32_t i = 0; i < range && !found; ++i) {
      t.local_port = static_cast<uint16_t>(lo + (offset + ephemeral_next_ + i) % range);
      if (FindListener(t.local_port) < 0 && TableFind(t) < 0) {
        found = true;
        ephemeral_next_ += i + 1;
      }
    }
    if (!found) return absl::ResourceExhaustedError("tcp connect: no free ephemeral port");
  }
  const uint32_t idx = AllocConn();
  if (idx == kNoSlot) {
    ++counters_.table_full_drops;
    return absl::ResourceExhaustedError("tcp connect: connection table full");
  }
  TcpConn& c = conns_[idx];
  InitConn(c, t, now_ns);
  c.state = TcpState::kSynSent;
  c.app_owned = true;
  c.passive = false;
  TableInsert(idx);
  ++counters_.active_opens;
  Output(idx, now_ns);
  return IdOf(idx);
}

TcpIoResult TcpEngine::Send(ConnId id, absl::Span<const uint8_t> data, uint64_t now_ns) {
  TcpConn* c = Lookup(id, true);
  if (c == nullptr) return {TcpError::kInvalidConn, 0};
  if (c->fin_queued) return {TcpError::kBadState, 0};
  switch (c->state) {
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      break;
    case TcpState::kClosed:
      return {c->close_error == TcpError::kOk ? TcpError::kBadState : c->close_error, 0};
    default:
      return {TcpError::kBadState, 0};
  }
  if (!data.empty() && c->snd.free() > 0) EnsureSendBuffer(*c);
  const uint32_t n = c->snd.Append(data);
  if (n < data.size()) c->send_blocked = true;
  if (n > 0) Output(id & kConnIndexMask, now_ns);
  return {n == 0 && !data.empty() ? TcpError::kWouldBlock : TcpError::kOk, n};
}

size_t TcpEngine::SendSpace(ConnId id) const {
  const TcpConn* c = Lookup(id, true);
  if (c == nullptr || c->fin_queued || c->state == TcpState::kClosed) return 0;
  return c->snd.free();
}

TcpReadView TcpEngine::Peek(ConnId id) const {
  const TcpConn* c = Lookup(id, true);
  if (c == nullptr) return {};
  TcpRing::Pieces p = c->rcv.Peek(0, c->rcv.size());
  return {p.first, p.second};
}

TcpError TcpEngine::Consume(ConnId id, size_t n, uint64_t now_ns) {
  TcpConn* c = Lookup(id, true);
  if (c == nullptr) return TcpError::kInvalidConn;
  if (n > c->rcv.size()) return TcpError::kBadState;
  c->rcv.Consume(static_cast<uint32_t>(n));
  ReleaseIdleBuffers(*c);
  MaybeWindowUpdate(id & kConnIndexMask, now_ns);
  return TcpError::kOk;
}

TcpIoResult TcpEngine::Read(ConnId id, absl::Span<uint8_t> out, uint64_t now_ns) {
  TcpConn* c = Lookup(id, true);
  if (c == nullptr) return {TcpError::kInvalidConn, 0};
  const uint32_t n = c->rcv.Read(out);
  if (n > 0) {
    ReleaseIdleBuffers(*c);
    MaybeWindowUpdate(id & kConnIndexMask, now_ns);
    return {TcpError::kOk, n};
  }
  if (out.empty()) return {TcpError::kOk, 0};
  if (c->fin_received) return {TcpError::kEof, 0};
  if (c->state == TcpState::kClosed) {
    return {c->close_error == TcpError::kOk ? TcpError::kEof : c->close_error, 0};
  }
  return {TcpError::kWouldBlock, 0};
}

TcpError TcpEngine::Shutdown(ConnId id, uint64_t now_ns) {
  TcpConn* c = Lookup(id, true);
  if (c == nullptr) return TcpError::kInvalidConn;
  const uint32_t idx = id & kConnIndexMask;
  if (c->fin_queued) return TcpError::kOk;
  switch (c->state) {
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      break;  // the FIN follows once established
    case TcpState::kEstablished:
      c->state = TcpState::kFinWait1;
      break;
    case TcpState::kCloseWait:
      c->state = TcpState::kLastAck;
      break;
    default:
      return TcpError::kBadState;
  }
  c->fin_queued = true;
  c->fin_seq = c->snd_buf_seq + c->snd.size();
  Output(idx, now_ns);
  return TcpError::kOk;
}

TcpError TcpEngine::Close(ConnId id, uint64_t now_ns) {
  TcpConn* c = Lookup(id, true);
  if (c == nullptr) return TcpError::kInvalidConn;
  const uint32_t idx = id & kConnIndexMask;
  event_bits_[idx] = 0;
  if (c->state == TcpState::kClosed || c->state == TcpState::kSynSent) {
    c->app_owned = false;
    EnterClosed(idx, TcpError::kOk);
    return TcpError::kOk;
  }
  if (c->state == TcpState::kTimeWait) {  // nothing left to say; linger for 2*MSL
    c->app_owned = false;
    ReleaseBuffers(*c);
    return TcpError::kOk;
  }
  if (c->rcv.size() > 0) {  // RFC 2525 2.17: closing with unread data resets the connection
    AbortConn(idx, now_ns);
    return TcpError::kOk;
  }
  if (c->state == TcpState::kFinWait2) c->state_ns = now_ns + config_.fin_wait2_timeout_ns;
  if (!c->fin_queued) (void)Shutdown(id, now_ns);
  c->app_owned = false;
  event_bits_[idx] = 0;
  ArmTimers(idx);
  return TcpError::kOk;
}

TcpError TcpEngine::Abort(ConnId id, uint64_t now_ns) {
  if (Lookup(id, true) == nullptr) return TcpError::kInvalidConn;
  AbortConn(id & kConnIndexMask, now_ns);
  return TcpError::kOk;
}

void TcpEngine::AbortConn(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (c.state != TcpState::kClosed && c.state != TcpState::kSynSent &&
      c.state != TcpState::kTimeWait) {
    SendRstOnConn(c, now_ns);
  }
  ++counters_.conn_aborts;
  c.app_owned = false;
  event_bits_[idx] = 0;
  EnterClosed(idx, TcpError::kAborted);
}

std::optional<TcpConnInfo> TcpEngine::Info(ConnId id) const {
  const TcpConn* c = Lookup(id, false);
  if (c == nullptr) return std::nullopt;
  TcpConnInfo i{};
  i.state = c->state;
  i.tuple = c->tuple;
  i.snd_una = c->snd_una;
  i.snd_nxt = c->snd_nxt;
  i.snd_max = c->snd_max;
  i.snd_wnd = c->snd_wnd;
  i.cwnd = c->cwnd;
  i.ssthresh = c->ssthresh;
  i.rcv_nxt = c->rcv_nxt;
  i.rcv_wnd = c->RcvWnd();
  i.snd_mss = c->snd_mss;
  i.snd_wscale = c->snd_wscale;
  i.rcv_wscale = c->rcv_wscale;
  i.timestamps = c->ts_ok;
  i.srtt_ns = c->srtt_ns;
  i.rttvar_ns = c->rttvar_ns;
  i.rto_ns = CurrentRto(*c);
  i.send_queued = c->snd.size();
  i.recv_queued = c->rcv.size();
  i.ooo_ranges = c->ooo_count;
  i.sack = c->sack_ok;
  i.sack_ranges = c->sacked_count;
  i.in_fast_recovery = c->in_recovery;
  i.peer_closed = c->fin_received;
  i.next_deadline_ns = c->EarliestDeadline();
  return i;
}

}  // namespace ix::net::tcp

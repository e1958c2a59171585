// Command processor: applications, queue pairs, connection tables and stack-event routing.
#include "dataplane/ixd/processor.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dataplane/ixd/processor_internal.h"

namespace ix::ixd {
namespace {

bool IsPowerOfTwo(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

int TcpErrorToIx(TcpError e) {
  switch (e) {
    case TcpError::kOk:
      return IX_OK;
    case TcpError::kInvalidConn:
      return IX_EBADID;
    case TcpError::kBadState:
      return IX_ESTATE;
    case TcpError::kWouldBlock:
      return IX_EAGAIN;
    case TcpError::kEof:
      return IX_ESTATE;
    case TcpError::kConnectionReset:
      return IX_ECONNRESET;
    case TcpError::kConnectionRefused:
      return IX_ECONNREFUSED;
    case TcpError::kTimedOut:
      return IX_ETIMEDOUT;
    case TcpError::kAborted:
      return IX_ECONNABORTED;
    case TcpError::kNetUnreachable:
      return IX_ENETUNREACH;
    case TcpError::kHostUnreachable:
    case TcpError::kAdminProhibited:
      return IX_EHOSTUNREACH;
    case TcpError::kPortUnreachable:  // as Linux: ECONNREFUSED
      return IX_ECONNREFUSED;
  }
  return IX_EINVAL;
}

Processor::Processor(StackOps* stack, const ProcessorConfig& config)
    : stack_(stack),
      config_(config),
      tcp_port_owner_(65536, 0),
      udp_port_owner_(65536, 0),
      scratch_(65536) {
  config_.max_conns_per_queue = std::clamp<uint32_t>(config_.max_conns_per_queue, 1, kSlotMask);
  config_.cmd_budget = std::max<uint32_t>(config_.cmd_budget, 1);
}

Processor::~Processor() {
  while (!apps_.empty()) RemoveApp(apps_.begin()->first);
}

uint32_t Processor::AddApp(const std::string& name) {
  auto app = std::make_unique<App>();
  app->id = next_app_id_++;
  app->name = name;
  const uint32_t id = app->id;
  apps_[id] = std::move(app);
  return id;
}

absl::StatusOr<uint32_t> Processor::AddQueue(uint32_t app_id, const QpView& v) {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return absl::NotFoundError(absl::StrFormat("no app %u", app_id));
  App& app = *it->second;
  if (app.queues.size() >= IX_MAX_QUEUES) {
    return absl::ResourceExhaustedError("too many queue pairs");
  }
  if (v.header == nullptr || v.cmds == nullptr || v.events == nullptr || v.rx == nullptr ||
      !IsPowerOfTwo(v.cmd_entries) || !IsPowerOfTwo(v.ev_entries) || v.rx_buf_count == 0 ||
      v.rx_buf_size < IX_MIN_RX_BUF_SIZE || (v.tx == nullptr && v.tx_bytes != 0)) {
    return absl::InvalidArgumentError("bad queue-pair view");
  }
  auto q = std::make_unique<Queue>();
  q->app = &app;
  q->index = static_cast<uint32_t>(app.queues.size());
  q->v = v;
  q->conns.resize(config_.max_conns_per_queue);
  q->free_conns.reserve(q->conns.size());
  for (uint32_t i = static_cast<uint32_t>(q->conns.size()); i-- > 0;) q->free_conns.push_back(i);
  q->bufs.resize(v.rx_buf_count);
  q->free_bufs.reserve(v.rx_buf_count);
  for (uint32_t i = v.rx_buf_count; i-- > 0;) q->free_bufs.push_back(i);
  q->max_bufs_per_conn = config_.max_bufs_per_conn != 0
                             ? config_.max_bufs_per_conn
                             : std::max<uint32_t>(4, v.rx_buf_count / 4);

  ix_qp_header* h = v.header;
  std::memset(static_cast<void*>(h), 0, sizeof(*h));
  h->magic = IX_ABI_MAGIC;
  h->abi_version = IX_ABI_VERSION;
  h->cmd_entries = v.cmd_entries;
  h->ev_entries = v.ev_entries;
  h->cmd_off = reinterpret_cast<const uint8_t*>(v.cmds) - reinterpret_cast<const uint8_t*>(h);
  h->ev_off = reinterpret_cast<const uint8_t*>(v.events) - reinterpret_cast<const uint8_t*>(h);
  h->tx_bytes = v.tx_bytes;
  h->rx_bytes = static_cast<uint64_t>(v.rx_buf_count) * v.rx_buf_size;
  h->rx_buf_count = v.rx_buf_count;
  h->rx_buf_size = v.rx_buf_size;
  h->queue_index = q->index;
  ix_fence_seq_cst();
  app.queues.push_back(std::move(q));
  return app.queues.back()->index;
}

void Processor::RemoveApp(uint32_t app_id) {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return;
  App& app = *it->second;
  for (auto& qp : app.queues) {
    Queue& q = *qp;
    for (uint32_t slot = 0; slot < q.conns.size(); ++slot) {
      Conn& k = q.conns[slot];
      if (k.state == Conn::State::kFree) continue;
      // Reset, not close: the app is gone and cannot read or send anything more.
      (void)stack_->Abort(k.engine);
      by_engine_.erase(k.engine);
      k = Conn{};
    }
  }
  for (uint16_t port : app.tcp_ports) {
    if (tcp_port_owner_[port] == app_id) {
      (void)stack_->Unlisten(port);
      tcp_port_owner_[port] = 0;
    }
  }
  for (uint16_t port : app.udp_ports) {
    if (udp_port_owner_[port] == app_id) {
      (void)stack_->UdpUnbind(port);
      udp_port_owner_[port] = 0;
    }
  }
  apps_.erase(it);
  ++apps_removed_;
}

Processor::Queue* Processor::FindQueue(uint32_t app, uint32_t queue) const {
  auto it = apps_.find(app);
  if (it == apps_.end() || queue >= it->second->queues.size()) return nullptr;
  return it->second->queues[queue].get();
}

uint32_t Processor::ConnIdOf(const Queue& q, uint32_t slot) const {
  return (q.conns[slot].gen << kSlotBits) | slot;
}

Processor::Conn* Processor::LookupConn(Queue& q, uint32_t id) {
  const uint32_t slot = id & kSlotMask;
  if (slot >= q.conns.size()) return nullptr;
  Conn& k = q.conns[slot];
  if (k.state == Conn::State::kFree || k.gen != (id >> kSlotBits)) return nullptr;
  return &k;
}

uint32_t Processor::AllocConn(Queue& q) {
  if (q.free_conns.empty() || q.app->conns >= config_.max_conns_per_app) return kNoSlot;
  const uint32_t slot = q.free_conns.back();
  q.free_conns.pop_back();
  ++q.conns_in_use;
  ++q.app->conns;
  return slot;
}

void Processor::FreeConnBuffers(Queue& q, uint32_t slot) {
  Conn& k = q.conns[slot];
  if (k.bufs_held == 0) return;
  const uint32_t id = ConnIdOf(q, slot);
  for (uint32_t b = 0; b < q.bufs.size() && k.bufs_held > 0; ++b) {
    Queue::Buf& buf = q.bufs[b];
    if (buf.state == Queue::BufState::kTcp && buf.conn_id == id) {
      buf = Queue::Buf{};
      q.free_bufs.push_back(b);
      --k.bufs_held;
    }
  }
  q.buf_freed = true;
}

// Releases the id: reclaims its buffers and forgets the engine handle (the caller has closed or
// aborted it). Pending and starved entries of the slot are skipped by generation.
void Processor::ReleaseConn(Queue& q, uint32_t slot) {
  FreeConnBuffers(q, slot);
  Conn& k = q.conns[slot];
  by_engine_.erase(k.engine);
  uint32_t gen = k.gen + 1;
  if (gen > (0xffffffffu >> kSlotBits)) gen = 1;
  const bool queued = k.queued;
  k = Conn{};
  k.gen = gen;
  k.queued = queued;  // still listed in `pending`; FlushConn skips free slots. A stale entry in
                      // `starved` only causes a harmless extra Schedule.
  q.free_conns.push_back(slot);
  --q.conns_in_use;
  --q.app->conns;
}

void Processor::Schedule(Queue& q, uint32_t slot, uint8_t bits) {
  Conn& k = q.conns[slot];
  k.pending |= bits;
  if (!k.queued) {
    k.queued = true;
    q.pending.push_back(slot);
  }
}

void Processor::HandleAccepted(const StackEvent& ev) {
  const uint32_t owner = tcp_port_owner_[ev.local_port];
  auto it = owner != 0 ? apps_.find(owner) : apps_.end();
  if (it == apps_.end() || it->second->queues.empty()) {
    ++orphan_events_;
    (void)stack_->Abort(ev.conn);
    return;
  }
  App& app = *it->second;
  Queue& q = *app.queues[app.next_rr++ % app.queues.size()];
  const uint32_t slot = AllocConn(q);
  if (slot == kNoSlot) {
    ++q.counters.knocks_dropped;
    (void)stack_->Abort(ev.conn);
    return;
  }
  Conn& k = q.conns[slot];
  k.state = Conn::State::kKnock;
  k.engine = ev.conn;
  k.remote_ip = ev.remote_ip;
  k.remote_port = ev.remote_port;
  k.local_port = ev.local_port;
  by_engine_[ev.conn] = Owner{&q, slot};
  Schedule(q, slot, kPendKnock);
}

void Processor::HandleUdp(const StackEvent& ev) {
  const uint32_t owner = udp_port_owner_[ev.local_port];
  auto it = owner != 0 ? apps_.find(owner) : apps_.end();
  if (it == apps_.end() || it->second->queues.empty()) {
    ++orphan_events_;
    return;
  }
  App& app = *it->second;
  Queue& q = *app.queues[(ev.remote_ip ^ ev.remote_port) % app.queues.size()];
  if (ev.payload.size() > q.v.rx_buf_size || !EventRoom(q)) {
    ++q.counters.udp_dropped;
    return;
  }
  const uint32_t b = AllocBuf(q);
  if (b == kNoSlot) {
    ++q.counters.udp_dropped;
    return;
  }
  const uint64_t off = static_cast<uint64_t>(b) * q.v.rx_buf_size;
  if (!ev.payload.empty()) std::memcpy(q.v.rx + off, ev.payload.data(), ev.payload.size());
  q.bufs[b].state = Queue::BufState::kUdp;
  q.bufs[b].len = static_cast<uint32_t>(ev.payload.size());
  ix_event out{};
  out.type = IX_EV_UDP_RECV;
  out.buf = b;
  out.len = static_cast<uint32_t>(ev.payload.size());
  out.data_off = off;
  out.remote_ip = ev.remote_ip;
  out.remote_port = ev.remote_port;
  out.local_port = ev.local_port;
  q.counters.rx_bytes += ev.payload.size();
  (void)Post(q, out);  // room was checked
}

void Processor::HandleStackEvent(const StackEvent& ev) {
  if (ev.type == StackEventType::kUdpReceived) return HandleUdp(ev);
  if (ev.type == StackEventType::kTcpAccepted) return HandleAccepted(ev);
  auto it = by_engine_.find(ev.conn);
  if (it == by_engine_.end()) {
    ++orphan_events_;  // e.g. events of a connection released in the same iteration
    return;
  }
  Queue& q = *it->second.queue;
  const uint32_t slot = it->second.slot;
  Conn& k = q.conns[slot];
  switch (ev.type) {
    case StackEventType::kTcpConnected:
      k.remote_ip = ev.remote_ip != 0 ? ev.remote_ip : k.remote_ip;
      k.remote_port = ev.remote_port != 0 ? ev.remote_port : k.remote_port;
      k.local_port = ev.local_port != 0 ? ev.local_port : k.local_port;
      Schedule(q, slot, kPendConnected);
      break;
    case StackEventType::kTcpReadable:
      Schedule(q, slot, kPendRecv);
      break;
    case StackEventType::kTcpWritable:
      Schedule(q, slot, kPendSent);
      break;
    case StackEventType::kTcpPeerClosed:
      k.fin_seen = true;
      Schedule(q, slot, kPendFin);
      break;
    case StackEventType::kTcpClosed:
    case StackEventType::kTcpReset:
      k.dead_value = ev.type == StackEventType::kTcpClosed ? 0 : -TcpErrorToIx(ev.error);
      if (k.state == Conn::State::kKnock) {
        // Died before the app answered the knock: nobody knows the id yet.
        (void)stack_->Abort(k.engine);
        ReleaseConn(q, slot);
        return;
      }
      k.state = Conn::State::kDead;
      Schedule(q, slot, kPendDead | kPendRecv);
      break;
    default:
      break;
  }
}

int Processor::PumpStackEvents() {
  StackEvent evs[64];
  int total = 0;
  for (int round = 0; round < 64; ++round) {
    const size_t n = stack_->PollEvents(absl::MakeSpan(evs));
    for (size_t i = 0; i < n; ++i) HandleStackEvent(evs[i]);
    total += static_cast<int>(n);
    if (n < 64) break;
  }
  return total;
}

const AppCounters* Processor::queue_counters(uint32_t app, uint32_t queue) const {
  const Queue* q = FindQueue(app, queue);
  return q != nullptr ? &q->counters : nullptr;
}

AppCounters Processor::app_counters(uint32_t app) const {
  AppCounters sum;
  auto it = apps_.find(app);
  if (it == apps_.end()) return sum;
  for (const auto& q : it->second->queues) {
    const AppCounters& c = q->counters;
    sum.commands += c.commands;
    for (int i = 0; i < IX_ERROR_COUNT; ++i) sum.errors[i] += c.errors[i];
    sum.cmd_ring_corrupt += c.cmd_ring_corrupt;
    sum.ev_ring_corrupt += c.ev_ring_corrupt;
    sum.cmd_budget_hits += c.cmd_budget_hits;
    sum.buf_double_return += c.buf_double_return;
    sum.events_posted += c.events_posted;
    sum.rx_bytes += c.rx_bytes;
    sum.tx_bytes += c.tx_bytes;
    sum.rx_buf_starved += c.rx_buf_starved;
    sum.udp_dropped += c.udp_dropped;
    sum.knocks_dropped += c.knocks_dropped;
    sum.notify_dropped += c.notify_dropped;
    sum.wakeups += c.wakeups;
  }
  return sum;
}

size_t Processor::app_connections(uint32_t app) const {
  auto it = apps_.find(app);
  if (it == apps_.end()) return 0;
  size_t n = 0;
  for (const auto& q : it->second->queues) n += q->conns_in_use;
  return n;
}

size_t Processor::rx_buffers_out(uint32_t app, uint32_t queue) const {
  const Queue* q = FindQueue(app, queue);
  return q != nullptr ? q->bufs.size() - q->free_bufs.size() : 0;
}

}  // namespace ix::ixd

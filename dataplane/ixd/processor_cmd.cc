// Command processor: reading the command ring and executing (validated) commands.
#include <algorithm>
#include <cstring>

#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/processor_internal.h"

namespace ix::ixd {
namespace {

// Copies one slot out of shared memory with single-copy-atomic 8-byte loads, so that the compiler
// never re-reads a field the application may be rewriting.
void CopyCmd(const ix_cmd* slot, ix_cmd* out) {
  const uint64_t* src = reinterpret_cast<const uint64_t*>(slot);
  uint64_t words[sizeof(ix_cmd) / 8];
  for (size_t i = 0; i < sizeof(ix_cmd) / 8; ++i) words[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
  std::memcpy(out, words, sizeof(words));
}

constexpr int64_t Err(int code) { return -static_cast<int64_t>(code); }

}  // namespace

int Processor::ProcessCommands(uint64_t now_ns) {
  int total = 0;
  for (auto& [id, app] : apps_) {
    for (auto& q : app->queues) total += ProcessQueue(*q, now_ns);
  }
  return total;
}

int Processor::ProcessQueue(Queue& q, uint64_t now_ns) {
  ix_qp_header* h = q.v.header;
  const uint32_t prod = ix_load_acquire(&h->cmd_prod.value);
  uint32_t avail = prod - q.cmd_cons;
  if (avail == 0) return 0;
  if (avail > q.v.cmd_entries) {
    ++q.counters.cmd_ring_corrupt;  // never read beyond what one ring can hold
    return 0;
  }
  if (avail > config_.cmd_budget) {
    ++q.counters.cmd_budget_hits;
    avail = config_.cmd_budget;
  }
  const uint32_t mask = q.v.cmd_entries - 1;
  for (uint32_t i = 0; i < avail; ++i) {
    ix_cmd* slot = &q.v.cmds[q.cmd_cons & mask];
    ix_cmd cmd;
    CopyCmd(slot, &cmd);
    const int64_t ret = Execute(q, cmd, now_ns);
    ++q.counters.commands;
    if (ret < 0 && -ret < IX_ERROR_COUNT) ++q.counters.errors[-ret];
    ix_store_ret(&slot->ret, ret);
    ++q.cmd_cons;
  }
  ix_store_release(&h->cmd_cons.value, q.cmd_cons);
  // An app sleeping until its commands complete must hear about it even without new events.
  ix_fence_seq_cst();
  if (ix_load_relaxed(&h->app_sleeping.value) != 0 && wake_fn_) {
    ++q.counters.wakeups;
    wake_fn_(q.app->id, q.index);
  }
  return static_cast<int>(avail);
}

int64_t Processor::Execute(Queue& q, const ix_cmd& cmd, uint64_t now_ns) {
  if (cmd.reserved0 != 0) return Err(IX_EINVAL);  // room for future fields
  switch (cmd.op) {
    case IX_CMD_NOP:
      return 0;
    case IX_CMD_TCP_LISTEN:
      return CmdListen(q, cmd);
    case IX_CMD_TCP_UNLISTEN:
      return CmdUnlisten(q, cmd);
    case IX_CMD_TCP_CONNECT:
      return CmdConnect(q, cmd);
    case IX_CMD_TCP_ACCEPT:
      return CmdAccept(q, cmd, true);
    case IX_CMD_TCP_REJECT:
      return CmdAccept(q, cmd, false);
    case IX_CMD_TCP_SENDV:
      return CmdSendv(q, cmd);
    case IX_CMD_TCP_RECV_DONE:
      return CmdRecvDone(q, cmd);
    case IX_CMD_TCP_CLOSE:
      return CmdClose(q, cmd);
    case IX_CMD_UDP_BIND:
      return CmdUdpBind(q, cmd, true);
    case IX_CMD_UDP_UNBIND:
      return CmdUdpBind(q, cmd, false);
    case IX_CMD_UDP_SEND:
    case IX_CMD_UDP_SENDV:
      return CmdUdpSend(q, cmd);
    case IX_CMD_UDP_RECV_DONE:
      return CmdUdpRecvDone(q, cmd);
    case IX_CMD_TIMER_SET:
    case IX_CMD_TIMER_CANCEL:
      return CmdTimer(q, cmd, now_ns);
    default:
      return Err(IX_EINVAL);
  }
}

int64_t Processor::CmdListen(Queue& q, const ix_cmd& cmd) {
  if (cmd.port == 0 || cmd.flags != 0) return Err(IX_EINVAL);
  const uint32_t owner = tcp_port_owner_[cmd.port];
  if (owner == q.app->id) return Err(IX_EADDRINUSE);
  if (owner != 0) return Err(IX_EPERM);
  const uint32_t backlog =
      static_cast<uint32_t>(std::clamp<uint64_t>(cmd.arg, 1, config_.max_listen_backlog));
  if (!stack_->Listen(cmd.port, backlog).ok()) return Err(IX_EADDRINUSE);
  tcp_port_owner_[cmd.port] = q.app->id;
  q.app->tcp_ports.push_back(cmd.port);
  return 0;
}

int64_t Processor::CmdUnlisten(Queue& q, const ix_cmd& cmd) {
  if (cmd.port == 0 || cmd.flags != 0) return Err(IX_EINVAL);
  const uint32_t owner = tcp_port_owner_[cmd.port];
  if (owner == 0) return Err(IX_ESTATE);
  if (owner != q.app->id) return Err(IX_EPERM);
  (void)stack_->Unlisten(cmd.port);
  tcp_port_owner_[cmd.port] = 0;
  auto& ports = q.app->tcp_ports;
  ports.erase(std::remove(ports.begin(), ports.end(), cmd.port), ports.end());
  return 0;
}

int64_t Processor::CmdConnect(Queue& q, const ix_cmd& cmd) {
  if (cmd.remote_ip == 0 || cmd.port == 0 || cmd.flags != 0) return Err(IX_EINVAL);
  if (cmd.local_port != 0 && tcp_port_owner_[cmd.local_port] != 0 &&
      tcp_port_owner_[cmd.local_port] != q.app->id) {
    return Err(IX_EPERM);
  }
  const uint32_t slot = AllocConn(q);
  if (slot == kNoSlot) return Err(IX_ENOMEM);
  absl::StatusOr<ConnId> c = stack_->Connect(cmd.remote_ip, cmd.port, cmd.local_port);
  if (!c.ok()) {
    q.free_conns.push_back(slot);
    --q.conns_in_use;
    --q.app->conns;
    return Err(c.status().code() == absl::StatusCode::kAlreadyExists ? IX_EADDRINUSE : IX_ENOMEM);
  }
  Conn& k = q.conns[slot];
  k.state = Conn::State::kOpen;
  k.engine = *c;
  k.cookie = cmd.cookie;
  k.remote_ip = cmd.remote_ip;
  k.remote_port = cmd.port;
  k.local_port = cmd.local_port;
  by_engine_[*c] = Owner{&q, slot};
  return ConnIdOf(q, slot);
}

int64_t Processor::CmdAccept(Queue& q, const ix_cmd& cmd, bool accept) {
  if (cmd.flags != 0) return Err(IX_EINVAL);
  Conn* k = LookupConn(q, cmd.id);
  if (k == nullptr) return Err(IX_EBADID);
  if (k->state != Conn::State::kKnock) return Err(IX_ESTATE);
  const uint32_t slot = cmd.id & kSlotMask;
  if (!accept) {
    (void)stack_->Abort(k->engine);
    ReleaseConn(q, slot);
    return 0;
  }
  k->state = Conn::State::kOpen;
  k->cookie = cmd.cookie;
  // Data or an end that arrived before the answer was held back: let it flow now.
  if ((k->pending & ~kPendKnock) != 0 || stack_->Peek(k->engine).size() > 0) {
    Schedule(q, slot, kPendRecv);
  }
  return 0;
}

bool Processor::TxSpan(const Queue& q, uint64_t off, uint64_t len,
                       absl::Span<const uint8_t>* out) const {
  if (off > q.v.tx_bytes || len > q.v.tx_bytes - off) return false;
  *out = absl::Span<const uint8_t>(q.v.tx + off, len);
  return true;
}

int Processor::GatherTx(const Queue& q, const ix_cmd& cmd, absl::Span<const uint8_t>* spans,
                        size_t* count, uint64_t* total) const {
  *total = 0;
  if (cmd.iov_cnt == 0) {
    if (!TxSpan(q, cmd.data_off, cmd.len, &spans[0])) return IX_EFAULT;
    *count = 1;
    *total = cmd.len;
    return IX_OK;
  }
  if (cmd.iov_cnt > IX_MAX_IOV) return IX_EINVAL;
  absl::Span<const uint8_t> raw;
  if (!TxSpan(q, cmd.data_off, uint64_t{cmd.iov_cnt} * sizeof(ix_iov), &raw)) return IX_EFAULT;
  ix_iov iov[IX_MAX_IOV];
  std::memcpy(iov, raw.data(), raw.size());  // copied once, then checked: no TOCTOU
  for (uint32_t i = 0; i < cmd.iov_cnt; ++i) {
    if (!TxSpan(q, iov[i].off, iov[i].len, &spans[i])) return IX_EFAULT;
    *total += iov[i].len;
  }
  *count = cmd.iov_cnt;
  return IX_OK;
}

int64_t Processor::CmdSendv(Queue& q, const ix_cmd& cmd) {
  if (cmd.flags != 0) return Err(IX_EINVAL);
  Conn* k = LookupConn(q, cmd.id);
  if (k == nullptr) return Err(IX_EBADID);
  if (k->state == Conn::State::kDead) {
    return k->dead_value < 0 ? k->dead_value : Err(IX_ESTATE);
  }
  if (k->state != Conn::State::kOpen) return Err(IX_ESTATE);
  absl::Span<const uint8_t> spans[IX_MAX_IOV];
  size_t n = 0;
  uint64_t total = 0;
  if (int e = GatherTx(q, cmd, spans, &n, &total); e != IX_OK) return Err(e);
  uint64_t sent = 0;
  for (size_t i = 0; i < n; ++i) {
    if (spans[i].empty()) continue;
    TcpIoResult r = stack_->Send(k->engine, spans[i]);
    if (r.error != TcpError::kOk && r.error != TcpError::kWouldBlock) {
      if (sent > 0) break;
      return Err(TcpErrorToIx(r.error));
    }
    sent += r.bytes;
    if (r.bytes < spans[i].size()) break;  // short: a kTcpWritable (-> IX_EV_TCP_SENT) follows
  }
  q.counters.tx_bytes += sent;
  return static_cast<int64_t>(sent);
}

int64_t Processor::CmdRecvDone(Queue& q, const ix_cmd& cmd) {
  if (cmd.flags != 0) return Err(IX_EINVAL);
  Conn* k = LookupConn(q, cmd.id);
  if (k == nullptr || k->state == Conn::State::kKnock) return Err(IX_EBADID);
  if (cmd.buf >= q.bufs.size()) return Err(IX_EBADBUF);
  Queue::Buf& b = q.bufs[cmd.buf];
  if (b.state == Queue::BufState::kFree) {
    ++q.counters.buf_double_return;
    return Err(IX_EBADBUF);
  }
  if (b.state != Queue::BufState::kTcp || b.conn_id != cmd.id) return Err(IX_EBADBUF);
  const uint32_t len = b.len;
  b = Queue::Buf{};
  q.free_bufs.push_back(cmd.buf);
  q.buf_freed = true;
  --k->bufs_held;
  k->copied -= std::min(k->copied, len);
  (void)stack_->Consume(k->engine, len);  // reopens the receive window
  return 0;
}

int64_t Processor::CmdClose(Queue& q, const ix_cmd& cmd) {
  if ((cmd.flags & ~(IX_CLOSE_SHUTDOWN | IX_CLOSE_ABORT)) != 0 ||
      cmd.flags == (IX_CLOSE_SHUTDOWN | IX_CLOSE_ABORT)) {
    return Err(IX_EINVAL);
  }
  Conn* k = LookupConn(q, cmd.id);
  if (k == nullptr) return Err(IX_EBADID);
  const uint32_t slot = cmd.id & kSlotMask;
  if (cmd.flags == IX_CLOSE_SHUTDOWN) {
    if (k->state != Conn::State::kOpen) return Err(IX_ESTATE);
    return -static_cast<int64_t>(TcpErrorToIx(stack_->Shutdown(k->engine)));
  }
  if (cmd.flags == IX_CLOSE_ABORT || k->state == Conn::State::kKnock) {
    (void)stack_->Abort(k->engine);
  } else {
    // Bytes the app has been given count as read: only data it never saw makes Close an abort.
    if (k->copied > 0) (void)stack_->Consume(k->engine, k->copied);
    (void)stack_->Close(k->engine);
  }
  ReleaseConn(q, slot);
  return 0;
}

int64_t Processor::CmdUdpBind(Queue& q, const ix_cmd& cmd, bool bind) {
  if (cmd.port == 0 || cmd.flags != 0) return Err(IX_EINVAL);
  const uint32_t owner = udp_port_owner_[cmd.port];
  if (bind) {
    if (owner == q.app->id) return Err(IX_EADDRINUSE);
    if (owner != 0) return Err(IX_EPERM);
    if (!stack_->UdpBind(cmd.port).ok()) return Err(IX_EADDRINUSE);
    udp_port_owner_[cmd.port] = q.app->id;
    q.app->udp_ports.push_back(cmd.port);
    return 0;
  }
  if (owner == 0) return Err(IX_ESTATE);
  if (owner != q.app->id) return Err(IX_EPERM);
  (void)stack_->UdpUnbind(cmd.port);
  udp_port_owner_[cmd.port] = 0;
  auto& ports = q.app->udp_ports;
  ports.erase(std::remove(ports.begin(), ports.end(), cmd.port), ports.end());
  return 0;
}

int64_t Processor::CmdUdpSend(Queue& q, const ix_cmd& cmd) {
  if ((cmd.flags & ~IX_SEND_NOTIFY) != 0) return Err(IX_EINVAL);
  if (cmd.op == IX_CMD_UDP_SEND && cmd.iov_cnt != 0) return Err(IX_EINVAL);
  if (cmd.op == IX_CMD_UDP_SENDV && cmd.iov_cnt == 0) return Err(IX_EINVAL);
  if (cmd.remote_ip == 0 || cmd.port == 0 || cmd.local_port == 0) return Err(IX_EINVAL);
  if (udp_port_owner_[cmd.local_port] != q.app->id) return Err(IX_EPERM);
  absl::Span<const uint8_t> spans[IX_MAX_IOV];
  size_t n = 0;
  uint64_t total = 0;
  if (int e = GatherTx(q, cmd, spans, &n, &total); e != IX_OK) return Err(e);
  if (total > 1472) return Err(IX_EMSGSIZE);
  absl::Span<const uint8_t> payload = spans[0];
  if (n > 1) {
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!spans[i].empty()) std::memcpy(scratch_.data() + at, spans[i].data(), spans[i].size());
      at += spans[i].size();
    }
    payload = absl::MakeConstSpan(scratch_.data(), at);
  }
  const int e = stack_->UdpSend(cmd.local_port, cmd.remote_ip, cmd.port, payload);
  const int64_t ret = e == IX_OK ? static_cast<int64_t>(total) : Err(e);
  if (e == IX_OK) q.counters.tx_bytes += total;
  if ((cmd.flags & IX_SEND_NOTIFY) != 0) {
    ix_event ev{};
    ev.type = IX_EV_UDP_SENT;
    ev.cookie = cmd.cookie;
    ev.value = ret;
    ev.buf = IX_NO_BUF;
    ev.remote_ip = cmd.remote_ip;
    ev.remote_port = cmd.port;
    ev.local_port = cmd.local_port;
    if (!Post(q, ev)) ++q.counters.notify_dropped;
  }
  return ret;
}

int64_t Processor::CmdUdpRecvDone(Queue& q, const ix_cmd& cmd) {
  if (cmd.flags != 0) return Err(IX_EINVAL);
  if (cmd.buf >= q.bufs.size()) return Err(IX_EBADBUF);
  Queue::Buf& b = q.bufs[cmd.buf];
  if (b.state == Queue::BufState::kFree) {
    ++q.counters.buf_double_return;
    return Err(IX_EBADBUF);
  }
  if (b.state != Queue::BufState::kUdp) return Err(IX_EBADBUF);
  b = Queue::Buf{};
  q.free_bufs.push_back(cmd.buf);
  q.buf_freed = true;
  return 0;
}

int64_t Processor::CmdTimer(Queue& q, const ix_cmd& cmd, uint64_t now_ns) {
  if (cmd.flags != 0 || cmd.id >= IX_MAX_TIMERS) return Err(IX_EINVAL);
  Queue::Timer& t = q.timers[cmd.id];
  if (cmd.op == IX_CMD_TIMER_CANCEL) {
    if (!t.armed) return Err(IX_ESTATE);
    t.armed = false;
    return 0;
  }
  if (cmd.arg > config_.max_timer_delay_ns) return Err(IX_EINVAL);
  t.armed = true;
  t.deadline_ns = now_ns + cmd.arg;
  t.cookie = cmd.cookie;
  return 0;
}

}  // namespace ix::ixd

// ixev: per-connection callbacks, edge-triggered readiness and buffered sends over libix.
#include "ixev.h"

#include <algorithm>
#include <vector>

namespace ix::ev {
namespace {

constexpr size_t kMaxChunk = 64 * 1024;  // bytes per send command

}  // namespace

size_t Conn::Send(const void* data, size_t len) {
  if (closing_ || released_) return 0;
  const size_t buffered = send_buffered();
  const size_t room = send_limit > buffered ? send_limit - buffered : 0;
  const size_t n = std::min(len, room);
  if (n > 0) buf_.append(static_cast<const char*>(data), n);
  if (n < len) want_writable_ = true;
  Pump();
  return n;
}

void Conn::Close() {
  if (closing_ || released_) return;
  closing_ = true;
  Pump();
}

void Conn::Abort() { loop_->Release(this, /*abort=*/true); }

void Conn::Pump() {
  if (!has_id_ || inflight_ != 0 || blocked_ || released_) return;
  const size_t pending = send_buffered();
  if (pending == 0) {
    if (closing_) loop_->Release(this, /*abort=*/false);
    return;
  }
  const size_t chunk = std::min(pending, kMaxChunk);
  const int r = ix_tcp_send(loop_->ix_, id_, serial_, buf_.data() + buf_head_, chunk);
  if (r == 0) inflight_ = chunk;  // else (TX area full): retried by the next RunOnce
}

Loop::~Loop() = default;

int Loop::Listen(uint16_t port, std::function<void(Conn&)> on_accept, uint32_t backlog) {
  listeners_[port] = std::move(on_accept);
  return ix_tcp_listen(ix_, port, backlog);
}

Conn* Loop::Connect(uint32_t ip, uint16_t port) {
  auto c = std::make_unique<Conn>();
  c->loop_ = this;
  c->serial_ = next_serial_++;
  c->remote_ip_ = ip;
  c->remote_port_ = port;
  if (ix_tcp_connect(ix_, ip, port, c->serial_) != 0) return nullptr;
  Conn* raw = c.get();
  conns_[raw->serial_] = std::move(c);
  return raw;
}

Conn* Loop::Find(uint64_t serial) {
  auto it = conns_.find(serial);
  return it == conns_.end() ? nullptr : it->second.get();
}

void Loop::Release(Conn* c, bool abort) {
  if (c->released_) return;
  c->released_ = true;
  if (c->has_id_) {
    (void)(abort ? ix_tcp_abort(ix_, c->id_) : ix_tcp_close(ix_, c->id_));
  }
  // Destroyed at the end of RunOnce: callers up the stack may still hold it.
}

void Loop::Dispatch(const ix_event& ev) {
  switch (ev.type) {
    case IX_EV_TCP_KNOCK: {
      auto l = listeners_.find(ev.local_port);
      if (l == listeners_.end()) {
        (void)ix_tcp_reject(ix_, ev.id);
        return;
      }
      auto c = std::make_unique<Conn>();
      c->loop_ = this;
      c->serial_ = next_serial_++;
      c->id_ = ev.id;
      c->has_id_ = true;
      c->remote_ip_ = ev.remote_ip;
      c->remote_port_ = ev.remote_port;
      c->local_port_ = ev.local_port;
      Conn* raw = c.get();
      conns_[raw->serial_] = std::move(c);
      (void)ix_tcp_accept(ix_, ev.id, raw->serial_);
      l->second(*raw);
      return;
    }
    case IX_EV_CMD_DONE: {
      Conn* c = Find(ev.cookie);
      if (ev.flags == IX_CMD_TCP_SENDV && c != nullptr) {
        const size_t offered = c->inflight_;
        c->inflight_ = 0;
        if (ev.value < 0) {
          c->buf_.clear();  // the connection is dying; on_dead follows
          c->buf_head_ = 0;
          return;
        }
        c->buf_head_ += static_cast<size_t>(ev.value);
        if (c->buf_head_ > c->buf_.size() / 2) {
          c->buf_.erase(0, c->buf_head_);
          c->buf_head_ = 0;
        }
        // A short send waits for IX_EV_TCP_SENT, unless that event already went by: ix_poll may
        // hand it over before this result.
        if (static_cast<size_t>(ev.value) < offered && !c->sent_early_) c->blocked_ = true;
        c->sent_early_ = false;
        if (c->want_writable_ && c->send_buffered() <= c->send_limit / 2 && !c->released_) {
          c->want_writable_ = false;
          if (c->on_writable) c->on_writable(*c);
        }
        c->Pump();
        return;
      }
      if (ev.flags == IX_CMD_TCP_CONNECT && c != nullptr && ev.value < 0) {
        if (c->on_dead) c->on_dead(*c, static_cast<int>(ev.value));
        c->released_ = true;
        return;
      }
      if (ev.value < 0) ++command_errors_;
      return;
    }
    case IX_EV_UDP_RECV: {
      const void* p = ix_rx_data(ix_, &ev);
      if (on_udp && p != nullptr) on_udp(ev, static_cast<const uint8_t*>(p), ev.len);
      (void)ix_udp_recv_done(ix_, ev.buf);
      return;
    }
    case IX_EV_TIMER:
    case IX_EV_UDP_SENT:
      if (on_other) on_other(ev);
      return;
    default:
      break;
  }
  Conn* c = Find(ev.cookie);
  if (c == nullptr || c->released_) return;  // e.g. events of a connection we just closed
  switch (ev.type) {
    case IX_EV_TCP_CONNECTED:
      c->id_ = ev.id;
      c->has_id_ = true;
      c->local_port_ = ev.local_port;
      if (c->on_connected) c->on_connected(*c);
      c->Pump();
      break;
    case IX_EV_TCP_RECV:
      if ((ev.flags & IX_EVF_FIN) != 0) {
        if (c->on_eof) {
          c->on_eof(*c);
        } else {
          c->Close();
        }
        break;
      }
      if (c->on_recv) {
        const void* p = ix_rx_data(ix_, &ev);
        if (p != nullptr) c->on_recv(*c, static_cast<const uint8_t*>(p), ev.len);
      }
      if (!c->released_) (void)ix_tcp_recv_done(ix_, ev.id, ev.buf);
      break;
    case IX_EV_TCP_SENT:
      if (c->inflight_ != 0) c->sent_early_ = true;
      c->blocked_ = false;
      c->Pump();
      break;
    case IX_EV_TCP_DEAD:
      if (c->on_dead) c->on_dead(*c, static_cast<int>(ev.value));
      Release(c, /*abort=*/false);
      break;
    default:
      break;
  }
}

int Loop::RunOnce(int64_t timeout_ns) {
  ix_event evs[64];
  const int n = ix_poll(ix_, evs, 64, timeout_ns);
  if (n < 0) return n;
  for (int i = 0; i < n; ++i) Dispatch(evs[i]);
  // Sends that could not get TX memory earlier, and the dead.
  std::vector<uint64_t> dead;
  for (auto& [serial, c] : conns_) {
    if (!c->released_ && c->inflight_ == 0 && !c->blocked_ && c->send_buffered() > 0) c->Pump();
    if (c->released_) dead.push_back(serial);
  }
  for (uint64_t s : dead) conns_.erase(s);
  return n;
}

}  // namespace ix::ev

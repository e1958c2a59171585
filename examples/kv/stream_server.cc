// StreamServer: connections, held RX buffers, one send in flight per connection, closing.
#include "examples/kv/stream_server.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"

namespace ix::apps {
namespace {

constexpr int kMaxPumpRounds = 8;  // per connection per AfterEvents: bounds handler loops

bool IsTcpCommand(uint16_t op) {
  switch (op) {
    case IX_CMD_TCP_LISTEN:
    case IX_CMD_TCP_ACCEPT:
    case IX_CMD_TCP_REJECT:
    case IX_CMD_TCP_SENDV:
    case IX_CMD_TCP_RECV_DONE:
    case IX_CMD_TCP_CLOSE:
      return true;
    default:
      return false;
  }
}

}  // namespace

StreamServer::StreamServer(ix_t* ix, Factory factory, const StreamServerOptions& options)
    : ix_(ix), factory_(std::move(factory)), options_(options) {
  // Nothing is queued yet, so every slot is free: this is the ring's size.
  cmd_entries_ = ix_cmd_room(ix_) + ix_cmds_in_flight(ix_);
  options_.batch_bytes = std::max<size_t>(options_.batch_bytes, 1);
  options_.max_send_bytes = std::max<size_t>(options_.max_send_bytes, 1);
}

StreamServer::~StreamServer() = default;

int StreamServer::Listen() {
  listen_status_ = 1;
  const int r = ix_tcp_listen(ix_, options_.port, options_.backlog);
  if (r != 0) listen_status_ = r;
  return r;
}

size_t StreamServer::held_buffers() const {
  size_t n = 0;
  for (const auto& [serial, c] : conns_) n += c->held.size();
  return n;
}

StreamServer::Conn* StreamServer::Find(uint64_t serial) {
  auto it = conns_.find(serial);
  return it == conns_.end() ? nullptr : it->second.get();
}

void StreamServer::MarkDirty(Conn* c) {
  if (c->dirty || c->released) return;
  c->dirty = true;
  dirty_.push_back(c->serial);
}

bool StreamServer::HandleEvent(const ix_event& ev) {
  switch (ev.type) {
    case IX_EV_CMD_DONE: {
      if (!IsTcpCommand(ev.flags)) return false;
      if (ev.flags == IX_CMD_TCP_LISTEN) {
        if (listen_status_ != 1) return false;  // someone else's listen
        listen_status_ = static_cast<int>(ev.value);
        return true;
      }
      Conn* c = Find(ev.cookie);
      if (ev.flags == IX_CMD_TCP_SENDV) {
        if (c != nullptr) OnSendDone(c, ev.value);
        return true;
      }
      if (ev.value >= 0) return true;
      if (ev.flags == IX_CMD_TCP_ACCEPT) {
        // The peer gave up (reset) between the knock and our accept: a reset, not our error.
        ++counters_.reset;
        if (c != nullptr && !c->released) {
          c->released = true;  // the knock is gone: nothing to close
          ++counters_.closed;
          dead_.push_back(c->serial);
        }
        return true;
      }
      // Closing an id the dataplane already forgot (the peer reset it first) is harmless.
      if (!(ev.flags == IX_CMD_TCP_CLOSE && ev.value == -IX_EBADID)) {
        ++counters_.cmd_errors;
        counters_.last_error_op = ev.flags;
        counters_.last_error = ev.value;
      }
      return true;
    }
    case IX_EV_TCP_KNOCK:
      if (ev.local_port != options_.port) return false;
      OnKnock(ev);
      return true;
    case IX_EV_TCP_RECV:
    case IX_EV_TCP_SENT:
    case IX_EV_TCP_DEAD:
      break;
    default:
      return false;
  }
  if (ev.local_port != options_.port) return false;
  Conn* c = Find(ev.cookie);
  // Events of a connection we closed: the close reclaimed its buffers.
  if (c == nullptr || c->released) return true;
  switch (ev.type) {
    case IX_EV_TCP_RECV:
      OnRecv(c, ev);
      break;
    case IX_EV_TCP_SENT:
      ++c->sent_credit;
      MarkDirty(c);
      break;
    case IX_EV_TCP_DEAD:
      if (ev.value < 0) ++counters_.reset;
      // Nothing can be sent any more; the close releases the id and reclaims held buffers.
      c->out.clear();
      c->out_off = 0;
      Release(c, /*abort=*/false);
      break;
    default:
      break;
  }
  return true;
}

void StreamServer::OnKnock(const ix_event& ev) {
  if (conns_.size() >= options_.max_connections) {
    ++counters_.rejected;
    Issue({IX_CMD_TCP_REJECT, ev.id, 0});
    return;
  }
  auto c = std::make_unique<Conn>();
  c->serial = next_serial_++;
  c->id = ev.id;
  Issue({IX_CMD_TCP_ACCEPT, ev.id, c->serial});
  c->handler = factory_();
  ++counters_.accepted;
  conns_.emplace(c->serial, std::move(c));
}

void StreamServer::OnRecv(Conn* c, const ix_event& ev) {
  if ((ev.flags & IX_EVF_FIN) != 0) {
    c->eof = true;
    MarkDirty(c);
    return;
  }
  const void* data = ix_rx_data(ix_, &ev);
  if (data == nullptr || c->closing) {
    // Out of range (a broken dataplane) or input after the handler closed: drop it.
    RecvDone(c->id, ev.buf);
    return;
  }
  counters_.rx_bytes += ev.len;
  c->held.push_back(Held{ev.buf, static_cast<const uint8_t*>(data), ev.len, 0});
  MarkDirty(c);
}

void StreamServer::OnSendDone(Conn* c, int64_t value) {
  const size_t offered = c->inflight;
  c->inflight = 0;
  if (c->released) return;
  if (value < 0) {
    // The connection is dying (its IX_EV_TCP_DEAD may follow or may have been missed):
    // reset it rather than wait.
    c->out.clear();
    c->out_off = 0;
    Release(c, /*abort=*/true);
    return;
  }
  const size_t n = std::min(static_cast<size_t>(value), offered);
  c->out_off += n;
  counters_.tx_bytes += n;
  if (n < offered) {
    ++counters_.short_sends;
    --c->sent_credit;  // an IX_EV_TCP_SENT follows (or already came: the credit covers it)
  }
  if (c->out_off == c->out.size()) {
    c->out.clear();
    c->out_off = 0;
    // Give back the memory of a large reply.
    if (c->out.capacity() > 4 * options_.batch_bytes) c->out.shrink_to_fit();
  } else if (c->out_off >= options_.batch_bytes && c->out_off * 2 >= c->out.size()) {
    c->out.erase(0, c->out_off);
    c->out_off = 0;
  }
  MarkDirty(c);
}

void StreamServer::Feed(Conn* c) {
  while (!c->closing && c->out.size() - c->out_off < options_.batch_bytes &&
         (!c->held.empty() || c->again)) {
    absl::Span<const uint8_t> in;
    if (!c->held.empty()) {
      const Held& h = c->held.front();
      in = absl::MakeConstSpan(h.data + h.off, h.len - h.off);
    }
    StreamHandler::Result r = c->handler->OnData(in, &c->out);
    r.consumed = std::min(r.consumed, in.size());
    c->again = r.again;
    if (!c->held.empty()) {
      Held& h = c->held.front();
      h.off += static_cast<uint32_t>(r.consumed);
      if (h.off == h.len) {
        RecvDone(c->id, h.buf);
        c->held.pop_front();
      }
    }
    if (r.close) {
      c->closing = true;
      break;
    }
    if (r.again) break;  // its output goes out first
    if (r.consumed < in.size()) {
      c->closing = true;  // a handler that neither consumes nor asks again would spin
      break;
    }
  }
  if (c->eof && c->held.empty() && !c->again) c->closing = true;
}

bool StreamServer::StartSend(Conn* c) {
  if (!deferred_.empty() || !CommandRoom(1)) {
    ++counters_.deferred_cmds;
    return false;
  }
  const size_t n = std::min(c->out.size() - c->out_off, options_.max_send_bytes);
  void* p = ix_tx_alloc(ix_, n);
  if (p == nullptr) {
    ++counters_.tx_full;  // completions of earlier commands free TX memory
    return false;
  }
  std::memcpy(p, c->out.data() + c->out_off, n);
  iovec v{p, n};
  if (ix_tcp_sendv(ix_, c->id, c->serial, &v, 1) != 0) {
    ++counters_.deferred_cmds;
    return false;
  }
  c->inflight = n;
  ++counters_.sends;
  return true;
}

void StreamServer::Pump(Conn* c) {
  for (int round = 0; round < kMaxPumpRounds && !c->released; ++round) {
    Feed(c);
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
      if (c->closing && c->inflight == 0) {
        Release(c, /*abort=*/false);
        return;
      }
      if (c->again) continue;  // the handler has more to say
      return;                  // all input consumed, nothing to send
    }
    if (c->inflight != 0 || c->sent_credit < 0) return;  // a completion or SENT pumps again
    if (!StartSend(c)) MarkDirty(c);
    return;
  }
  if (!c->released) MarkDirty(c);
}

void StreamServer::Release(Conn* c, bool abort) {
  if (c->released) return;
  c->released = true;
  ++counters_.closed;
  QueueClose(c->id, abort);
  c->held.clear();  // the close reclaims them
  dead_.push_back(c->serial);
}

int StreamServer::IssueNow(const DeferredCmd& d) {
  switch (d.op) {
    case IX_CMD_TCP_RECV_DONE:
      return ix_tcp_recv_done(ix_, d.id, static_cast<uint32_t>(d.arg));
    case IX_CMD_TCP_CLOSE:
      return d.arg != 0 ? ix_tcp_abort(ix_, d.id) : ix_tcp_close(ix_, d.id);
    case IX_CMD_TCP_ACCEPT:
      return ix_tcp_accept(ix_, d.id, d.arg);
    case IX_CMD_TCP_REJECT:
      return ix_tcp_reject(ix_, d.id);
    case IX_CMD_UDP_RECV_DONE:
      return ix_udp_recv_done(ix_, static_cast<uint32_t>(d.arg));
    default:
      return -IX_EINVAL;
  }
}

void StreamServer::Issue(const DeferredCmd& d) {
  if (deferred_.empty() && CommandRoom(1) && IssueNow(d) == 0) return;
  ++counters_.deferred_cmds;
  deferred_.push_back(d);
}

std::string StreamServer::DebugString() const {
  std::string s = absl::StrFormat(
      "%d connections, %d deferred commands, %d dirty, %d command errors (last: op %d -> %d)\n",
      conns_.size(), deferred_.size(), dirty_.size(), counters_.cmd_errors,
      counters_.last_error_op, counters_.last_error);
  for (const auto& [serial, c] : conns_) {
    if (c->out.size() == c->out_off && c->held.empty() && !c->again) continue;
    s += absl::StrFormat(
        "  conn %d id %#x: out %d (sent %d) inflight %d sent_credit %d held %d again %d eof %d "
        "closing %d released %d\n",
        serial, c->id, c->out.size(), c->out_off, c->inflight, c->sent_credit, c->held.size(),
        c->again, c->eof, c->closing, c->released);
  }
  return s;
}

void StreamServer::AfterEvents() {
  // Commands that found the ring full go first, in their order.
  size_t done = 0;
  for (; done < deferred_.size() && CommandRoom(1); ++done) {
    if (IssueNow(deferred_[done]) != 0) break;
  }
  deferred_.erase(deferred_.begin(), deferred_.begin() + static_cast<ptrdiff_t>(done));

  std::vector<uint64_t> dirty;
  dirty.swap(dirty_);
  for (uint64_t serial : dirty) {
    Conn* c = Find(serial);
    if (c == nullptr) continue;
    c->dirty = false;
    Pump(c);
  }
  for (uint64_t serial : dead_) conns_.erase(serial);
  dead_.clear();
}

}  // namespace ix::apps

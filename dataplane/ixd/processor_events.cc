// Command processor: events into the app's ring, received bytes into its RX buffers, app timers.
#include <algorithm>
#include <cstring>

#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/processor_internal.h"

namespace ix::ixd {

bool Processor::EventRoom(Queue& q) {
  if (q.ring_bad) return false;
  const uint32_t cons = ix_load_acquire(&q.v.header->ev_cons.value);
  const uint32_t used = q.ev_prod - cons;
  if (used > q.v.ev_entries) {
    // The app wrote nonsense into ev_cons: it gets no events until it writes something sane.
    ++q.counters.ev_ring_corrupt;
    q.ring_bad = true;
    return false;
  }
  return used < q.v.ev_entries;
}

bool Processor::Post(Queue& q, const ix_event& ev) {
  if (!EventRoom(q)) return false;
  ix_event* slot = &q.v.events[q.ev_prod & (q.v.ev_entries - 1)];
  std::memcpy(static_cast<void*>(slot), &ev, sizeof(ev));
  ++q.ev_prod;
  ++q.counters.events_posted;
  return true;
}

void Processor::Publish(Queue& q) {
  if (q.ev_prod == q.ev_published) return;
  ix_store_release(&q.v.header->ev_prod.value, q.ev_prod);
  q.ev_published = q.ev_prod;
  ix_fence_seq_cst();
  if (ix_load_relaxed(&q.v.header->app_sleeping.value) != 0 && wake_fn_) {
    ++q.counters.wakeups;
    wake_fn_(q.app->id, q.index);
  }
}

uint32_t Processor::AllocBuf(Queue& q) {
  if (q.free_bufs.empty()) return kNoSlot;
  const uint32_t b = q.free_bufs.back();
  q.free_bufs.pop_back();
  return b;
}

bool Processor::CopyRecv(Queue& q, uint32_t slot) {
  Conn& k = q.conns[slot];
  k.pending &= static_cast<uint8_t>(~kPendRecv);
  const TcpReadView view = stack_->Peek(k.engine);
  const size_t total = view.size();
  if (k.copied > total) k.copied = static_cast<uint32_t>(total);  // the engine dropped data
  const uint32_t id = ConnIdOf(q, slot);
  while (k.copied < total) {
    if (!EventRoom(q)) {
      k.pending |= kPendRecv;
      return false;
    }
    if (k.bufs_held >= q.max_bufs_per_conn || q.free_bufs.empty()) {
      k.pending |= kPendRecv;
      if (!k.starved) {
        k.starved = true;
        q.starved.push_back(slot);
        ++q.counters.rx_buf_starved;
      }
      return true;
    }
    const uint32_t b = AllocBuf(q);
    const size_t n = std::min<size_t>(q.v.rx_buf_size, total - k.copied);
    uint8_t* dst = q.v.rx + static_cast<uint64_t>(b) * q.v.rx_buf_size;
    // Bytes [copied, copied + n) of first ++ second.
    size_t at = k.copied, done = 0;
    if (at < view.first.size()) {
      const size_t m = std::min(n, view.first.size() - at);
      std::memcpy(dst, view.first.data() + at, m);
      done = m;
      at += m;
    }
    if (done < n) {
      std::memcpy(dst + done, view.second.data() + (at - view.first.size()), n - done);
    }
    q.bufs[b].state = Queue::BufState::kTcp;
    q.bufs[b].conn_id = id;
    q.bufs[b].len = static_cast<uint32_t>(n);
    ix_event ev{};
    ev.type = IX_EV_TCP_RECV;
    ev.id = id;
    ev.cookie = k.cookie;
    ev.buf = b;
    ev.len = static_cast<uint32_t>(n);
    ev.data_off = static_cast<uint64_t>(b) * q.v.rx_buf_size;
    ev.remote_ip = k.remote_ip;
    ev.remote_port = k.remote_port;
    ev.local_port = k.local_port;
    (void)Post(q, ev);  // room was checked
    k.copied += static_cast<uint32_t>(n);
    ++k.bufs_held;
    q.counters.rx_bytes += n;
  }
  return true;
}

bool Processor::FlushConn(Queue& q, uint32_t slot) {
  Conn& k = q.conns[slot];
  if (k.state == Conn::State::kFree) return true;
  const uint32_t id = ConnIdOf(q, slot);
  ix_event ev{};
  ev.id = id;
  ev.cookie = k.cookie;
  ev.buf = IX_NO_BUF;
  ev.remote_ip = k.remote_ip;
  ev.remote_port = k.remote_port;
  ev.local_port = k.local_port;
  if (k.state == Conn::State::kKnock) {
    if ((k.pending & kPendKnock) != 0) {
      ev.type = IX_EV_TCP_KNOCK;
      if (!Post(q, ev)) return false;
      k.pending &= static_cast<uint8_t>(~kPendKnock);
    }
    return true;  // everything else waits for IX_CMD_TCP_ACCEPT
  }
  if ((k.pending & kPendConnected) != 0) {
    ev.type = IX_EV_TCP_CONNECTED;
    if (!Post(q, ev)) return false;
    k.pending &= static_cast<uint8_t>(~kPendConnected);
  }
  if ((k.pending & kPendRecv) != 0 && !k.starved) {
    if (!CopyRecv(q, slot)) return false;
  }
  const bool drained = !k.starved && (k.pending & kPendRecv) == 0;
  if ((k.pending & kPendFin) != 0 && drained) {
    ev.type = IX_EV_TCP_RECV;
    ev.flags = IX_EVF_FIN;
    if (!Post(q, ev)) return false;
    ev.flags = 0;
    k.pending &= static_cast<uint8_t>(~kPendFin);
    k.fin_posted = true;
  }
  if ((k.pending & kPendSent) != 0) {
    ev.type = IX_EV_TCP_SENT;
    ev.value = static_cast<int64_t>(stack_->SendSpace(k.engine));
    if (!Post(q, ev)) return false;
    k.pending &= static_cast<uint8_t>(~kPendSent);
  }
  // A normal end waits until the app has every byte and the FIN; a reset does not wait.
  if ((k.pending & kPendDead) != 0 &&
      (k.dead_value < 0 || (drained && (k.pending & kPendFin) == 0))) {
    ev.type = IX_EV_TCP_DEAD;
    ev.value = k.dead_value;
    if (!Post(q, ev)) return false;
    k.pending &= static_cast<uint8_t>(~kPendDead);
  }
  return true;
}

int Processor::FlushEvents() {
  int posted = 0;
  for (auto& [id, app] : apps_) {
    for (auto& qp : app->queues) {
      Queue& q = *qp;
      q.ring_bad = false;
      const uint64_t before = q.counters.events_posted;
      if (q.buf_freed) {
        q.buf_freed = false;
        std::vector<uint32_t> starved;
        starved.swap(q.starved);
        for (uint32_t slot : starved) {
          q.conns[slot].starved = false;
          Schedule(q, slot, kPendRecv);
        }
      }
      for (size_t n = q.pending.size(); n > 0; --n) {
        const uint32_t slot = q.pending.front();
        q.pending.pop_front();
        Conn& k = q.conns[slot];
        k.queued = false;
        if (!FlushConn(q, slot)) {
          k.queued = true;
          q.pending.push_front(slot);  // the ring is full: keep its place
          break;
        }
      }
      Publish(q);
      posted += static_cast<int>(q.counters.events_posted - before);
    }
  }
  return posted;
}

int Processor::RunTimers(uint64_t now_ns) {
  int fired = 0;
  for (auto& [id, app] : apps_) {
    for (auto& qp : app->queues) {
      Queue& q = *qp;
      for (uint32_t t = 0; t < IX_MAX_TIMERS; ++t) {
        Queue::Timer& timer = q.timers[t];
        if (!timer.armed || timer.deadline_ns > now_ns) continue;
        ix_event ev{};
        ev.type = IX_EV_TIMER;
        ev.id = t;
        ev.cookie = timer.cookie;
        ev.buf = IX_NO_BUF;
        if (!Post(q, ev)) break;  // retried on the next call
        timer.armed = false;
        ++fired;
      }
    }
  }
  return fired;
}

uint64_t Processor::NextDeadline() const {
  uint64_t best = ~uint64_t{0};
  for (const auto& [id, app] : apps_) {
    for (const auto& q : app->queues) {
      for (const auto& t : q->timers) {
        if (t.armed) best = std::min(best, t.deadline_ns);
      }
    }
  }
  return best;
}

bool Processor::HasWork() const {
  for (const auto& [id, app] : apps_) {
    for (const auto& q : app->queues) {
      // Only work that can make progress counts: a corrupt index or a full event ring must not
      // keep the dataplane spinning.
      const uint32_t cmds = ix_load_acquire(&q->v.header->cmd_prod.value) - q->cmd_cons;
      if (cmds != 0 && cmds <= q->v.cmd_entries) return true;
      if (q->ev_prod != q->ev_published) return true;
      const uint32_t used = q->ev_prod - ix_load_acquire(&q->v.header->ev_cons.value);
      const bool room = used < q->v.ev_entries;
      if (room && (!q->pending.empty() || (q->buf_freed && !q->starved.empty()))) return true;
    }
  }
  return false;
}

void Processor::SetSleeping(bool sleeping) {
  for (auto& [id, app] : apps_) {
    for (auto& q : app->queues) ix_store_relaxed(&q->v.header->dp_sleeping.value, sleeping ? 1 : 0);
  }
  ix_fence_seq_cst();
}

}  // namespace ix::ixd

// TCP engine timers: a min-heap of connections keyed by their earliest deadline (lazy: a key may
// be earlier than the real deadline, never later), Advance(), the retransmission (RFC 6298),
// persist, keepalive, delayed-ACK and TIME_WAIT / FIN_WAIT_2 handlers, and RTT estimation.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_sack.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {

// --- Heap --------------------------------------------------------------------------------------

void TcpEngine::HeapSwap(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  conns_[heap_[a]].heap_pos = static_cast<int32_t>(a);
  conns_[heap_[b]].heap_pos = static_cast<int32_t>(b);
}

void TcpEngine::HeapSiftUp(size_t pos) {
  while (pos > 0) {
    const size_t parent = (pos - 1) / 2;
    if (conns_[heap_[parent]].timer_key_ns <= conns_[heap_[pos]].timer_key_ns) break;
    HeapSwap(pos, parent);
    pos = parent;
  }
}

void TcpEngine::HeapSiftDown(size_t pos) {
  const size_t n = heap_.size();
  for (;;) {
    const size_t l = 2 * pos + 1;
    if (l >= n) break;
    size_t m = l;
    if (l + 1 < n && conns_[heap_[l + 1]].timer_key_ns < conns_[heap_[l]].timer_key_ns) m = l + 1;
    if (conns_[heap_[pos]].timer_key_ns <= conns_[heap_[m]].timer_key_ns) break;
    HeapSwap(pos, m);
    pos = m;
  }
}

void TcpEngine::HeapInsert(uint32_t idx, uint64_t key) {
  TcpConn& c = conns_[idx];
  c.timer_key_ns = key;
  c.heap_pos = static_cast<int32_t>(heap_.size());
  heap_.push_back(idx);
  HeapSiftUp(heap_.size() - 1);
}

void TcpEngine::HeapRemove(uint32_t idx) {
  TcpConn& c = conns_[idx];
  const size_t pos = static_cast<size_t>(c.heap_pos);
  const size_t last = heap_.size() - 1;
  if (pos != last) {
    HeapSwap(pos, last);
    heap_.pop_back();
    HeapSiftDown(pos);
    HeapSiftUp(pos);
  } else {
    heap_.pop_back();
  }
  c.heap_pos = -1;
  c.timer_key_ns = kNoDeadline;
}

void TcpEngine::ArmTimers(uint32_t idx) {
  TcpConn& c = conns_[idx];
  const uint64_t key = c.EarliestDeadline();
  if (key == kNoDeadline) {
    if (c.heap_pos >= 0) HeapRemove(idx);
    return;
  }
  if (c.heap_pos < 0) {
    HeapInsert(idx, key);
  } else if (key < c.timer_key_ns) {
    c.timer_key_ns = key;
    HeapSiftUp(static_cast<size_t>(c.heap_pos));
  }
  // A later deadline keeps the earlier key: Advance re-keys it when it comes up.
}

uint64_t TcpEngine::NextDeadline() const {
  return heap_.empty() ? kNoDeadline : conns_[heap_[0]].timer_key_ns;
}

void TcpEngine::Advance(uint64_t now_ns) {
  // Every handler moves its own deadline past now_ns, so each connection runs at most once per
  // call; the bound only guards against a broken invariant.
  size_t budget = 2 * heap_.size() + 16;
  while (!heap_.empty() && budget-- > 0) {
    const uint32_t idx = heap_[0];
    TcpConn& c = conns_[idx];
    if (c.timer_key_ns > now_ns) break;
    HeapRemove(idx);
    if (c.EarliestDeadline() > now_ns) {
      ArmTimers(idx);
      continue;
    }
    RunTimers(idx, now_ns);
    if (c.in_use && c.state != TcpState::kClosed) ArmTimers(idx);
  }
}

void TcpEngine::RunTimers(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  auto alive = [&c] { return c.in_use && c.state != TcpState::kClosed; };
  if (c.state_ns <= now_ns) {
    c.state_ns = kNoDeadline;
    OnStateTimeout(idx, now_ns);
    if (!alive()) return;
  }
  if (c.rtx_ns <= now_ns) {
    c.rtx_ns = kNoDeadline;
    OnRetransmitTimeout(idx, now_ns);
    if (!alive()) return;
  }
  if (c.persist_ns <= now_ns) {
    c.persist_ns = kNoDeadline;
    OnPersistTimeout(idx, now_ns);
    if (!alive()) return;
  }
  if (c.keepalive_ns <= now_ns) {
    c.keepalive_ns = kNoDeadline;
    OnKeepaliveTimeout(idx, now_ns);
    if (!alive()) return;
  }
  if (c.delack_ns <= now_ns) {
    c.delack_ns = kNoDeadline;
    if (c.unacked_segs > 0 || c.ack_now) {
      ++counters_.delayed_acks;
      SendAck(c, now_ns);
    }
  }
}

// --- RTO (RFC 6298) ---------------------------------------------------------------------------

uint64_t TcpEngine::CurrentRto(const TcpConn& c) const {
  uint64_t rto = c.rto_ns;
  for (uint8_t i = 0; i < c.backoff && rto < config_.max_rto_ns; ++i) rto *= 2;
  return std::min(rto, config_.max_rto_ns);
}

void TcpEngine::RestartRetransmitTimer(TcpConn& c, uint64_t now_ns) {
  c.rtx_ns = now_ns + CurrentRto(c);
}

void TcpEngine::RttSample(TcpConn& c, uint64_t rtt_ns) {
  if (c.srtt_ns == 0) {  // first measurement (2.2); srtt 0 is stored as 1 ns
    c.srtt_ns = std::max<uint64_t>(rtt_ns, 1);
    c.rttvar_ns = rtt_ns / 2;
  } else {  // 2.3, alpha = 1/8, beta = 1/4
    const uint64_t diff = c.srtt_ns > rtt_ns ? c.srtt_ns - rtt_ns : rtt_ns - c.srtt_ns;
    c.rttvar_ns = (3 * c.rttvar_ns + diff) / 4;
    c.srtt_ns = std::max<uint64_t>((7 * c.srtt_ns + rtt_ns) / 8, 1);
  }
  const uint64_t g = 1000;  // clock granularity: time is passed in nanoseconds
  c.rto_ns =
      std::clamp(c.srtt_ns + std::max(g, 4 * c.rttvar_ns), config_.min_rto_ns, config_.max_rto_ns);
  c.backoff = 0;  // Karn: a valid sample ends the backoff
}

void TcpEngine::OnRetransmitTimeout(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  const bool handshake = c.state == TcpState::kSynSent || c.state == TcpState::kSynReceived;
  if (!handshake && (c.snd_una == c.snd_max || c.persisting)) return;  // nothing outstanding
  ++counters_.rto_expirations;
  const uint32_t limit = handshake ? config_.max_syn_retransmits : config_.max_retransmits;
  if (c.retries >= limit) {
    ++counters_.conn_timeouts;
    // A connect that only ever heard ICMP soft errors says so (as Linux: sk_err_soft).
    EnterClosed(idx, c.soft_error != TcpError::kOk ? c.soft_error : TcpError::kTimedOut);
    return;
  }
  ++c.retries;
  if (c.backoff < 30) ++c.backoff;  // 5.5
  c.rtt_timing = false;
  if (handshake) {
    c.snd_nxt = c.iss;
    Output(idx, now_ns);
    return;
  }
  // RFC 5681 (4): halve ssthresh on the first timeout of a series, then restart from one segment.
  if (c.retries == 1) c.ssthresh = std::max(c.FlightSize() / 2, 2u * c.snd_mss);
  c.cwnd = c.snd_mss;
  c.bytes_acked_ca = 0;
  c.in_recovery = false;
  c.dupacks = 0;
  SackClear(c);               // RFC 6675 5.1: the receiver may have reneged
  c.recover = c.snd_max;      // RFC 6582 4.1: no fast retransmit for data sent before the timeout
  c.snd_nxt = c.snd_una;      // go back N
  RetransmitHead(c, now_ns);  // regardless of the peer's window: doubles as a probe
  Output(idx, now_ns);
}

// Zero-window probe or, with a small open window, the SWS override (RFC 9293 3.8.6.2.1).
void TcpEngine::OnPersistTimeout(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (!c.CanSendData()) return;
  const uint32_t data_end = c.snd_buf_seq + c.snd.size();
  const bool pending = SeqLt(c.snd_una, data_end);
  const bool really_outstanding = c.snd_max != c.snd_una && !c.persisting;
  if (!pending || really_outstanding) {
    c.persisting = false;
    c.persist_backoff = 0;
    return;
  }
  if (c.snd_wnd == 0) {
    // RFC 9293 3.8.3 R2: a peer that acknowledged none of max_retransmits probes in a row is gone
    // (any acceptable ACK resets the count, see HandleAck). Same end as a retransmission timeout.
    if (c.persist_probes >= config_.max_retransmits) {
      ++counters_.zero_window_aborts;
      ++counters_.conn_timeouts;
      EnterClosed(idx, TcpError::kTimedOut);
      return;
    }
    ++c.persist_probes;
    c.persisting = true;
    ++counters_.zero_window_probes;
    EmitData(c, c.snd_una, 1, false, now_ns);  // one byte past the closed window
    if (c.persist_backoff < 30) ++c.persist_backoff;
    uint64_t t = CurrentRto(c);
    for (uint8_t i = 0; i < c.persist_backoff && t < config_.max_rto_ns; ++i) t *= 2;
    c.persist_ns = now_ns + std::min(t, config_.max_rto_ns);
    return;
  }
  c.persisting = false;
  c.persist_backoff = 0;
  SendSomeData(c, now_ns, /*force=*/true);
}

void TcpEngine::OnKeepaliveTimeout(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (!config_.keepalive || !c.Synchronized() || c.state == TcpState::kTimeWait) return;
  if (c.snd_max != c.snd_una || c.persisting) {  // the retransmission timer watches the peer
    c.keepalive_ns = now_ns + config_.keepalive_idle_ns;
    return;
  }
  if (c.keepalive_sent >= config_.keepalive_probes) {
    ++counters_.conn_timeouts;
    EnterClosed(idx, TcpError::kTimedOut);
    return;
  }
  // RFC 9293 3.8.4: an ACK with SEG.SEQ = SND.NXT - 1 makes the peer answer with an ACK.
  TcpSegmentView seg;
  FillCommon(c, &seg, now_ns);
  seg.seq = c.snd_max - 1;
  seg.ack = c.rcv_nxt;
  seg.flags = kTcpAck;
  seg.window = AdvertiseWindow(c);
  ++counters_.keepalive_probes;
  ++c.keepalive_sent;
  Emit(seg);
  c.keepalive_ns = now_ns + config_.keepalive_interval_ns;
}

void TcpEngine::OnStateTimeout(uint32_t idx, uint64_t now_ns) {
  (void)now_ns;
  TcpConn& c = conns_[idx];
  if (c.state == TcpState::kTimeWait) {
    EnterClosed(idx, TcpError::kOk);
  } else if (c.state == TcpState::kFinWait2 && !c.app_owned) {
    ++counters_.conn_timeouts;
    EnterClosed(idx, TcpError::kOk);
  }
}

}  // namespace ix::net::tcp

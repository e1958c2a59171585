// TCP engine output: what to send and when (windows, Nagle/SWS avoidance, FIN), segment
// construction, ACKs, challenge ACKs, RSTs and SYN-cookie SYN-ACKs.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_sack.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {

void TcpEngine::Emit(const TcpSegmentView& seg) {
  ++counters_.tx_segments;
  if (seg.flags & kTcpRst) ++counters_.tx_rst;
  output_->Emit(seg);
}

uint32_t TcpEngine::TsNow(const TcpConn& c, uint64_t now_ns) const {
  return static_cast<uint32_t>(now_ns / config_.ts_tick_ns) + c.ts_offset;
}

void TcpEngine::FillCommon(const TcpConn& c, TcpSegmentView* seg, uint64_t now_ns) {
  seg->src_ip = c.tuple.local_ip;
  seg->dst_ip = c.tuple.remote_ip;
  seg->src_port = c.tuple.local_port;
  seg->dst_port = c.tuple.remote_port;
  if (c.ts_ok) {
    seg->options.has_timestamps = true;
    seg->options.ts_val = TsNow(c, now_ns);
    seg->options.ts_ecr = c.ts_recent;
  }
}

// The window field for a segment to the peer; moves rcv_adv. Receiver-side SWS avoidance
// (RFC 9293 3.8.6.2.2): the right edge only advances by at least min(buffer/2, MSS), and never
// retreats. Invariant: rcv_adv - rcv_nxt <= free ring space, so accepted data always fits.
uint16_t TcpEngine::AdvertiseWindow(TcpConn& c) {
  const uint32_t max_wnd = uint32_t{65535} << c.rcv_wscale;
  const uint32_t free = std::min(c.rcv.free(), max_wnd);
  const uint32_t cur = c.RcvWnd();
  const uint32_t threshold = std::min<uint32_t>(c.rcv.capacity() / 2, config_.mss);
  uint32_t wnd = cur;
  if (free >= cur + threshold || (free > cur && free == std::min(c.rcv.capacity(), max_wnd))) {
    wnd = free;
  }
  const uint32_t field = wnd >> c.rcv_wscale;
  c.rcv_adv = SeqMax(c.rcv_adv, c.rcv_nxt + (field << c.rcv_wscale));
  return static_cast<uint16_t>(field);
}

void TcpEngine::MaybeWindowUpdate(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (!c.CanReceiveData()) return;
  const uint32_t max_wnd = uint32_t{65535} << c.rcv_wscale;
  const uint32_t free = std::min(c.rcv.free(), max_wnd);
  const uint32_t cur = c.RcvWnd();
  // Tell the peer once the window grew by two segments or half the buffer (RFC 1122 4.2.3.3).
  const uint32_t step = std::min<uint32_t>(c.rcv.capacity() / 2, 2u * config_.mss);
  if (free >= cur + step) {
    ++counters_.window_updates;
    SendAck(c, now_ns);
    ArmTimers(idx);
  }
}

void TcpEngine::SendSyn(TcpConn& c, uint64_t now_ns) {
  TcpSegmentView seg;
  const bool passive = c.state == TcpState::kSynReceived;
  seg.src_ip = c.tuple.local_ip;
  seg.dst_ip = c.tuple.remote_ip;
  seg.src_port = c.tuple.local_port;
  seg.dst_port = c.tuple.remote_port;
  seg.seq = c.iss;
  seg.flags = kTcpSyn;
  seg.window = static_cast<uint16_t>(std::min<uint32_t>(c.rcv.free(), 65535));
  seg.options.has_mss = true;
  seg.options.mss = config_.mss;
  // Active open: offer what the config allows. SYN-ACK: answer only what the peer offered.
  const bool offer_ws = passive ? c.wscale_ok : config_.window_scaling;
  const bool offer_ts = passive ? c.ts_ok : config_.timestamps;
  seg.options.sack_permitted = passive ? c.sack_ok : config_.sack;
  if (offer_ws) {
    seg.options.has_wscale = true;
    seg.options.wscale = rcv_wscale_;
  }
  if (offer_ts) {
    seg.options.has_timestamps = true;
    seg.options.ts_val = TsNow(c, now_ns);
    seg.options.ts_ecr = passive ? c.ts_recent : 0;
  }
  if (passive) {
    seg.flags |= kTcpAck;
    seg.ack = c.rcv_nxt;
    c.rcv_adv = SeqMax(c.rcv_adv, c.rcv_nxt + seg.window);
    c.last_ack_sent = c.rcv_nxt;
    c.ack_now = false;
  }
  const bool retransmit = c.snd_max != c.iss;
  if (retransmit) {
    ++counters_.retransmits;
    c.rtt_timing = false;
  } else {
    c.rtt_timing = true;
    c.rtt_seq = c.iss;
    c.rtt_start_ns = now_ns;
  }
  Emit(seg);
  c.snd_nxt = c.iss + 1;
  c.snd_max = SeqMax(c.snd_max, c.snd_nxt);
  if (c.rtx_ns == kNoDeadline) RestartRetransmitTimer(c, now_ns);
}

void TcpEngine::EmitData(TcpConn& c, uint32_t seq, uint32_t len, bool fin, uint64_t now_ns) {
  TcpSegmentView seg;
  FillCommon(c, &seg, now_ns);
  seg.seq = seq;
  seg.ack = c.rcv_nxt;
  seg.flags = kTcpAck;
  if (fin) seg.flags |= kTcpFin;
  const uint32_t data_end = c.snd_buf_seq + c.snd.size();
  if (len > 0 && seq + len == data_end) seg.flags |= kTcpPsh;
  seg.window = AdvertiseWindow(c);
  if (len > 0) {
    TcpRing::Pieces p = c.snd.Peek(seq - c.snd_buf_seq, len);
    seg.payload[0] = p.first;
    seg.payload[1] = p.second;
  }
  Emit(seg);
  if (len > 0) ++counters_.tx_data_segments;

  const uint32_t end = seq + len + (fin ? 1 : 0);
  if (SeqLt(seq, c.snd_max)) {
    ++counters_.retransmits;
    counters_.retransmitted_bytes += std::min(len, c.snd_max - seq);
    c.rtt_timing = false;  // Karn: a retransmitted segment gives no RTT sample
  } else if (!c.rtt_timing && !c.ts_ok) {
    c.rtt_timing = true;
    c.rtt_seq = seq;
    c.rtt_start_ns = now_ns;
  }
  if (seq == c.snd_nxt) c.snd_nxt = end;
  c.snd_max = SeqMax(c.snd_max, end);
  if (c.rtx_ns == kNoDeadline && !c.persisting) RestartRetransmitTimer(c, now_ns);
  // Data segments carry no SACK blocks (they would eat into the payload): while data is held out
  // of order, an ACK that was due still goes out as a pure ACK with them (Output, SendAck).
  c.ack_now = c.ack_now && c.sack_ok && c.ooo_count > 0;
  c.unacked_segs = 0;
  c.delack_ns = kNoDeadline;
  c.last_ack_sent = c.rcv_nxt;
}

void TcpEngine::RetransmitHead(TcpConn& c, uint64_t now_ns) {
  const uint32_t data_end = c.snd_buf_seq + c.snd.size();
  const uint32_t len =
      SeqLt(c.snd_una, data_end) ? std::min<uint32_t>(data_end - c.snd_una, c.snd_mss) : 0;
  const bool fin = c.fin_queued && c.snd_una + len == c.fin_seq && SeqGt(c.snd_max, c.fin_seq);
  if (len == 0 && !fin) return;
  EmitData(c, c.snd_una, len, fin, now_ns);
}

// Sends as many segments as the peer's window, cwnd, Nagle and SWS avoidance allow. `force`
// (persist timer) lets one window-limited small segment out. Returns true if anything was sent.
bool TcpEngine::SendSomeData(TcpConn& c, uint64_t now_ns, bool force) {
  bool any = false;
  // SACK recovery (RFC 6675 5 step C): holes first, then new data, both while cwnd - pipe allows.
  const bool sack_recovery = c.sack_ok && c.in_recovery;
  uint32_t pipe = 0;
  if (sack_recovery) {
    pipe = SackPipe(c);
    const uint32_t data_end = c.snd_buf_seq + c.snd.size();
    uint32_t seq = 0, len = 0;
    for (uint32_t guard = 0; guard < 4 * kMaxSackedRanges * 64; ++guard) {
      if (c.cwnd < pipe + c.snd_mss || !SackNextSeg(c, data_end, &seq, &len)) break;
      EmitData(c, seq, len, false, now_ns);
      c.high_rxt = seq + len;
      pipe += len;
      ++counters_.sack_retransmits;
      any = true;
    }
  }
  for (int guard = 0; guard < 1 << 20; ++guard) {
    const uint32_t data_end = c.snd_buf_seq + c.snd.size();
    const uint32_t avail = SeqLt(c.snd_nxt, data_end) ? data_end - c.snd_nxt : 0;
    const bool fin_pending = c.fin_queued && SeqLeq(c.snd_nxt, c.fin_seq);
    if (avail == 0 && !fin_pending) break;
    const uint32_t in_flight = c.snd_nxt - c.snd_una;
    uint32_t usable;
    if (sack_recovery) {  // the peer's window still counts from SND.UNA; cwnd against pipe
      const uint32_t rwnd_left = c.snd_wnd > in_flight ? c.snd_wnd - in_flight : 0;
      usable = std::min(rwnd_left, c.cwnd > pipe ? c.cwnd - pipe : 0);
    } else {
      const uint32_t wnd = std::min(c.snd_wnd, c.cwnd);
      usable = wnd > in_flight ? wnd - in_flight : 0;
    }
    const uint32_t len = std::min<uint32_t>({avail, usable, c.snd_mss});
    const bool fin = fin_pending && len == avail;
    if (len == 0 && !fin) break;
    if (len > 0 && len < c.snd_mss && !fin && !force) {
      const bool all_queued = len == avail;
      const bool idle = c.snd_nxt == c.snd_una;
      const bool ok = (all_queued && (!config_.nagle || idle)) ||
                      (c.max_snd_wnd > 0 && len >= c.max_snd_wnd / 2);
      if (!ok) break;
    }
    force = false;
    EmitData(c, c.snd_nxt, len, fin, now_ns);
    pipe += len + (fin ? 1 : 0);
    any = true;
  }
  // Data waits but nothing is in flight to bring a window update: probe (RFC 9293 3.8.6.1).
  const uint32_t data_end = c.snd_buf_seq + c.snd.size();
  if (SeqLt(c.snd_nxt, data_end) && c.snd_max == c.snd_una && c.persist_ns == kNoDeadline) {
    c.persist_ns = now_ns + CurrentRto(c);
  }
  return any;
}

void TcpEngine::Output(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (!c.in_use) return;
  switch (c.state) {
    case TcpState::kClosed:
      return;
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      if (c.snd_nxt == c.iss) SendSyn(c, now_ns);
      c.ack_now = false;
      break;
    default:
      if (c.CanSendData()) SendSomeData(c, now_ns, false);
      if (c.ack_now) SendAck(c, now_ns);
      break;
  }
  ArmTimers(idx);
}

void TcpEngine::SendAck(TcpConn& c, uint64_t now_ns) {
  TcpSegmentView seg;
  FillCommon(c, &seg, now_ns);
  // snd_max, not snd_nxt: after a timeout snd_nxt is pulled back, and an ACK carrying an old
  // sequence number would be unacceptable to the peer (which answers with an ACK: an ACK storm).
  seg.seq = c.snd_max;
  seg.ack = c.rcv_nxt;
  seg.flags = kTcpAck;
  seg.window = AdvertiseWindow(c);
  counters_.sack_blocks_tx += FillSackBlocks(c, &seg.options);  // RFC 2018 4
  ++counters_.tx_pure_acks;
  Emit(seg);
  c.ack_now = false;
  c.unacked_segs = 0;
  c.delack_ns = kNoDeadline;
  c.last_ack_sent = c.rcv_nxt;
}

// RFC 5961 7: challenge ACKs are rate limited engine-wide.
void TcpEngine::SendChallengeAck(TcpConn& c, uint64_t now_ns) {
  if (now_ns - challenge_window_start_ns_ >= 1'000'000'000ull) {
    challenge_window_start_ns_ = now_ns;
    challenge_acks_in_window_ = 0;
  }
  if (challenge_acks_in_window_ >= config_.challenge_acks_per_second) {
    ++counters_.challenge_acks_suppressed;
    return;
  }
  ++challenge_acks_in_window_;
  ++counters_.challenge_acks;
  SendAck(c, now_ns);
}

// RFC 9293 3.10.7.1: the reset for a segment that belongs to no connection.
void TcpEngine::SendRstFor(const TcpSegmentView& in) {
  if (in.flags & kTcpRst) return;
  TcpSegmentView seg;
  seg.src_ip = in.dst_ip;
  seg.dst_ip = in.src_ip;
  seg.src_port = in.dst_port;
  seg.dst_port = in.src_port;
  if (in.flags & kTcpAck) {
    seg.seq = in.ack;
    seg.flags = kTcpRst;
  } else {
    seg.seq = 0;
    seg.ack = in.seq + in.SeqLen();
    seg.flags = kTcpRst | kTcpAck;
  }
  Emit(seg);
}

void TcpEngine::SendRstOnConn(TcpConn& c, uint64_t now_ns) {
  TcpSegmentView seg;
  FillCommon(c, &seg, now_ns);
  seg.seq = c.snd_max;
  seg.ack = c.rcv_nxt;
  seg.flags = kTcpRst | kTcpAck;
  Emit(seg);
}

// A stateless SYN-ACK whose ISN is a cookie. With timestamps, the low 4 bits of our TSval carry
// the peer's window scale (15: none) and bit 4 whether we both do SACK, so the returning ACK's
// TSecr restores them (as Linux does). Without timestamps there is nowhere to keep SACK-permitted:
// cookie SYN-ACKs then do not offer it and such connections run NewReno.
void TcpEngine::SendCookieSynAck(const TcpSegmentView& in, uint64_t now_ns) {
  const TcpFourTuple t{in.dst_ip, in.src_ip, in.dst_port, in.src_port};
  const uint16_t peer_mss = in.options.has_mss ? in.options.mss : 536;
  const uint32_t cookie =
      MakeSynCookie(config_.secret, t, in.seq, now_ns, CookieMssIndex(peer_mss));
  TcpSegmentView seg;
  seg.src_ip = in.dst_ip;
  seg.dst_ip = in.src_ip;
  seg.src_port = in.dst_port;
  seg.dst_port = in.src_port;
  seg.seq = cookie;
  seg.ack = in.seq + 1;
  seg.flags = kTcpSyn | kTcpAck;
  seg.window = static_cast<uint16_t>(std::min<uint32_t>(recv_buf_bytes_, 65535));
  seg.options.has_mss = true;
  seg.options.mss = std::min<uint16_t>(config_.mss, CookieMssValue(CookieMssIndex(peer_mss)));
  const bool ts = config_.timestamps && in.options.has_timestamps;
  if (ts) {
    const bool ws = config_.window_scaling && in.options.has_wscale;
    const uint32_t code = ws ? std::min<uint8_t>(in.options.wscale, 14) : 15;
    const bool sack = config_.sack && in.options.sack_permitted;
    const uint32_t now_ts = static_cast<uint32_t>(now_ns / config_.ts_tick_ns) + TsOffsetFor(t);
    uint32_t ts_val = (now_ts & ~0x1fu) | (sack ? 0x10u : 0u) | code;
    if (SeqGt(ts_val, now_ts)) ts_val -= 32;
    seg.options.sack_permitted = sack;
    seg.options.has_timestamps = true;
    seg.options.ts_val = ts_val;
    seg.options.ts_ecr = in.options.ts_val;
    if (ws) {
      seg.options.has_wscale = true;
      seg.options.wscale = rcv_wscale_;
    }
  }
  ++counters_.syn_cookies_sent;
  cookie_sent_ever_ = true;
  last_cookie_sent_ns_ = now_ns;
  Emit(seg);
}

}  // namespace ix::net::tcp

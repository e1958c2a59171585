// TCP engine input: demultiplexing, LISTEN / SYN_SENT / synchronized-state processing in the
// order of RFC 9293 3.10.7 (sequence check, RST, SYN, ACK, text, FIN) with RFC 5961 and RFC 7323
// PAWS checks, SYN cookies, and out-of-order reassembly into the receive ring.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {

constexpr uint16_t kMinPeerMss = 88;  // refuse absurdly small MSS values (resource attack)

void CountParseError(TcpParseResult r, TcpCounters& k) {
  switch (r) {
    case TcpParseResult::kOk:
      break;
    case TcpParseResult::kTooShort:
      ++k.rx_too_short;
      break;
    case TcpParseResult::kBadDataOffset:
      ++k.rx_bad_data_offset;
      break;
    case TcpParseResult::kBadChecksum:
      ++k.rx_bad_checksum;
      break;
    case TcpParseResult::kBadOption:
      ++k.rx_bad_option;
      break;
    case TcpParseResult::kBadPort:
      ++k.rx_bad_port;
      break;
    case TcpParseResult::kBadFlags:
      ++k.rx_bad_flags;
      break;
  }
}

}  // namespace

void TcpEngine::Receive(uint32_t src_ip, uint32_t dst_ip, absl::Span<const uint8_t> segment,
                        uint64_t now_ns) {
  ++counters_.rx_segments;
  TcpSegmentView seg;
  const TcpParseResult r = ParseTcpSegment(src_ip, dst_ip, segment, config_.verify_checksum, &seg);
  if (r != TcpParseResult::kOk) {
    CountParseError(r, counters_);
    return;
  }
  const TcpFourTuple t{dst_ip, src_ip, seg.dst_port, seg.src_port};
  const int32_t found = TableFind(t);
  if (found < 0) {
    const int li = FindListener(seg.dst_port);
    if (li >= 0) {
      HandleListen(li, seg, now_ns);
    } else {
      ++counters_.rx_no_connection;
      SendRstFor(seg);
    }
    return;
  }
  const uint32_t idx = static_cast<uint32_t>(found);
  TcpConn& c = conns_[idx];
  switch (c.state) {
    case TcpState::kSynSent:
      HandleSynSent(idx, seg, now_ns);
      break;
    case TcpState::kTimeWait: {
      // RFC 6191 / RFC 1122 4.2.2.13: a new SYN may reopen a TIME_WAIT connection when it is
      // clearly newer (timestamp, else sequence number).
      const int li = FindListener(seg.dst_port);
      const bool newer = (c.ts_ok && seg.options.has_timestamps)
                             ? SeqGt(seg.options.ts_val, c.ts_recent)
                             : SeqGt(seg.seq, c.rcv_nxt);
      if ((seg.flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && li >= 0 && newer) {
        ++counters_.time_wait_reused;
        EnterClosed(idx, TcpError::kOk);
        HandleListen(li, seg, now_ns);
        return;
      }
      HandleSynchronized(idx, seg, now_ns);
      break;
    }
    default:
      HandleSynchronized(idx, seg, now_ns);
      break;
  }
  if (c.in_use && c.state != TcpState::kClosed) Output(idx, now_ns);
}

void TcpEngine::NegotiateOptions(TcpConn& c, const TcpOptions& peer) {
  const uint16_t peer_mss = peer.has_mss ? std::max(peer.mss, kMinPeerMss) : 536;
  if (config_.window_scaling && peer.has_wscale) {
    c.wscale_ok = true;
    c.snd_wscale = std::min<uint8_t>(peer.wscale, 14);
    c.rcv_wscale = rcv_wscale_;
  } else {
    c.wscale_ok = false;
    c.snd_wscale = 0;
    c.rcv_wscale = 0;
  }
  if (config_.timestamps && peer.has_timestamps) {
    c.ts_ok = true;
    c.ts_recent = peer.ts_val;
  } else {
    c.ts_ok = false;
  }
  c.sack_ok = config_.sack && peer.sack_permitted;
  uint16_t mss = std::min(peer_mss, config_.mss);
  if (c.ts_ok) mss = static_cast<uint16_t>(mss - kTcpTimestampOptionBytes);
  c.snd_mss = mss;
  c.cwnd = config_.initial_cwnd_segments * uint32_t{mss};
  c.ssthresh = 0x7fffffff;
}

// RFC 9293 3.10.7.2 (LISTEN), with SYN cookies when the backlog or the table is full.
void TcpEngine::HandleListen(int li, const TcpSegmentView& seg, uint64_t now_ns) {
  if (seg.flags & kTcpRst) return;
  if (seg.flags & kTcpAck) {
    if (!(seg.flags & kTcpSyn) && config_.syn_cookies && AcceptCookie(li, seg, now_ns)) return;
    SendRstFor(seg);
    return;
  }
  if (!(seg.flags & kTcpSyn)) {
    ++counters_.rx_listen_dropped;
    return;
  }
  Listener& l = listeners_[li];
  const bool backlog_full = l.half_open >= l.backlog;
  if (backlog_full || free_slots_.empty()) {
    if (config_.syn_cookies) {
      SendCookieSynAck(seg, now_ns);
    } else if (backlog_full) {
      ++counters_.backlog_drops;
    } else {
      ++counters_.table_full_drops;
    }
    return;
  }
  const uint32_t idx = AllocConn();
  if (idx == kNoSlot) {
    ++counters_.table_full_drops;
    return;
  }
  TcpConn& c = conns_[idx];
  InitConn(c, TcpFourTuple{seg.dst_ip, seg.src_ip, seg.dst_port, seg.src_port}, now_ns);
  c.state = TcpState::kSynReceived;
  c.passive = true;
  c.listener = static_cast<int16_t>(li);
  c.listen_port = l.port;
  ++l.half_open;
  c.irs = seg.seq;
  c.rcv_nxt = seg.seq + 1;
  c.rcv_adv = c.rcv_nxt;
  NegotiateOptions(c, seg.options);
  c.snd_wnd = seg.window;  // never scaled in a SYN
  c.max_snd_wnd = c.snd_wnd;
  c.snd_wl1 = seg.seq;
  c.snd_wl2 = c.iss;
  TableInsert(idx);
  ++counters_.passive_opens;
  Output(idx, now_ns);  // SYN-ACK
}

bool TcpEngine::AcceptCookie(int li, const TcpSegmentView& seg, uint64_t now_ns) {
  // Only while (or shortly after) we were handing out cookies.
  if (!cookie_sent_ever_ || now_ns - last_cookie_sent_ns_ > 2 * kSynCookiePeriodNs) return false;
  const TcpFourTuple t{seg.dst_ip, seg.src_ip, seg.dst_port, seg.src_port};
  uint16_t cookie_mss = 0;
  if (!CheckSynCookie(config_.secret, t, seg.seq - 1, seg.ack - 1, now_ns, &cookie_mss)) {
    ++counters_.syn_cookies_rejected;
    return false;
  }
  const uint32_t idx = AllocConn();
  if (idx == kNoSlot) {
    // Valid, but no slot: the peer believes it is connected, so a silent drop would leave it
    // waiting for data that never comes. RFC 9293 3.10.7.1: refuse it with a RST (ECONNRESET).
    ++counters_.table_full_drops;
    ++counters_.cookie_table_full_resets;
    SendRstFor(seg);
    return true;
  }
  TcpConn& c = conns_[idx];
  InitConn(c, t, now_ns);
  c.iss = seg.ack - 1;
  c.snd_una = c.snd_nxt = c.snd_max = seg.ack;
  c.snd_buf_seq = seg.ack;
  c.recover = seg.ack;
  c.irs = seg.seq - 1;
  c.rcv_nxt = seg.seq;
  c.rcv_adv = c.rcv_nxt + std::min<uint32_t>(recv_buf_bytes_, 65535);
  TcpOptions peer;
  peer.has_mss = true;
  peer.mss = cookie_mss;
  if (config_.timestamps && seg.options.has_timestamps) {
    peer.has_timestamps = true;
    peer.ts_val = seg.options.ts_val;
    const uint8_t code = seg.options.ts_ecr & 0xf;
    if (code != 15) {
      peer.has_wscale = true;
      peer.wscale = code;
    }
    peer.sack_permitted = (seg.options.ts_ecr & 0x10) != 0;  // see SendCookieSynAck
  }
  NegotiateOptions(c, peer);
  c.state = TcpState::kEstablished;
  c.passive = true;
  c.listen_port = listeners_[li].port;
  c.snd_wnd = uint32_t{seg.window} << c.snd_wscale;
  c.max_snd_wnd = c.snd_wnd;
  c.snd_wl1 = seg.seq;
  c.snd_wl2 = seg.ack;
  c.app_owned = true;
  TableInsert(idx);
  ++counters_.syn_cookies_accepted;
  ++counters_.passive_opens;
  PostEvent(idx, kEvOpen);
  if (config_.keepalive) c.keepalive_ns = now_ns + config_.keepalive_idle_ns;
  HandleSynchronized(idx, seg, now_ns);  // the ACK may carry data
  if (c.in_use && c.state != TcpState::kClosed) Output(idx, now_ns);
  return true;
}

// RFC 9293 3.10.7.3 (SYN_SENT).
void TcpEngine::HandleSynSent(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  const bool ack = seg.flags & kTcpAck;
  if (ack && (SeqLeq(seg.ack, c.iss) || SeqGt(seg.ack, c.snd_max))) {
    ++counters_.rx_syn_sent_dropped;
    SendRstFor(seg);  // no-op when the segment is itself a RST
    return;
  }
  if (seg.flags & kTcpRst) {
    if (ack) {
      ++counters_.rx_rst_accepted;
      ++counters_.conn_reset_rx;
      EnterClosed(idx, TcpError::kConnectionRefused);
    } else {
      ++counters_.rx_rst_ignored;
    }
    return;
  }
  if (!(seg.flags & kTcpSyn)) {
    ++counters_.rx_syn_sent_dropped;
    return;
  }
  c.irs = seg.seq;
  c.rcv_nxt = seg.seq + 1;
  c.rcv_adv = c.rcv_nxt + std::min<uint32_t>(c.rcv.free(), 65535);  // what our SYN offered
  NegotiateOptions(c, seg.options);
  c.snd_wnd = seg.window;  // never scaled in a SYN
  c.max_snd_wnd = c.snd_wnd;
  c.snd_wl1 = seg.seq;
  c.snd_wl2 = seg.ack;
  if (ack) {
    if (c.rtt_timing) RttSample(c, now_ns - c.rtt_start_ns);
    c.rtt_timing = false;
    c.snd_una = seg.ack;
    c.snd_nxt = SeqMax(c.snd_nxt, seg.ack);
    c.rtx_ns = kNoDeadline;
    c.retries = 0;
    c.backoff = 0;
    c.state = c.fin_queued ? TcpState::kFinWait1 : TcpState::kEstablished;
    c.ack_now = true;
    c.last_rx_ns = now_ns;
    if (config_.keepalive) c.keepalive_ns = now_ns + config_.keepalive_idle_ns;
    PostEvent(idx, kEvOpen);
    // Any data on the SYN-ACK is not acknowledged; the peer sends it again.
    return;
  }
  // Simultaneous open (RFC 9293 figure 7): answer with SYN-ACK from our ISS.
  c.state = TcpState::kSynReceived;
  c.snd_nxt = c.iss;
  c.rtt_timing = false;
}

// A pure duplicate ACK that PAWS would drop only because the network reordered it behind a
// later segment of the peer (its timestamp is older than TS.Recent by less than one RTO, counted
// in the peer's ticks as if they were 1 ms, RFC 7323's fastest clock): it is exactly the kind of
// segment reordering produces, carries SACK blocks recovery needs, and cannot change our state
// beyond what a duplicate ACK does (no data, no new ACK, no larger window). Linux accepts these
// too (tcp_disordered_ack).
bool TcpEngine::IsDisorderedAck(const TcpConn& c, const TcpSegmentView& seg) const {
  if (!(seg.flags & kTcpAck) || (seg.flags & (kTcpSyn | kTcpFin | kTcpRst)) ||
      seg.PayloadSize() != 0 || seg.seq != c.rcv_nxt || seg.ack != c.snd_una) {
    return false;
  }
  if ((uint32_t{seg.window} << c.snd_wscale) > c.snd_wnd) return false;  // would open the window
  const uint64_t replay_ticks = std::max<uint64_t>(c.rto_ns / 1'000'000, 1);
  return c.ts_recent - seg.options.ts_val <= replay_ticks;
}

// RFC 9293 3.10.7.4 first check, with RFC 7323 PAWS. Returns false if the segment is dropped.
bool TcpEngine::CheckSeq(TcpConn& c, const TcpSegmentView& seg, uint64_t now_ns) {
  const bool rst = seg.flags & kTcpRst;
  if (c.ts_ok && seg.options.has_timestamps && !rst && SeqLt(seg.options.ts_val, c.ts_recent)) {
    if (!IsDisorderedAck(c, seg)) {
      ++counters_.rx_paws_rejected;
      SendAck(c, now_ns);
      return false;
    }
    ++counters_.rx_paws_disordered_acks;  // accepted; TS.Recent does not move (SeqGeq below)
  }
  const uint32_t len = seg.SeqLen();
  const uint32_t wnd = c.RcvWnd();
  const uint32_t right = c.rcv_nxt + wnd;
  bool ok;
  if (len == 0) {
    ok = wnd == 0 ? seg.seq == c.rcv_nxt : SeqInRange(seg.seq, c.rcv_nxt, right);
  } else if (wnd == 0) {
    ok = false;
  } else {
    ok = SeqInRange(seg.seq, c.rcv_nxt, right) || SeqInRange(seg.seq + len - 1, c.rcv_nxt, right);
  }
  // A zero window must still let ACKs, RSTs (and probes) at rcv_nxt through; their data is
  // trimmed later.
  if (!ok && wnd == 0 && seg.seq == c.rcv_nxt) ok = true;
  if (!ok) {
    ++counters_.rx_out_of_window;
    // An unacceptable bare ACK is answered at most once per oow_ack_interval_ns: two stacks
    // that disagree about sequence numbers must not ping-pong ACKs forever.
    const bool limited = len == 0 && now_ns - c.last_oow_ack_ns < config_.oow_ack_interval_ns &&
                         c.last_oow_ack_ns != 0;
    if (limited) ++counters_.oow_acks_suppressed;
    if (!rst && !limited) {
      if (len == 0) c.last_oow_ack_ns = now_ns;
      SendAck(c, now_ns);
      if (c.state == TcpState::kTimeWait && (seg.flags & kTcpFin)) {
        c.state_ns = now_ns + config_.time_wait_ns;  // retransmitted FIN: restart 2*MSL
      }
    }
    return false;
  }
  // RFC 7323 4.3; RST and SYN segments (answered by a challenge at most) do not move TS.Recent.
  if (c.ts_ok && seg.options.has_timestamps && !(seg.flags & (kTcpRst | kTcpSyn)) &&
      SeqGeq(seg.options.ts_val, c.ts_recent) && SeqLeq(seg.seq, c.last_ack_sent)) {
    c.ts_recent = seg.options.ts_val;
  }
  return true;
}

// RFC 5961 3.2: only an exact-sequence RST resets; an in-window one gets a challenge ACK.
void TcpEngine::HandleRst(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  if (c.state == TcpState::kTimeWait) {  // RFC 1337: no TIME_WAIT assassination
    ++counters_.rx_rst_ignored;
    return;
  }
  if (seg.seq != c.rcv_nxt) {
    ++counters_.rx_rst_ignored;
    SendChallengeAck(c, now_ns);
    return;
  }
  ++counters_.rx_rst_accepted;
  ++counters_.conn_reset_rx;
  if (c.state == TcpState::kSynReceived && !c.passive) {
    EnterClosed(idx, TcpError::kConnectionRefused);
  } else {
    EnterClosed(idx, TcpError::kConnectionReset);
  }
}

void TcpEngine::HandleSynchronized(uint32_t idx, const TcpSegmentView& in, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  TcpSegmentView seg = in;
  if (c.state == TcpState::kSynReceived && (seg.flags & kTcpSyn) && seg.seq == c.irs) {
    if (!(seg.flags & kTcpAck)) {  // the peer resent its SYN: resend our SYN-ACK
      c.snd_nxt = c.iss;
      return;
    }
    // Simultaneous open: the peer's SYN-ACK; its SYN is already accounted for.
    seg.flags &= static_cast<uint8_t>(~kTcpSyn);
    seg.seq += 1;
  }
  if (!CheckSeq(c, seg, now_ns)) return;
  if (seg.flags & kTcpRst) {
    HandleRst(idx, seg, now_ns);
    return;
  }
  if (seg.flags & kTcpSyn) {  // RFC 5961 4.2
    ++counters_.rx_syn_in_window;
    SendChallengeAck(c, now_ns);
    return;
  }
  if (!(seg.flags & kTcpAck)) {
    ++counters_.rx_no_ack_flag;
    return;
  }
  c.last_rx_ns = now_ns;
  c.keepalive_sent = 0;
  if (config_.keepalive && c.state != TcpState::kSynReceived) {
    c.keepalive_ns = now_ns + config_.keepalive_idle_ns;
  }
  if (!HandleAck(idx, seg, now_ns)) return;
  if (c.CanReceiveData()) ProcessData(idx, seg, now_ns);
}

}  // namespace ix::net::tcp

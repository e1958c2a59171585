// TCP engine ACK processing (RFC 9293 3.10.7.4 fifth check): RFC 5961 ACK validation, send
// window update, RTT sampling, congestion control (RFC 5681 slow start / congestion avoidance,
// RFC 6582 NewReno fast retransmit and recovery, or with SACK the RFC 6675 loss recovery entry
// and exit; its sending side is in SendSomeData) and the FIN-acknowledged state transitions.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_sack.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {
constexpr uint32_t kMaxCwnd = 1u << 30;
}  // namespace

bool TcpEngine::HandleAck(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  const uint32_t ack = seg.ack;
  if (c.state == TcpState::kSynReceived) {
    if (!SeqGt(ack, c.snd_una) || SeqGt(ack, c.snd_max)) {
      SendRstFor(seg);
      return false;
    }
    c.state = c.fin_queued ? TcpState::kFinWait1 : TcpState::kEstablished;
    c.snd_wnd = uint32_t{seg.window} << c.snd_wscale;
    c.max_snd_wnd = std::max(c.max_snd_wnd, c.snd_wnd);
    c.snd_wl1 = seg.seq;
    c.snd_wl2 = ack;
    LeaveHalfOpen(c);
    if (c.passive) c.app_owned = true;  // the app gets it now (active: it has it, or let go)
    if (config_.keepalive) c.keepalive_ns = now_ns + config_.keepalive_idle_ns;
    PostEvent(idx, kEvOpen);
  }
  // RFC 5961 5.2: acceptable iff SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
  if (SeqGt(ack, c.snd_max)) {
    ++counters_.rx_ack_too_new;
    SendChallengeAck(c, now_ns);
    return false;
  }
  if (SeqLt(ack, c.snd_una - c.max_snd_wnd)) {
    ++counters_.rx_ack_too_old;
    SendChallengeAck(c, now_ns);
    return false;
  }
  c.persist_probes = 0;  // the peer is alive, whatever window it offers (Linux: icsk_probes_out)
  const uint32_t seg_wnd = uint32_t{seg.window} << c.snd_wscale;
  const bool dup = ack == c.snd_una && seg.PayloadSize() == 0 &&
                   !(seg.flags & (kTcpSyn | kTcpFin)) && seg_wnd == c.snd_wnd &&
                   c.snd_max != c.snd_una && !c.persisting;
  if (c.sack_ok) {
    const uint32_t fresh = SackUpdate(c, seg.options, ack, counters_);
    if (SeqGt(ack, c.snd_una)) ProcessNewAck(idx, ack, seg, now_ns);
    ProcessSackAck(c, dup, fresh > 0, now_ns);
  } else if (SeqGt(ack, c.snd_una)) {
    ProcessNewAck(idx, ack, seg, now_ns);
  } else if (dup) {
    ProcessDupAck(c, now_ns);
  }
  // Send window update (RFC 9293 3.10.7.4): only from a segment newer than the last one used.
  if (SeqLt(c.snd_wl1, seg.seq) || (c.snd_wl1 == seg.seq && SeqLeq(c.snd_wl2, ack))) {
    c.snd_wnd = seg_wnd;
    c.snd_wl1 = seg.seq;
    c.snd_wl2 = ack;
    c.max_snd_wnd = std::max(c.max_snd_wnd, seg_wnd);
    if (c.snd_wnd > 0 && (c.persisting || c.persist_ns != kNoDeadline)) {
      if (c.persisting) c.snd_nxt = c.snd_una;  // an unacknowledged probe byte goes again
      c.persisting = false;
      c.persist_ns = kNoDeadline;
      c.persist_backoff = 0;
      if (c.snd_max != c.snd_una && c.rtx_ns == kNoDeadline) RestartRetransmitTimer(c, now_ns);
    }
  }
  const bool fin_acked = c.fin_queued && SeqGt(c.snd_una, c.fin_seq);
  switch (c.state) {
    case TcpState::kFinWait1:
      if (fin_acked) {
        c.state = TcpState::kFinWait2;
        if (!c.app_owned) c.state_ns = now_ns + config_.fin_wait2_timeout_ns;
      }
      break;
    case TcpState::kClosing:
      if (fin_acked) {
        EnterTimeWait(idx, now_ns);
        return false;
      }
      break;
    case TcpState::kLastAck:
      if (fin_acked) {
        EnterClosed(idx, TcpError::kOk);
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

void TcpEngine::ProcessNewAck(uint32_t idx, uint32_t ack, const TcpSegmentView& seg,
                              uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  const uint32_t acked = ack - c.snd_una;
  // RTT: timestamps (RFC 7323 4) when negotiated, otherwise the one timed segment (Karn).
  if (c.ts_ok && seg.options.has_timestamps && seg.options.ts_ecr != 0) {
    const uint32_t ticks = TsNow(c, now_ns) - seg.options.ts_ecr;
    if (ticks < 0x80000000u) RttSample(c, uint64_t{ticks} * config_.ts_tick_ns);
  } else if (c.rtt_timing && SeqGt(ack, c.rtt_seq)) {
    RttSample(c, now_ns - c.rtt_start_ns);
    c.rtt_timing = false;
  }
  uint32_t data_acked = 0;
  if (SeqGt(ack, c.snd_buf_seq)) data_acked = std::min(ack - c.snd_buf_seq, c.snd.size());
  c.snd.Consume(data_acked);
  c.snd_buf_seq += data_acked;
  ReleaseIdleBuffers(c);
  c.snd_una = ack;
  if (SeqLt(c.snd_nxt, ack)) c.snd_nxt = ack;
  c.retries = 0;

  if (c.in_recovery) {
    if (SeqGeq(ack, c.recover)) {  // full ACK: leave recovery (RFC 6582 3.2 step 3)
      c.cwnd = std::min(c.ssthresh, std::max(c.FlightSize(), uint32_t{c.snd_mss}) + c.snd_mss);
      c.in_recovery = false;
      c.dupacks = 0;
    } else if (c.sack_ok) {
      // Partial ACK in SACK recovery: SendSomeData resends holes by NextSeg; cwnd stays. If the
      // new head is not yet presumed lost (too little SACKed above it) and was not resent in this
      // recovery, resend it now as NewReno would (RFC 6582 3.2 step 4) rather than wait for an
      // RTO; no deflation, pipe does that accounting.
      if (SeqGeq(c.snd_una, c.high_rxt) && !SackIsLost(c, c.snd_una)) {
        RetransmitHead(c, now_ns);
        ++counters_.sack_retransmits;
        c.high_rxt = SeqMin(c.snd_una + c.snd_mss, c.snd_buf_seq + c.snd.size());
        if (SeqLt(c.high_rxt, c.snd_una)) c.high_rxt = c.snd_una;
      }
    } else {  // partial ACK: resend the next hole, deflate (RFC 6582 3.2 step 4)
      RetransmitHead(c, now_ns);
      c.cwnd = acked >= c.cwnd ? c.snd_mss : c.cwnd - acked;
      if (acked >= c.snd_mss) c.cwnd += c.snd_mss;
    }
  } else {
    c.dupacks = 0;
    if (c.cwnd < c.ssthresh) {
      c.cwnd += std::min<uint32_t>(acked, c.snd_mss);  // slow start, RFC 3465 L = 1 SMSS
    } else {
      c.bytes_acked_ca += acked;  // congestion avoidance: one SMSS per cwnd of ACKed data
      if (c.bytes_acked_ca >= c.cwnd) {
        c.bytes_acked_ca -= c.cwnd;
        c.cwnd += c.snd_mss;
      }
    }
    c.cwnd = std::min(c.cwnd, kMaxCwnd);
  }
  if (c.snd_una == c.snd_max || c.persisting) {
    c.rtx_ns = kNoDeadline;
  } else {
    RestartRetransmitTimer(c, now_ns);  // RFC 6298 5.3
  }
  if (c.send_blocked && data_acked > 0 && c.snd.free() > 0) {
    c.send_blocked = false;
    PostEvent(idx, kEvWritable);
  }
}

// RFC 5681 3.2 / RFC 6582 3.2: three duplicate ACKs start fast retransmit unless they are about
// data sent before the last recovery or timeout ("recover").
void TcpEngine::ProcessDupAck(TcpConn& c, uint64_t now_ns) {
  ++counters_.rx_dup_acks;
  ++c.dupacks;
  if (c.in_recovery) {
    c.cwnd = std::min(c.cwnd + c.snd_mss, kMaxCwnd);  // inflate; Output may send new data
    return;
  }
  if (c.dupacks != 3 || !SeqGeq(c.snd_una, c.recover)) return;
  c.ssthresh = std::max(c.FlightSize() / 2, 2u * c.snd_mss);
  c.recover = c.snd_max;
  c.in_recovery = true;
  ++counters_.fast_retransmits;
  RetransmitHead(c, now_ns);
  c.cwnd = c.ssthresh + 3u * c.snd_mss;
}

// RFC 6675 5 on a SACK connection: an ACK with new SACK information counts as a duplicate
// (even if it also moved SND.UNA), as does an RFC 5681 duplicate. Loss recovery starts at
// kSackDupThresh of them, or as soon as IsLost(SND.UNA) holds, unless the ACKs are about data
// sent before the last recovery or timeout ("recover", RFC 6582 / RFC 6675 5.1). Entry: ssthresh
// = cwnd = FlightSize / 2 (no inflation: pipe counts what is in flight), resend the head.
void TcpEngine::ProcessSackAck(TcpConn& c, bool dup, bool fresh_sack, uint64_t now_ns) {
  if (dup) ++counters_.rx_dup_acks;
  if (c.in_recovery || c.snd_max == c.snd_una || (!dup && !fresh_sack)) return;
  if (c.dupacks < 0xffff) ++c.dupacks;
  if (c.dupacks < kSackDupThresh && !SackIsLost(c, c.snd_una)) return;
  if (!SeqGeq(c.snd_una, c.recover)) return;
  c.ssthresh = std::max(c.FlightSize() / 2, 2u * c.snd_mss);
  c.cwnd = c.ssthresh;
  c.recover = c.snd_max;
  c.in_recovery = true;
  ++counters_.fast_retransmits;
  ++counters_.sack_recoveries;
  ++counters_.sack_retransmits;
  RetransmitHead(c, now_ns);
  c.high_rxt = SeqMin(c.snd_una + c.snd_mss, c.snd_buf_seq + c.snd.size());
  if (SeqLt(c.high_rxt, c.snd_una)) c.high_rxt = c.snd_una;
}

}  // namespace ix::net::tcp

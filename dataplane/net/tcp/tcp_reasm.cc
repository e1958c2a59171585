// TCP engine receive path (RFC 9293 3.10.7.4 seventh and eighth checks): trimming to the window,
// in-order delivery into the receive ring, bounded out-of-order reassembly (data is written at its
// offset in the ring; only the covered ranges are tracked), delayed ACKs, and FIN processing.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_sack.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {

// Records [seq, seq + data.size()) as received out of order and stores its bytes. Returns false
// (storing nothing) when the range would need more than max_ooo_ranges entries.
bool TcpEngine::OooInsert(TcpConn& c, uint32_t seq, absl::Span<const uint8_t> data) {
  const uint32_t s = seq;
  const uint32_t e = seq + static_cast<uint32_t>(data.size());
  if (!SeqRangesInsert(c.ooo_start, c.ooo_end, &c.ooo_count, config_.max_ooo_ranges, s, e)) {
    return false;
  }
  EnsureRecvBuffer(c);
  c.rcv.WriteAt(seq - c.rcv_nxt, data);
  return true;
}

void TcpEngine::ProcessData(uint32_t idx, const TcpSegmentView& seg, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  uint32_t seq = seg.seq;
  absl::Span<const uint8_t> data = seg.payload[0];
  bool fin = seg.flags & kTcpFin;
  // Trim what precedes rcv_nxt (already received).
  if (SeqLt(seq, c.rcv_nxt)) {
    const uint32_t skip = c.rcv_nxt - seq;
    if (skip > data.size()) {
      data = {};
      fin = false;  // the FIN too was before rcv_nxt
    } else {
      data = data.subspan(skip);
    }
    seq = c.rcv_nxt;
  }
  // Trim what lies beyond the window we advertised (the ring has no room for it).
  const uint32_t wnd = c.RcvWnd();
  const uint32_t off = seq - c.rcv_nxt;
  if (off + data.size() > wnd) {
    data = data.first(wnd > off ? wnd - off : 0);
    fin = false;
  }
  if (data.empty() && !fin) {
    if (seg.PayloadSize() > 0) c.ack_now = true;  // e.g. a zero-window probe: answer it
    return;
  }
  if (!c.app_owned && !data.empty()) ++counters_.rx_data_after_close;

  if (seq != c.rcv_nxt) {  // out of order: keep it, ACK at once (RFC 5681 4.2)
    ++counters_.rx_ooo_segments;
    if (!data.empty()) {
      if (!OooInsert(c, seq, data)) {
        ++counters_.rx_ooo_dropped;
      } else if (c.sack_ok) {
        SackNoteArrival(c, seq);  // its range leads the SACK blocks of the ACK below
      }
    }
    if (fin) {
      c.ooo_fin = true;
      c.ooo_fin_seq = seq + static_cast<uint32_t>(data.size());
    }
    c.ack_now = true;
    return;
  }

  const uint32_t len = static_cast<uint32_t>(data.size());
  if (len > 0) {
    EnsureRecvBuffer(c);
    c.rcv.WriteAt(0, data);
    c.rcv.Commit(len);
  }
  c.rcv_nxt += len;
  bool filled = false;
  if (fin) {
    c.ooo_count = 0;  // nothing can follow the FIN
  } else {
    while (c.ooo_count > 0 && SeqLeq(c.ooo_start[0], c.rcv_nxt)) {
      if (SeqGt(c.ooo_end[0], c.rcv_nxt)) {
        c.rcv.Commit(c.ooo_end[0] - c.rcv_nxt);
        c.rcv_nxt = c.ooo_end[0];
      }
      for (uint32_t i = 1; i < c.ooo_count; ++i) {
        c.ooo_start[i - 1] = c.ooo_start[i];
        c.ooo_end[i - 1] = c.ooo_end[i];
      }
      --c.ooo_count;
      filled = true;
    }
    if (c.ooo_fin && c.rcv_nxt == c.ooo_fin_seq) fin = true;
  }
  if (!c.app_owned) {
    c.rcv.Consume(c.rcv.size());  // nobody will read it: discard (still acknowledged)
    ReleaseIdleBuffers(c);
  } else if (len > 0 || filled) {
    PostEvent(idx, kEvReadable);
  }
  if (fin) {
    ProcessFin(idx, now_ns);
    return;
  }
  if (filled) {
    c.ack_now = true;  // a hole was filled: ACK at once (RFC 5681 4.2)
  } else if (len > 0) {
    ++c.unacked_segs;
    if (config_.delayed_ack_ns == 0 || c.unacked_segs >= config_.ack_every_segments) {
      c.ack_now = true;
    } else if (c.delack_ns == kNoDeadline) {
      c.delack_ns = now_ns + config_.delayed_ack_ns;
    }
  }
}

void TcpEngine::ProcessFin(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  c.rcv_nxt += 1;
  c.fin_received = true;
  c.ooo_count = 0;
  c.ooo_fin = false;
  c.ack_now = true;
  PostEvent(idx, kEvPeerClosed);
  switch (c.state) {
    case TcpState::kEstablished:
      c.state = TcpState::kCloseWait;
      break;
    case TcpState::kFinWait1:
      if (c.fin_queued && SeqGt(c.snd_una, c.fin_seq)) {
        EnterTimeWait(idx, now_ns);
      } else {
        c.state = TcpState::kClosing;  // simultaneous close
      }
      break;
    case TcpState::kFinWait2:
      EnterTimeWait(idx, now_ns);
      break;
    default:
      break;
  }
}

void TcpEngine::EnterTimeWait(uint32_t idx, uint64_t now_ns) {
  TcpConn& c = conns_[idx];
  c.state = TcpState::kTimeWait;
  c.rtx_ns = c.persist_ns = c.keepalive_ns = c.delack_ns = kNoDeadline;
  c.persisting = false;
  c.state_ns = now_ns + config_.time_wait_ns;
  if (c.app_owned) {
    PostEvent(idx, kEvClosed);
  } else {
    ReleaseBuffers(c);
  }
}

}  // namespace ix::net::tcp

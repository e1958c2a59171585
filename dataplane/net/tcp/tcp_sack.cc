// SACK bookkeeping: receiver blocks (RFC 2018) and the sender scoreboard (RFC 6675); see
// tcp_sack.h.
#include "dataplane/net/tcp/tcp_sack.h"

#include <algorithm>

#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {

// Index of the out-of-order range holding seq, or -1.
int OooRangeOf(const TcpConn& c, uint32_t seq) {
  for (uint32_t i = 0; i < c.ooo_count; ++i) {
    if (SeqInRange(seq, c.ooo_start[i], c.ooo_end[i])) return static_cast<int>(i);
  }
  return -1;
}

// Bytes of [s, e) the scoreboard already covers.
uint32_t Covered(const TcpConn& c, uint32_t s, uint32_t e) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < c.sacked_count; ++i) {
    const uint32_t lo = SeqMax(s, c.sacked_start[i]);
    const uint32_t hi = SeqMin(e, c.sacked_end[i]);
    if (SeqLt(lo, hi)) n += hi - lo;
  }
  return n;
}

// Adds [s, e) to the sorted, disjoint scoreboard, merging what it touches. When a new disjoint
// range finds the scoreboard full, the highest range (or the new one, if it is highest) goes:
// forgetting a SACK only makes the sender more careful (it may resend, never skips).
void Insert(TcpConn& c, uint32_t s, uint32_t e, TcpCounters& k) {
  if (SeqRangesInsert(c.sacked_start, c.sacked_end, &c.sacked_count, kMaxSackedRanges, s, e)) {
    return;
  }
  ++k.sack_scoreboard_full;
  if (SeqLt(c.sacked_end[c.sacked_count - 1], s)) return;  // the new range is the highest
  --c.sacked_count;                                         // drop the highest
  (void)SeqRangesInsert(c.sacked_start, c.sacked_end, &c.sacked_count, kMaxSackedRanges, s, e);
}

// Removes what lies at or below `base` (now cumulatively acknowledged).
void Prune(TcpConn& c, uint32_t base) {
  uint32_t drop = 0;
  while (drop < c.sacked_count && SeqLeq(c.sacked_end[drop], base)) ++drop;
  for (uint32_t i = drop; i < c.sacked_count; ++i) {
    c.sacked_start[i - drop] = c.sacked_start[i];
    c.sacked_end[i - drop] = c.sacked_end[i];
  }
  c.sacked_count = static_cast<uint8_t>(c.sacked_count - drop);
  if (c.sacked_count > 0) c.sacked_start[0] = SeqMax(c.sacked_start[0], base);
}

}  // namespace

void SackNoteArrival(TcpConn& c, uint32_t seq) {
  // Older hints that name the same range go: each hint then stands for a distinct range.
  const int range = OooRangeOf(c, seq);
  uint32_t out[kMaxOooRanges];
  uint32_t n = 0;
  out[n++] = seq;
  for (uint32_t i = 0; i < c.sack_hint_count && n < kMaxOooRanges; ++i) {
    const int r = OooRangeOf(c, c.sack_hint[i]);
    if (r < 0 || r == range) continue;  // stale (delivered or dropped) or the same range
    out[n++] = c.sack_hint[i];
  }
  for (uint32_t i = 0; i < n; ++i) c.sack_hint[i] = out[i];
  c.sack_hint_count = static_cast<uint8_t>(n);
}

uint8_t FillSackBlocks(const TcpConn& c, TcpOptions* o) {
  o->sack_count = 0;
  if (!c.sack_ok || c.ooo_count == 0) return 0;
  const uint32_t max_blocks = c.ts_ok ? 3 : 4;  // what fits next to the timestamps option
  uint32_t used = 0;                            // bit per ooo range
  auto add = [&](uint32_t i) {
    if ((used & (1u << i)) || o->sack_count >= max_blocks) return;
    used |= 1u << i;
    o->sack[o->sack_count++] = {c.ooo_start[i], c.ooo_end[i]};
  };
  for (uint32_t h = 0; h < c.sack_hint_count; ++h) {
    const int i = OooRangeOf(c, c.sack_hint[h]);
    if (i >= 0) add(static_cast<uint32_t>(i));
  }
  for (uint32_t i = c.ooo_count; i-- > 0;) add(i);
  return o->sack_count;
}

uint32_t SackUpdate(TcpConn& c, const TcpOptions& o, uint32_t ack, TcpCounters& k) {
  const uint32_t base = SeqMax(ack, c.snd_una);
  Prune(c, base);
  if (SeqLt(c.high_rxt, base)) c.high_rxt = base;
  uint32_t fresh = 0;
  for (uint32_t b = 0; b < o.sack_count && b < kTcpMaxSackBlocks; ++b) {
    uint32_t left = o.sack[b].left;
    const uint32_t right = o.sack[b].right;
    if (!SeqLt(left, right) || SeqGt(right, c.snd_max)) {
      ++k.sack_blocks_invalid;
      continue;
    }
    if (SeqLeq(right, base)) {
      ++k.sack_blocks_old;
      continue;
    }
    if (SeqLt(left, base)) left = base;
    ++k.sack_blocks_rx;
    fresh += (right - left) - Covered(c, left, right);
    Insert(c, left, right, k);
  }
  return fresh;
}

void SackClear(TcpConn& c) {
  c.sacked_count = 0;
  c.high_rxt = c.snd_una;
}

bool SackIsLost(const TcpConn& c, uint32_t seq) {
  uint32_t ranges = 0;
  uint32_t bytes = 0;
  for (uint32_t i = 0; i < c.sacked_count; ++i) {
    if (!SeqGt(c.sacked_end[i], seq + 1)) continue;
    const uint32_t lo = SeqMax(c.sacked_start[i], seq + 1);
    bytes += c.sacked_end[i] - lo;
    if (SeqGt(c.sacked_start[i], seq)) ++ranges;
  }
  return ranges >= kSackDupThresh || bytes > (kSackDupThresh - 1) * uint32_t{c.snd_mss};
}

uint32_t SackPipe(const TcpConn& c) {
  uint32_t pipe = 0;
  // IsLost is the same for every byte of one hole (no SACKed byte lies inside it).
  auto hole = [&](uint32_t s, uint32_t e) {
    if (!SeqLt(s, e)) return;
    if (!SackIsLost(c, s)) pipe += e - s;
    const uint32_t rxt_end = SeqMin(e, c.high_rxt);
    if (SeqLt(s, rxt_end)) pipe += rxt_end - s;
  };
  uint32_t pos = c.snd_una;
  for (uint32_t i = 0; i < c.sacked_count; ++i) {
    hole(pos, c.sacked_start[i]);
    pos = SeqMax(pos, c.sacked_end[i]);
  }
  hole(pos, c.snd_max);
  return pipe;
}

bool SackNextSeg(const TcpConn& c, uint32_t data_end, uint32_t* seq, uint32_t* len) {
  uint32_t pos = c.snd_una;
  for (uint32_t i = 0; i < c.sacked_count; ++i) {
    const uint32_t hole_end = c.sacked_start[i];
    const uint32_t s = SeqMax(pos, c.high_rxt);
    if (SeqLt(s, hole_end) && SeqLt(s, data_end) && SackIsLost(c, s)) {
      *seq = s;
      *len = std::min<uint32_t>({hole_end - s, data_end - s, c.snd_mss});
      return true;
    }
    pos = SeqMax(pos, c.sacked_end[i]);
  }
  return false;
}

}  // namespace ix::net::tcp

// TCP sequence-number arithmetic (modulo 2^32, RFC 9293 3.4); the big-endian load/store helpers
// of dataplane/net/wire.h are re-exported for the TCP code.
//
//   if (SeqLt(ack, snd_una)) ...          // "ack < snd_una" in sequence space
//   uint16_t port = LoadBe16(bytes + 2);  // network order bytes -> host value
#ifndef IX_DATAPLANE_NET_TCP_TCP_SEQ_H_
#define IX_DATAPLANE_NET_TCP_TCP_SEQ_H_

#include <cstdint>

#include "dataplane/net/wire.h"

namespace ix::net::tcp {

// Comparisons valid while the two numbers are less than 2^31 apart.
constexpr bool SeqLt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
constexpr bool SeqLeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }
constexpr bool SeqGt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }
constexpr bool SeqGeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }
constexpr uint32_t SeqMax(uint32_t a, uint32_t b) { return SeqGt(a, b) ? a : b; }
constexpr uint32_t SeqMin(uint32_t a, uint32_t b) { return SeqLt(a, b) ? a : b; }

// True when lo <= x < hi in sequence space (an empty range when lo == hi).
constexpr bool SeqInRange(uint32_t x, uint32_t lo, uint32_t hi) {
  return SeqLeq(lo, x) && SeqLt(x, hi);
}

// Adds [s, e) to the sorted, disjoint ranges [start[i], end[i]), i < *count, merging every range
// it touches (adjacent ones included). Returns false, changing nothing, when [s, e) touches no
// range and *count == cap. Used by out-of-order reassembly and the SACK scoreboard.
inline bool SeqRangesInsert(uint32_t* start, uint32_t* end, uint8_t* count, uint32_t cap,
                            uint32_t s, uint32_t e) {
  // first: the first range that ends at or after s; last: one past the last that starts <= e.
  uint32_t first = 0;
  while (first < *count && SeqLt(end[first], s)) ++first;
  uint32_t last = first;
  while (last < *count && SeqLeq(start[last], e)) ++last;
  if (first == last) {  // touches nothing: a new range at `first`
    if (*count >= cap) return false;
    for (uint32_t i = *count; i > first; --i) {
      start[i] = start[i - 1];
      end[i] = end[i - 1];
    }
    start[first] = s;
    end[first] = e;
    ++*count;
    return true;
  }
  start[first] = SeqMin(s, start[first]);  // merge ranges first..last-1 with [s, e)
  end[first] = SeqMax(e, end[last - 1]);
  const uint32_t removed = last - first - 1;
  for (uint32_t i = first + 1; i + removed < *count; ++i) {
    start[i] = start[i + removed];
    end[i] = end[i + removed];
  }
  *count = static_cast<uint8_t>(*count - removed);
  return true;
}

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_SEQ_H_

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

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_SEQ_H_

// TCP sequence-number arithmetic (modulo 2^32, RFC 9293 3.4) and big-endian load/store helpers.
//
//   if (SeqLt(ack, snd_una)) ...          // "ack < snd_una" in sequence space
//   uint16_t port = LoadBe16(bytes + 2);  // network order bytes -> host value
#ifndef IX_DATAPLANE_NET_TCP_TCP_SEQ_H_
#define IX_DATAPLANE_NET_TCP_TCP_SEQ_H_

#include <cstdint>

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

inline uint16_t LoadBe16(const uint8_t* p) {
  return static_cast<uint16_t>((uint16_t{p[0]} << 8) | p[1]);
}
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_SEQ_H_

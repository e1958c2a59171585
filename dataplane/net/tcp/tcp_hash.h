// Keyed hashing for TCP: SipHash-2-4, 4-tuple hashing, initial sequence numbers (RFC 6528) and
// SYN cookies. The secret key comes from the caller (TcpConfig): this code reads no randomness.
//
//   TcpSecret key{k0, k1};
//   uint32_t isn = InitialSequenceNumber(key, tuple, now_ns);
//   uint32_t cookie = MakeSynCookie(key, tuple, peer_isn, now_ns, CookieMssIndex(peer_mss));
//   uint16_t mss; bool ok = CheckSynCookie(key, tuple, peer_isn, cookie, now_ns, &mss);
#ifndef IX_DATAPLANE_NET_TCP_TCP_HASH_H_
#define IX_DATAPLANE_NET_TCP_TCP_HASH_H_

#include <cstddef>
#include <cstdint>

namespace ix::net::tcp {

struct TcpSecret {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

// A connection's addresses (host order), seen from this host.
struct TcpFourTuple {
  uint32_t local_ip = 0;
  uint32_t remote_ip = 0;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;

  bool operator==(const TcpFourTuple&) const = default;
};

// SipHash-2-4 of n 64-bit little-endian words (a message of 8*n bytes).
uint64_t SipHash24(const TcpSecret& key, const uint64_t* words, size_t n);

// Keyed hash of the tuple and an extra 64-bit value.
uint64_t TupleHash(const TcpSecret& key, const TcpFourTuple& t, uint64_t extra);

// RFC 6528: ISN = M + F(4-tuple, secret) with M a 4-microsecond clock derived from now_ns.
uint32_t InitialSequenceNumber(const TcpSecret& key, const TcpFourTuple& t, uint64_t now_ns);

// SYN cookie layout: bits 31..27 a 64-second time counter (mod 32), 26..24 an index into a table
// of MSS values, 23..0 a keyed hash of (tuple, counter, peer ISN, MSS index). A cookie is accepted
// for two counter periods (64..128 s).
inline constexpr uint64_t kSynCookiePeriodNs = 64ull * 1000 * 1000 * 1000;

// Largest table index whose MSS is <= peer_mss (index 0, 536 bytes, if none).
uint8_t CookieMssIndex(uint16_t peer_mss);
uint16_t CookieMssValue(uint8_t index);

uint32_t MakeSynCookie(const TcpSecret& key, const TcpFourTuple& t, uint32_t peer_isn,
                       uint64_t now_ns, uint8_t mss_index);

// Returns true and the encoded MSS when `cookie` (our ISN, i.e. the returning ACK number - 1) is
// valid for this tuple and peer ISN at now_ns.
bool CheckSynCookie(const TcpSecret& key, const TcpFourTuple& t, uint32_t peer_isn, uint32_t cookie,
                    uint64_t now_ns, uint16_t* mss_out);

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_HASH_H_

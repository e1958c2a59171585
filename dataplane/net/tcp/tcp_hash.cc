// Keyed hashing for TCP: SipHash-2-4, tuple hashes, ISNs and SYN cookies (see tcp_hash.h).
#include "dataplane/net/tcp/tcp_hash.h"

namespace ix::net::tcp {
namespace {

constexpr uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
};

constexpr uint16_t kCookieMss[8] = {536, 1220, 1300, 1400, 1440, 1460, 4312, 8960};

uint32_t CookieHash24(const TcpSecret& key, const TcpFourTuple& t, uint32_t counter,
                      uint32_t peer_isn, uint8_t mss_index) {
  const uint64_t extra = (uint64_t{counter & 31} << 40) | (uint64_t{mss_index} << 32) | peer_isn;
  // A distinct domain from the ISN hash: flip the key.
  TcpSecret k{key.k0 ^ 0x636f6f6b69657321ull, key.k1};
  return static_cast<uint32_t>(TupleHash(k, t, extra)) & 0xffffff;
}

}  // namespace

uint64_t SipHash24(const TcpSecret& key, const uint64_t* words, size_t n) {
  SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
             key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  for (size_t i = 0; i < n; ++i) {
    s.v3 ^= words[i];
    s.Round();
    s.Round();
    s.v0 ^= words[i];
  }
  const uint64_t last = uint64_t{(n * 8) & 0xff} << 56;
  s.v3 ^= last;
  s.Round();
  s.Round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t TupleHash(const TcpSecret& key, const TcpFourTuple& t, uint64_t extra) {
  const uint64_t words[3] = {(uint64_t{t.local_ip} << 32) | t.remote_ip,
                             (uint64_t{t.local_port} << 16) | t.remote_port, extra};
  return SipHash24(key, words, 3);
}

uint32_t InitialSequenceNumber(const TcpSecret& key, const TcpFourTuple& t, uint64_t now_ns) {
  const uint32_t m = static_cast<uint32_t>(now_ns / 4000);
  return m + static_cast<uint32_t>(TupleHash(key, t, 0x69736e));
}

uint8_t CookieMssIndex(uint16_t peer_mss) {
  uint8_t idx = 0;
  for (uint8_t i = 0; i < 8; ++i) {
    if (kCookieMss[i] <= peer_mss) idx = i;
  }
  return idx;
}

uint16_t CookieMssValue(uint8_t index) { return kCookieMss[index & 7]; }

uint32_t MakeSynCookie(const TcpSecret& key, const TcpFourTuple& t, uint32_t peer_isn,
                       uint64_t now_ns, uint8_t mss_index) {
  const uint32_t counter = static_cast<uint32_t>(now_ns / kSynCookiePeriodNs) & 31;
  mss_index &= 7;
  return (counter << 27) | (uint32_t{mss_index} << 24) |
         CookieHash24(key, t, counter, peer_isn, mss_index);
}

bool CheckSynCookie(const TcpSecret& key, const TcpFourTuple& t, uint32_t peer_isn, uint32_t cookie,
                    uint64_t now_ns, uint16_t* mss_out) {
  const uint32_t now_counter = static_cast<uint32_t>(now_ns / kSynCookiePeriodNs) & 31;
  const uint32_t counter = cookie >> 27;
  const uint32_t age = (now_counter - counter) & 31;
  if (age > 1) return false;
  const uint8_t mss_index = (cookie >> 24) & 7;
  if ((cookie & 0xffffff) != CookieHash24(key, t, counter, peer_isn, mss_index)) return false;
  *mss_out = kCookieMss[mss_index];
  return true;
}

}  // namespace ix::net::tcp

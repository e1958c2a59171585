// IPv4: addresses (host-order uint32_t), the checked header parser, the header builder and the
// identification counter.
//
//   Ipv4Packet ip;
//   Drop d = ParseIpv4(eth.payload, &ip);
//   if (d != Drop::kNone) return CountDrop(&counters, d);
//   if (ip.protocol == kIpProtoUdp) HandleUdp(ip.src, ip.dst, ip.payload);
//
//   Ipv4Header h{.src = our_ip, .dst = peer_ip, .protocol = kIpProtoUdp, .id = ids.Next()};
//   size_t n = BuildIpv4Header(out, h, payload_len);  // 20, or 0: no room / too long
//
// Receive policy: no options are interpreted (they are skipped, reported as a view); fragments are
// accepted and reported (more_fragments, frag_offset; IsFragment()): a caller either hands them
// to an Ipv4Reassembler (ipv4_reasm.h, as the Stack does) or drops them as Drop::kIpFragment, but
// must never treat a fragment's payload as a whole datagram; TTL 0 is dropped. Sent headers are
// 20 bytes, DF set, TTL 64 unless set (ix never fragments what it sends).
#ifndef IX_DATAPLANE_NET_IPV4_H_
#define IX_DATAPLANE_NET_IPV4_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dataplane/net/counters.h"

namespace ix::net {

// An IPv4 address in host byte order (192.168.0.1 == 0xc0a80001), as checksum.h expects.
using Ipv4Address = uint32_t;

inline constexpr Ipv4Address kIpv4Any = 0;
inline constexpr Ipv4Address kIpv4Broadcast = 0xffffffff;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

inline constexpr size_t kIpv4HeaderLen = 20;  // without options: what BuildIpv4Header writes
inline constexpr size_t kIpv4MaxHeaderLen = 60;
inline constexpr size_t kIpv4MaxTotalLen = 65535;
inline constexpr uint8_t kIpv4DefaultTtl = 64;

inline constexpr bool IsIpv4Multicast(Ipv4Address a) { return (a >> 28) == 0xe; }
// Neither 0.0.0.0, multicast, class E nor limited broadcast: an address a host may own.
inline constexpr bool IsIpv4Unicast(Ipv4Address a) { return a != 0 && (a >> 28) < 0xe; }

// Parses a dotted quad "192.168.0.1": four decimal fields 0..255, no leading zeros (so "010" is
// not silently octal), nothing else.
absl::StatusOr<Ipv4Address> ParseIpv4Address(absl::string_view text);
std::string FormatIpv4Address(Ipv4Address addr);

// A parsed IPv4 header: a view into the packet, valid as long as the packet's bytes are.
struct Ipv4Packet {
  Ipv4Address src = 0;
  Ipv4Address dst = 0;
  uint8_t protocol = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;        // MF: not the last fragment
  uint16_t frag_offset = 0;           // in bytes (the 13-bit field times 8), 0..65528
  size_t header_len = 0;              // IHL*4, 20..60
  absl::Span<const uint8_t> header;   // header_len bytes, options included
  absl::Span<const uint8_t> options;  // header_len - 20 bytes, not interpreted
  absl::Span<const uint8_t> payload;  // total_length - header_len bytes (link padding removed)

  // A fragment (MF set or offset not 0): `payload` is only a piece of the datagram.
  bool IsFragment() const { return more_fragments || frag_offset != 0; }
};

// Parses the IPv4 packet at the start of `buf` (bytes after the Ethernet header, possibly with
// link-layer padding after the packet). Reads only inside `buf`. Checks, in this order, each with
// its own Drop: buf < 20 bytes (kIpTruncated), version != 4 (kIpBadVersion), IHL < 5 (kIpBadIhl),
// buf < IHL*4 (kIpTruncated), total length < IHL*4 or > buf (kIpBadLength), header checksum
// (kIpBadChecksum), TTL 0 (kIpTtlZero). Fragments are accepted (see IsFragment()); ParseIpv4
// never returns kIpFragment, which callers without reassembly use to count them.
Drop ParseIpv4(absl::Span<const uint8_t> buf, Ipv4Packet* out);

// Accepts packets addressed to `our_ip` or to 255.255.255.255; otherwise Drop::kIpOtherHost.
inline Drop CheckIpv4Destination(const Ipv4Packet& ip, Ipv4Address our_ip) {
  if (ip.dst == our_ip || ip.dst == kIpv4Broadcast) return Drop::kNone;
  return Drop::kIpOtherHost;
}

// What BuildIpv4Header writes; the rest is fixed: version 4, IHL 5, DF, no options.
struct Ipv4Header {
  Ipv4Address src = 0;
  Ipv4Address dst = 0;
  uint8_t protocol = 0;
  uint8_t ttl = kIpv4DefaultTtl;
  uint8_t tos = 0;
  uint16_t id = 0;
};

// Writes a 20-byte header with its checksum at the start of `out` for a payload of `payload_len`
// bytes that follows it. Returns kIpv4HeaderLen, or 0 (nothing written) if `out` is shorter than
// 20 bytes or 20 + payload_len > 65535. Does not look at the payload.
[[nodiscard]] size_t BuildIpv4Header(absl::Span<uint8_t> out, const Ipv4Header& header,
                                     size_t payload_len);

// The identification field of sent packets. All ix packets carry DF, so RFC 6864 only asks that
// ids not repeat quickly per (src, dst, protocol); one counter per core does that.
class Ipv4IdCounter {
 public:
  explicit Ipv4IdCounter(uint16_t first = 0) : next_(first) {}
  uint16_t Next() { return next_++; }

 private:
  uint16_t next_;
};

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_IPV4_H_

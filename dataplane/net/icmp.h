// ICMP (RFC 792): the checked message parser, the echo builder, and the echo responder that turns
// an echo request into a complete echo reply frame in a caller buffer.
//
//   // ip: a parsed IPv4 packet with ip.protocol == kIpProtoIcmp, from the frame `eth`.
//   size_t len = 0;
//   Drop d = AnswerIcmp(ip, eth.src, our_mac, our_ip, &ids, tx_buffer, &len);
//   if (d == Drop::kNone) Send(tx_buffer.first(len)); else CountDrop(&counters, d);
//
// Only echo requests are answered; every other type is reported as Drop::kIcmpOtherType (counted
// and ignored: no ICMP errors are generated or consumed here).
#ifndef IX_DATAPLANE_NET_ICMP_H_
#define IX_DATAPLANE_NET_ICMP_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/ipv4.h"

namespace ix::net {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr size_t kIcmpHeaderLen = 8;

// A parsed ICMP message: a view into the IP payload.
struct IcmpMessage {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t id = 0;                 // bytes 4-5: the echo identifier (meaningful for echo only)
  uint16_t sequence = 0;           // bytes 6-7: the echo sequence number (meaningful for echo only)
  absl::Span<const uint8_t> data;  // after the 8-byte header
  absl::Span<const uint8_t> message;  // the whole message, header included
};

// Parses the ICMP message that is all of `ip_payload`. Reads only inside it. Drops: < 8 bytes
// (kIcmpTruncated), wrong checksum (kIcmpBadChecksum). Any type is accepted here.
Drop ParseIcmp(absl::Span<const uint8_t> ip_payload, IcmpMessage* out);

// Writes an echo message (type kIcmpEchoRequest or kIcmpEchoReply) with `data` and its checksum
// into `out`. Returns 8 + data.size(), or 0 (nothing written) if `out` is shorter or the message
// cannot fit an IPv4 packet. `data` may overlap out[8..].
[[nodiscard]] size_t BuildIcmpEcho(absl::Span<uint8_t> out, uint8_t type, uint16_t id,
                                   uint16_t sequence, absl::Span<const uint8_t> data);

// Answers the echo request carried by `ip` (a packet ParseIpv4 accepted, protocol ICMP) that came
// from `peer_mac`. On Drop::kNone, `out` starts with the whole reply frame, Ethernet header
// included, *out_len bytes: to peer_mac from our_mac, IPv4 from our_ip to ip.src (TTL 64, DF,
// ip.tos, id from `ids`, no options), ICMP echo reply with the request's id, sequence and data.
// Drops, in order: kIcmpTruncated, kIcmpBadChecksum, kIcmpOtherType (not an echo request),
// kIcmpNotUnicast (request not sent to our_ip, e.g. broadcast ping), kIcmpNoRoom (`out` too
// short; nothing useful written). `out` must not overlap the request.
Drop AnswerIcmp(const Ipv4Packet& ip, const MacAddress& peer_mac, const MacAddress& our_mac,
                Ipv4Address our_ip, Ipv4IdCounter* ids, absl::Span<uint8_t> out, size_t* out_len);

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_ICMP_H_

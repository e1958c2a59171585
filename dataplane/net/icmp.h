// ICMP (RFC 792): the checked message parser, the echo builder, and the echo responder that turns
// an echo request into a complete echo reply frame in a caller buffer.
//
//   // ip: a parsed IPv4 packet with ip.protocol == kIpProtoIcmp, from the frame `eth`.
//   size_t len = 0;
//   Drop d = AnswerIcmp(ip, eth.src, our_mac, our_ip, &ids, tx_buffer, &len);
//   if (d == Drop::kNone) Send(tx_buffer.first(len)); else CountDrop(&counters, d);
//
// Only echo requests are answered by AnswerIcmp; other types are reported as Drop::kIcmpOtherType.
// ICMP errors (RFC 792, RFC 1122 3.2.2, RFC 1812 4.3.2.3) have a pure builder and a checked
// parser of the quoted packet:
//
//   size_t n = BuildIcmpError(out, kIcmpDestUnreachable, kIcmpCodePortUnreachable, 0,
//                             ip.header, ip.payload);   // header + up to 548 quoted bytes
//   IcmpErrorQuote q;
//   if (ParseIcmpError(msg, &q) == Drop::kNone && q.protocol == kIpProtoTcp) Tcp(q.transport8);
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

// Destination-unreachable codes (RFC 792, RFC 1812 5.2.7.1).
inline constexpr uint8_t kIcmpCodeNetUnreachable = 0;
inline constexpr uint8_t kIcmpCodeHostUnreachable = 1;
inline constexpr uint8_t kIcmpCodeProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpCodePortUnreachable = 3;
inline constexpr uint8_t kIcmpCodeFragNeeded = 4;  // RFC 1191: next-hop MTU in bytes 6-7
inline constexpr uint8_t kIcmpCodeNetProhibited = 9;
inline constexpr uint8_t kIcmpCodeHostProhibited = 10;
inline constexpr uint8_t kIcmpCodeAdminProhibited = 13;

// An ICMP error quotes as much of the offending packet as keeps the error within 576 bytes of
// IPv4 (RFC 1812 4.3.2.3; Linux does the same): 576 - 20 - 8 = 548 bytes.
inline constexpr size_t kIcmpErrorMaxIpLen = 576;
inline constexpr size_t kIcmpErrorMaxQuote = kIcmpErrorMaxIpLen - kIpv4HeaderLen - kIcmpHeaderLen;

// True for the ICMP types that report errors (never answered with an error, RFC 1122 3.2.2):
// destination unreachable, source quench, redirect, time exceeded, parameter problem.
inline constexpr bool IsIcmpErrorType(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

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

// Writes an ICMP error message of `type`/`code` into `out`: the 8-byte header (bytes 4-5 zero,
// bytes 6-7 `next_hop_mtu`, meaningful for frag-needed only), then the offending packet's IPv4
// header `quoted_header` and the first bytes of `quoted_payload`, together at most
// kIcmpErrorMaxQuote bytes, and the checksum. The two spans need not be contiguous (a reassembled
// datagram) and must not overlap `out`. Returns the message length, or 0 (nothing written) if
// `out` is too short or quoted_header is shorter than 20 bytes.
[[nodiscard]] size_t BuildIcmpError(absl::Span<uint8_t> out, uint8_t type, uint8_t code,
                                    uint16_t next_hop_mtu, absl::Span<const uint8_t> quoted_header,
                                    absl::Span<const uint8_t> quoted_payload);

// What an ICMP error (destination unreachable or time exceeded) says about a packet we sent.
struct IcmpErrorQuote {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t next_hop_mtu = 0;  // bytes 6-7 of the header (RFC 1191; 0 from old routers)
  Ipv4Address src = 0;        // the quoted packet's addresses: src should be us
  Ipv4Address dst = 0;
  uint8_t protocol = 0;
  uint16_t total_len = 0;                   // the quoted packet's total length field
  absl::Span<const uint8_t> transport8;     // the first 8 bytes after the quoted IPv4 header
};

// Parses the quote of `msg` (a message ParseIcmp accepted, of type kIcmpDestUnreachable or
// kIcmpTimeExceeded: kIcmpOtherType otherwise). Reads only inside msg.data. The quoted header
// must be whole and sane, with 8 transport bytes after it: version 4, IHL >= 5, IHL*4 + 8 <= the
// quote, total length >= IHL*4 + 8; any failure is kIcmpBadQuote. Its checksum is not checked
// (routers may have changed TTL and not fixed it up in the copy).
Drop ParseIcmpError(const IcmpMessage& msg, IcmpErrorQuote* out);

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

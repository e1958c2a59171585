// UDP (RFC 768): the checked datagram parser and the builders, with the IPv4 pseudo-header
// checksum.
//
//   UdpDatagram udp;
//   if (Drop d = ParseUdp(ip.payload, ip.src, ip.dst, &udp); d != Drop::kNone) { ...count... }
//   Deliver(udp.dst_port, udp.payload);
//
//   // Payload already in place after 8 bytes of room (zero copy):
//   WriteUdpHeader(datagram, our_ip, peer_ip, 5000, 6000);
//   // Or copy a payload in:
//   size_t n = BuildUdp(out, our_ip, peer_ip, 5000, 6000, payload);  // 8 + payload, or 0
//
// Receive: a zero checksum field means "not computed" and is accepted (RFC 768); a length field
// below 8 or beyond the IP payload is dropped; bytes beyond the length field are ignored.
// Send: the checksum is always computed; a computed 0 is sent as 0xffff.
#ifndef IX_DATAPLANE_NET_UDP_H_
#define IX_DATAPLANE_NET_UDP_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ipv4.h"

namespace ix::net {

inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr size_t kUdpMaxPayloadLen = kIpv4MaxTotalLen - kIpv4HeaderLen - kUdpHeaderLen;

// A parsed UDP datagram: a view into the IP payload.
struct UdpDatagram {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t length = 0;            // the length field: header + payload
  bool checksum_present = false;  // false: the sender sent 0 (no checksum)
  absl::Span<const uint8_t> payload;
};

// Parses the UDP datagram in `ip_payload` (the payload of an IPv4 packet from `src_ip` to
// `dst_ip`, host order). Reads only inside `ip_payload`. Drops: < 8 bytes (kUdpTruncated), length
// field < 8 or > ip_payload (kUdpBadLength), wrong nonzero checksum (kUdpBadChecksum).
Drop ParseUdp(absl::Span<const uint8_t> ip_payload, Ipv4Address src_ip, Ipv4Address dst_ip,
              UdpDatagram* out);

// Writes the 8-byte header into the start of `datagram`, whose remaining bytes are the payload,
// checksum included. Returns false (nothing written) if datagram < 8 or > 65507 + 8 bytes.
[[nodiscard]] bool WriteUdpHeader(absl::Span<uint8_t> datagram, Ipv4Address src_ip,
                                  Ipv4Address dst_ip, uint16_t src_port, uint16_t dst_port);

// Copies `payload` to out[8..] (it may overlap `out`) and writes the header. Returns the datagram
// length 8 + payload.size(), or 0 (nothing written) if it does not fit in `out` or in UDP/IPv4.
[[nodiscard]] size_t BuildUdp(absl::Span<uint8_t> out, Ipv4Address src_ip, Ipv4Address dst_ip,
                              uint16_t src_port, uint16_t dst_port,
                              absl::Span<const uint8_t> payload);

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_UDP_H_

// UDP datagram parsing and building.
#include "dataplane/net/udp.h"

#include <cstring>

#include "dataplane/net/checksum.h"
#include "dataplane/net/wire.h"

namespace ix::net {

Drop ParseUdp(absl::Span<const uint8_t> ip_payload, Ipv4Address src_ip, Ipv4Address dst_ip,
              UdpDatagram* out) {
  if (ip_payload.size() < kUdpHeaderLen) return Drop::kUdpTruncated;
  const uint8_t* p = ip_payload.data();
  const uint16_t length = LoadBe16(p + 4);
  if (length < kUdpHeaderLen || length > ip_payload.size()) return Drop::kUdpBadLength;
  const absl::Span<const uint8_t> datagram = ip_payload.subspan(0, length);
  const bool checksum_present = p[6] != 0 || p[7] != 0;
  if (checksum_present) {
    const uint32_t sum =
        ChecksumPartial(datagram, PseudoHeaderSum(src_ip, dst_ip, kIpProtoUdp, length));
    if (ChecksumFold(sum) != 0) return Drop::kUdpBadChecksum;
  }
  UdpDatagram udp;
  udp.src_port = LoadBe16(p);
  udp.dst_port = LoadBe16(p + 2);
  udp.length = length;
  udp.checksum_present = checksum_present;
  udp.payload = datagram.subspan(kUdpHeaderLen);
  *out = udp;
  return Drop::kNone;
}

bool WriteUdpHeader(absl::Span<uint8_t> datagram, Ipv4Address src_ip, Ipv4Address dst_ip,
                    uint16_t src_port, uint16_t dst_port) {
  if (datagram.size() < kUdpHeaderLen || datagram.size() > kUdpHeaderLen + kUdpMaxPayloadLen) {
    return false;
  }
  const auto length = static_cast<uint16_t>(datagram.size());
  uint8_t* p = datagram.data();
  StoreBe16(p, src_port);
  StoreBe16(p + 2, dst_port);
  StoreBe16(p + 4, length);
  p[6] = 0;
  p[7] = 0;
  uint16_t csum =
      ChecksumFold(ChecksumPartial(datagram, PseudoHeaderSum(src_ip, dst_ip, kIpProtoUdp, length)));
  if (csum == 0) csum = 0xffff;  // RFC 768: a computed 0 is sent as all ones
  std::memcpy(p + 6, &csum, sizeof(csum));
  return true;
}

size_t BuildUdp(absl::Span<uint8_t> out, Ipv4Address src_ip, Ipv4Address dst_ip, uint16_t src_port,
                uint16_t dst_port, absl::Span<const uint8_t> payload) {
  if (payload.size() > kUdpMaxPayloadLen || out.size() < kUdpHeaderLen + payload.size()) return 0;
  const size_t len = kUdpHeaderLen + payload.size();
  if (!payload.empty()) std::memmove(out.data() + kUdpHeaderLen, payload.data(), payload.size());
  if (!WriteUdpHeader(out.subspan(0, len), src_ip, dst_ip, src_port, dst_port)) return 0;
  return len;
}

}  // namespace ix::net

// ICMP echo parsing, building and answering; ICMP error building and quote parsing.
#include "dataplane/net/icmp.h"

#include <algorithm>
#include <cstring>

#include "dataplane/net/checksum.h"
#include "dataplane/net/wire.h"

namespace ix::net {

Drop ParseIcmp(absl::Span<const uint8_t> ip_payload, IcmpMessage* out) {
  if (ip_payload.size() < kIcmpHeaderLen) return Drop::kIcmpTruncated;
  if (InternetChecksum(ip_payload) != 0) return Drop::kIcmpBadChecksum;
  const uint8_t* p = ip_payload.data();
  IcmpMessage msg;
  msg.type = p[0];
  msg.code = p[1];
  msg.id = LoadBe16(p + 4);
  msg.sequence = LoadBe16(p + 6);
  msg.data = ip_payload.subspan(kIcmpHeaderLen);
  msg.message = ip_payload;
  *out = msg;
  return Drop::kNone;
}

size_t BuildIcmpEcho(absl::Span<uint8_t> out, uint8_t type, uint16_t id, uint16_t sequence,
                     absl::Span<const uint8_t> data) {
  if (data.size() > kIpv4MaxTotalLen - kIpv4HeaderLen - kIcmpHeaderLen) return 0;
  const size_t len = kIcmpHeaderLen + data.size();
  if (out.size() < len) return 0;
  uint8_t* p = out.data();
  if (!data.empty()) std::memmove(p + kIcmpHeaderLen, data.data(), data.size());
  p[0] = type;
  p[1] = 0;
  p[2] = 0;
  p[3] = 0;
  StoreBe16(p + 4, id);
  StoreBe16(p + 6, sequence);
  const uint16_t csum = InternetChecksum(out.subspan(0, len));
  std::memcpy(p + 2, &csum, sizeof(csum));
  return len;
}

size_t BuildIcmpError(absl::Span<uint8_t> out, uint8_t type, uint8_t code, uint16_t next_hop_mtu,
                      absl::Span<const uint8_t> quoted_header,
                      absl::Span<const uint8_t> quoted_payload) {
  if (quoted_header.size() < kIpv4HeaderLen) return 0;
  const size_t header = std::min(quoted_header.size(), kIcmpErrorMaxQuote);
  const size_t payload = std::min(quoted_payload.size(), kIcmpErrorMaxQuote - header);
  const size_t len = kIcmpHeaderLen + header + payload;
  if (out.size() < len) return 0;
  uint8_t* p = out.data();
  p[0] = type;
  p[1] = code;
  p[2] = p[3] = p[4] = p[5] = 0;
  StoreBe16(p + 6, next_hop_mtu);
  std::memcpy(p + kIcmpHeaderLen, quoted_header.data(), header);
  if (payload > 0) std::memcpy(p + kIcmpHeaderLen + header, quoted_payload.data(), payload);
  const uint16_t csum = InternetChecksum(out.subspan(0, len));
  std::memcpy(p + 2, &csum, sizeof(csum));
  return len;
}

Drop ParseIcmpError(const IcmpMessage& msg, IcmpErrorQuote* out) {
  if (msg.type != kIcmpDestUnreachable && msg.type != kIcmpTimeExceeded) {
    return Drop::kIcmpOtherType;
  }
  const absl::Span<const uint8_t> q = msg.data;
  if (q.size() < kIpv4HeaderLen + 8) return Drop::kIcmpBadQuote;
  const uint8_t* p = q.data();
  if ((p[0] >> 4) != 4) return Drop::kIcmpBadQuote;
  const size_t ihl = size_t{p[0] & 0x0fu} * 4;
  if (ihl < kIpv4HeaderLen || ihl + 8 > q.size()) return Drop::kIcmpBadQuote;
  const uint16_t total_len = LoadBe16(p + 2);
  if (total_len < ihl + 8) return Drop::kIcmpBadQuote;
  IcmpErrorQuote e;
  e.type = msg.type;
  e.code = msg.code;
  e.next_hop_mtu = LoadBe16(msg.message.data() + 6);
  e.protocol = p[9];
  e.src = LoadBe32(p + 12);
  e.dst = LoadBe32(p + 16);
  e.total_len = total_len;
  e.transport8 = q.subspan(ihl, 8);
  *out = e;
  return Drop::kNone;
}

Drop AnswerIcmp(const Ipv4Packet& ip, const MacAddress& peer_mac, const MacAddress& our_mac,
                Ipv4Address our_ip, Ipv4IdCounter* ids, absl::Span<uint8_t> out, size_t* out_len) {
  IcmpMessage msg;
  if (Drop d = ParseIcmp(ip.payload, &msg); d != Drop::kNone) return d;
  if (msg.type != kIcmpEchoRequest) return Drop::kIcmpOtherType;
  if (ip.dst != our_ip) return Drop::kIcmpNotUnicast;
  const size_t icmp_len = msg.message.size();
  const size_t frame_len = kEthHeaderLen + kIpv4HeaderLen + icmp_len;
  if (out.size() < frame_len) return Drop::kIcmpNoRoom;
  const size_t ip_off = kEthHeaderLen;
  const size_t icmp_off = ip_off + kIpv4HeaderLen;
  (void)BuildEthernetHeader(out, peer_mac, our_mac, kEtherTypeIpv4);
  Ipv4Header h;
  h.src = our_ip;
  h.dst = ip.src;
  h.protocol = kIpProtoIcmp;
  h.tos = ip.tos;
  h.id = ids->Next();
  (void)BuildIpv4Header(out.subspan(ip_off), h, icmp_len);
  // Cannot fail: the room was checked above and icmp_len came from a valid IPv4 packet.
  (void)BuildIcmpEcho(out.subspan(icmp_off), kIcmpEchoReply, msg.id, msg.sequence, msg.data);
  *out_len = frame_len;
  return Drop::kNone;
}

}  // namespace ix::net

// Test-only helpers shared by the net unit tests: hex literals and whole frames built with the
// library's own builders. Not part of ix_net_lib.
#ifndef IX_DATAPLANE_NET_TEST_FRAMES_H_
#define IX_DATAPLANE_NET_TEST_FRAMES_H_

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dataplane/net/arp.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/net/udp.h"

namespace ix::net {

// Lets GoogleTest print NetCounters as "name=value ..." (nonzero fields only).
inline void PrintTo(const NetCounters& c, std::ostream* os) {
  *os << "{";
  ForEachNetCounter(c, [os](absl::string_view name, uint64_t v) {
    if (v != 0) *os << " " << name << "=" << v;
  });
  *os << " }";
}

}  // namespace ix::net

namespace ix::net::testing {

// "0a0b 0c" -> {0x0a, 0x0b, 0x0c}; spaces are ignored. Aborts on bad hex (a broken test).
inline std::vector<uint8_t> Hex(absl::string_view text) {
  std::string compact;
  for (char c : text) {
    if (c != ' ' && c != '\n') compact.push_back(c);
  }
  if (compact.size() % 2 != 0) abort();
  const std::string bytes = absl::HexStringToBytes(compact);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

inline const MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
inline const MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};
inline constexpr Ipv4Address kIpA = 0x0a000001;  // 10.0.0.1
inline constexpr Ipv4Address kIpB = 0x0a000002;  // 10.0.0.2

// Recomputes the IPv4 header checksum of the header at the start of `ip` after a test changed it.
// Uses IHL but never reads past `ip`.
inline void RefreshIpv4Checksum(absl::Span<uint8_t> ip) {
  if (ip.size() < kIpv4HeaderLen) return;
  size_t len = size_t{ip[0] & 0x0fu} * 4;
  if (len < kIpv4HeaderLen || len > ip.size()) len = kIpv4HeaderLen;
  ip[10] = ip[11] = 0;
  const uint16_t csum = InternetChecksum(ip.first(len));
  std::memcpy(&ip[10], &csum, 2);
}

// Ethernet + IPv4 + `l4` (already built, checksums included).
inline std::vector<uint8_t> MakeIpv4Frame(const MacAddress& src_mac, const MacAddress& dst_mac,
                                          Ipv4Address src_ip, Ipv4Address dst_ip, uint8_t proto,
                                          absl::Span<const uint8_t> l4, uint16_t id = 1) {
  std::vector<uint8_t> f(kEthHeaderLen + kIpv4HeaderLen + l4.size());
  if (BuildEthernetHeader(absl::MakeSpan(f), dst_mac, src_mac, kEtherTypeIpv4) == 0) abort();
  Ipv4Header h{.src = src_ip, .dst = dst_ip, .protocol = proto, .id = id};
  if (BuildIpv4Header(absl::MakeSpan(f).subspan(kEthHeaderLen), h, l4.size()) == 0) abort();
  if (!l4.empty()) std::memcpy(&f[kEthHeaderLen + kIpv4HeaderLen], l4.data(), l4.size());
  return f;
}

inline std::vector<uint8_t> MakeUdpFrame(absl::Span<const uint8_t> payload, uint16_t sport = 1234,
                                         uint16_t dport = 5678) {
  std::vector<uint8_t> udp(kUdpHeaderLen + payload.size());
  if (BuildUdp(absl::MakeSpan(udp), kIpB, kIpA, sport, dport, payload) == 0) abort();
  return MakeIpv4Frame(kMacB, kMacA, kIpB, kIpA, kIpProtoUdp, udp);
}

inline std::vector<uint8_t> MakeEchoFrame(absl::Span<const uint8_t> data, uint16_t id = 0x1234,
                                          uint16_t seq = 1, uint8_t type = kIcmpEchoRequest) {
  std::vector<uint8_t> icmp(kIcmpHeaderLen + data.size());
  if (BuildIcmpEcho(absl::MakeSpan(icmp), type, id, seq, data) == 0) abort();
  return MakeIpv4Frame(kMacB, kMacA, kIpB, kIpA, kIpProtoIcmp, icmp);
}

inline std::vector<uint8_t> MakeArpFrame(uint16_t op, const MacAddress& sender_mac,
                                         Ipv4Address sender_ip, Ipv4Address target_ip,
                                         const MacAddress& eth_dst = MacAddress::Broadcast()) {
  std::vector<uint8_t> f(kArpFrameLen);
  ArpPacket a{.op = op, .sender_mac = sender_mac, .sender_ip = sender_ip, .target_ip = target_ip};
  if (BuildArpFrame(absl::MakeSpan(f), eth_dst, a) == 0) abort();
  return f;
}

}  // namespace ix::net::testing

#endif  // IX_DATAPLANE_NET_TEST_FRAMES_H_

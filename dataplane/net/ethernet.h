// Ethernet II: MAC addresses, ethertypes, and the checked header parser and builder.
//
//   EthernetFrame eth;
//   Drop d = ParseEthernet(frame, &eth);
//   if (d != Drop::kNone) return CountDrop(&counters, d);
//   if (eth.ethertype == kEtherTypeArp) HandleArp(eth.payload);
//
//   size_t n = BuildEthernetHeader(out, peer_mac, our_mac, kEtherTypeIpv4);  // 14, or 0: no room
//
// VLAN policy: one 802.1Q tag (ethertype 0x8100) is skipped; its TCI is reported in
// EthernetFrame::vlan_tci so the caller may filter on the VLAN ID, and `payload` starts after it.
// A second tag, or an 802.1ad (0x88a8) / 0x9100 outer tag, is dropped (Drop::kEthStackedVlan).
// Frames with an 802.3 length field (type < 0x0600) are dropped (Drop::kEthNotEthernetII).
// Trailing padding (frames padded to 60 bytes) stays in `payload`; upper layers trim it by their
// own length fields. The builder never writes a VLAN tag.
#ifndef IX_DATAPLANE_NET_ETHERNET_H_
#define IX_DATAPLANE_NET_ETHERNET_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dataplane/net/counters.h"

namespace ix::net {

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;
inline constexpr size_t kEthMinFrameLen = 60;  // without FCS
inline constexpr size_t kEthMtu = 1500;
inline constexpr size_t kEthMaxFrameLen = kEthHeaderLen + kVlanTagLen + kEthMtu;  // 1518

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad service tag
inline constexpr uint16_t kEtherTypeQinQOld = 0x9100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeMinValue = 0x0600;  // below: an 802.3 length field

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  static constexpr MacAddress Broadcast() {
    return MacAddress{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  }
  static MacAddress FromBytes(const uint8_t* p) {
    MacAddress m;
    for (size_t i = 0; i < 6; ++i) m.bytes[i] = p[i];
    return m;
  }
  void CopyTo(uint8_t* p) const {
    for (size_t i = 0; i < 6; ++i) p[i] = bytes[i];
  }
  // Group bit (I/G) set: multicast, including broadcast.
  constexpr bool IsMulticast() const { return (bytes[0] & 1) != 0; }
  constexpr bool IsBroadcast() const { return *this == Broadcast(); }
  constexpr bool IsZero() const { return *this == MacAddress{}; }
  // A MAC a host may own: not multicast and not all zero.
  constexpr bool IsUnicast() const { return !IsMulticast() && !IsZero(); }

  friend constexpr bool operator==(const MacAddress&, const MacAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const MacAddress& m) {
    return H::combine(std::move(h), m.bytes);
  }
};

// Parses "aa:bb:cc:dd:ee:ff" (exactly six pairs of hex digits, either case, ':' separated).
absl::StatusOr<MacAddress> ParseMacAddress(absl::string_view text);
// Formats as lowercase "aa:bb:cc:dd:ee:ff".
std::string FormatMacAddress(const MacAddress& mac);

// A parsed Ethernet II header: a view into the frame, valid as long as the frame's bytes are.
struct EthernetFrame {
  MacAddress dst;
  MacAddress src;
  uint16_t ethertype = 0;             // host order, after a skipped 802.1Q tag
  bool has_vlan = false;              // one 802.1Q tag was skipped
  uint16_t vlan_tci = 0;              // PCP(3) DEI(1) VID(12), host order; 0 without a tag
  size_t header_len = 0;              // 14 or 18
  absl::Span<const uint8_t> payload;  // everything after the header, padding included
};

// Parses `frame` (without FCS). Reads only inside `frame`. On Drop::kNone, fills `*out`.
Drop ParseEthernet(absl::Span<const uint8_t> frame, EthernetFrame* out);

// Accepts frames sent to `our_mac`, broadcast or multicast; otherwise Drop::kEthOtherHost.
inline Drop CheckEthernetDestination(const EthernetFrame& frame, const MacAddress& our_mac) {
  if (frame.dst == our_mac || frame.dst.IsMulticast()) return Drop::kNone;
  return Drop::kEthOtherHost;
}

// Writes a 14-byte untagged header at the start of `out`. Returns kEthHeaderLen, or 0 (nothing
// written) when `out` is shorter.
[[nodiscard]] size_t BuildEthernetHeader(absl::Span<uint8_t> out, const MacAddress& dst,
                                         const MacAddress& src, uint16_t ethertype);

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_ETHERNET_H_

// Ethernet II header parsing and building, MAC address text form.
#include "dataplane/net/ethernet.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/net/wire.h"

namespace ix::net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsVlanType(uint16_t type) {
  return type == kEtherTypeVlan || type == kEtherTypeQinQ || type == kEtherTypeQinQOld;
}

}  // namespace

absl::StatusOr<MacAddress> ParseMacAddress(absl::string_view text) {
  // "aa:bb:cc:dd:ee:ff" is 17 characters: 6 pairs and 5 colons.
  if (text.size() != 17) {
    return absl::InvalidArgumentError(absl::StrCat("bad MAC address '", text, "': length"));
  }
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    const size_t pos = i * 3;
    const int hi = HexValue(text[pos]);
    const int lo = HexValue(text[pos + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[pos + 2] != ':')) {
      return absl::InvalidArgumentError(absl::StrCat("bad MAC address '", text, "'"));
    }
    mac.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return mac;
}

std::string FormatMacAddress(const MacAddress& mac) {
  const auto& b = mac.bytes;
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

Drop ParseEthernet(absl::Span<const uint8_t> frame, EthernetFrame* out) {
  if (frame.size() < kEthHeaderLen) return Drop::kEthTruncated;
  const uint8_t* p = frame.data();
  EthernetFrame eth;
  eth.dst = MacAddress::FromBytes(p);
  eth.src = MacAddress::FromBytes(p + 6);
  uint16_t type = LoadBe16(p + 12);
  size_t header_len = kEthHeaderLen;
  if (type == kEtherTypeVlan) {
    if (frame.size() < kEthHeaderLen + kVlanTagLen) return Drop::kEthTruncated;
    eth.has_vlan = true;
    eth.vlan_tci = LoadBe16(p + 14);
    type = LoadBe16(p + 16);
    header_len += kVlanTagLen;
    if (IsVlanType(type)) return Drop::kEthStackedVlan;
  } else if (type == kEtherTypeQinQ || type == kEtherTypeQinQOld) {
    return Drop::kEthStackedVlan;
  }
  if (type < kEtherTypeMinValue) return Drop::kEthNotEthernetII;
  eth.ethertype = type;
  eth.header_len = header_len;
  eth.payload = frame.subspan(header_len);
  *out = eth;
  return Drop::kNone;
}

size_t BuildEthernetHeader(absl::Span<uint8_t> out, const MacAddress& dst, const MacAddress& src,
                           uint16_t ethertype) {
  if (out.size() < kEthHeaderLen) return 0;
  dst.CopyTo(out.data());
  src.CopyTo(out.data() + 6);
  StoreBe16(out.data() + 12, ethertype);
  return kEthHeaderLen;
}

}  // namespace ix::net

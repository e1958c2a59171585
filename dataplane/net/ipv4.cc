// IPv4 header parsing and building, dotted-quad text form.
#include "dataplane/net/ipv4.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/wire.h"

namespace ix::net {
namespace {

constexpr uint16_t kFlagDf = 0x4000;
constexpr uint16_t kFlagMf = 0x2000;
constexpr uint16_t kFragOffsetMask = 0x1fff;

}  // namespace

absl::StatusOr<Ipv4Address> ParseIpv4Address(absl::string_view text) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address '", text, "'"));
  };
  Ipv4Address addr = 0;
  size_t pos = 0;
  for (int field = 0; field < 4; ++field) {
    if (field > 0) {
      if (pos >= text.size() || text[pos] != '.') return bad();
      ++pos;
    }
    const size_t start = pos;
    uint32_t value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
      value = value * 10 + static_cast<uint32_t>(text[pos] - '0');
      ++pos;
    }
    const size_t digits = pos - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return bad();
    addr = (addr << 8) | value;
  }
  if (pos != text.size()) return bad();
  return addr;
}

std::string FormatIpv4Address(Ipv4Address a) {
  return absl::StrFormat("%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

Drop ParseIpv4(absl::Span<const uint8_t> buf, Ipv4Packet* out) {
  if (buf.size() < kIpv4HeaderLen) return Drop::kIpTruncated;
  const uint8_t* p = buf.data();
  if ((p[0] >> 4) != 4) return Drop::kIpBadVersion;
  const size_t header_len = size_t{p[0] & 0x0fu} * 4;
  if (header_len < kIpv4HeaderLen) return Drop::kIpBadIhl;
  if (buf.size() < header_len) return Drop::kIpTruncated;
  const size_t total_len = LoadBe16(p + 2);
  if (total_len < header_len || total_len > buf.size()) return Drop::kIpBadLength;
  const absl::Span<const uint8_t> header = buf.subspan(0, header_len);
  if (InternetChecksum(header) != 0) return Drop::kIpBadChecksum;
  const uint16_t frag = LoadBe16(p + 6);
  if (p[8] == 0) return Drop::kIpTtlZero;

  Ipv4Packet ip;
  ip.tos = p[1];
  ip.id = LoadBe16(p + 4);
  ip.dont_fragment = (frag & kFlagDf) != 0;
  ip.more_fragments = (frag & kFlagMf) != 0;
  ip.frag_offset = static_cast<uint16_t>((frag & kFragOffsetMask) * 8);
  ip.ttl = p[8];
  ip.protocol = p[9];
  ip.src = LoadBe32(p + 12);
  ip.dst = LoadBe32(p + 16);
  ip.header_len = header_len;
  ip.header = header;
  ip.options = header.subspan(kIpv4HeaderLen);
  ip.payload = buf.subspan(header_len, total_len - header_len);
  *out = ip;
  return Drop::kNone;
}

size_t BuildIpv4Header(absl::Span<uint8_t> out, const Ipv4Header& h, size_t payload_len) {
  if (out.size() < kIpv4HeaderLen || payload_len > kIpv4MaxTotalLen - kIpv4HeaderLen) return 0;
  uint8_t* p = out.data();
  p[0] = 0x45;
  p[1] = h.tos;
  StoreBe16(p + 2, static_cast<uint16_t>(kIpv4HeaderLen + payload_len));
  StoreBe16(p + 4, h.id);
  StoreBe16(p + 6, kFlagDf);
  p[8] = h.ttl;
  p[9] = h.protocol;
  p[10] = 0;
  p[11] = 0;
  StoreBe32(p + 12, h.src);
  StoreBe32(p + 16, h.dst);
  const uint16_t csum = InternetChecksum(out.subspan(0, kIpv4HeaderLen));
  std::memcpy(p + 10, &csum, sizeof(csum));
  return kIpv4HeaderLen;
}

}  // namespace ix::net

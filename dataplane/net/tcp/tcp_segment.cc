// TCP segment parsing and building: header fields, options, checksum (see tcp_segment.h).
#include "dataplane/net/tcp/tcp_segment.h"

#include <algorithm>
#include <cstring>

#include "dataplane/net/checksum.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {

constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptMss = 2;
constexpr uint8_t kOptWscale = 3;
constexpr uint8_t kOptSackPermitted = 4;
constexpr uint8_t kOptSack = 5;
constexpr uint8_t kOptTimestamps = 8;

// Folds a partial sum to 16 bits without complementing it.
uint32_t Fold16(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

// Adds `data` to `sum` where `data` starts at an odd byte offset of the checksummed stream when
// *odd is true (RFC 1071: swapping the bytes of a sum equals summing the swapped bytes).
uint32_t AddPiece(uint32_t sum, absl::Span<const uint8_t> data, bool* odd) {
  if (data.empty()) return sum;
  uint32_t s = Fold16(ix::net::ChecksumPartial(data));
  if (*odd) s = ((s & 0xff) << 8) | (s >> 8);
  if (data.size() & 1) *odd = !*odd;
  return Fold16(sum + s);
}

// Bytes of every option but the SACK blocks.
size_t BaseOptionBytes(const TcpOptions& o) {
  size_t n = 0;
  if (o.has_mss) n += 4;
  if (o.has_wscale) n += 4;
  if (o.sack_permitted) n += 4;
  if (o.has_timestamps) n += kTcpTimestampOptionBytes;
  return n;
}

}  // namespace

size_t TcpOptions::SackBlocksEncoded() const {
  const size_t base = BaseOptionBytes(*this);
  if (sack_count == 0 || base + 4 + 8 > kTcpMaxOptionBytes) return 0;
  return std::min<size_t>({sack_count, kTcpMaxSackBlocks, (kTcpMaxOptionBytes - base - 4) / 8});
}

size_t TcpOptions::EncodedSize() const {
  const size_t blocks = SackBlocksEncoded();
  return BaseOptionBytes(*this) + (blocks > 0 ? 4 + 8 * blocks : 0);  // NOP NOP kind len blocks
}

const char* TcpParseResultName(TcpParseResult r) {
  switch (r) {
    case TcpParseResult::kOk:
      return "ok";
    case TcpParseResult::kTooShort:
      return "too_short";
    case TcpParseResult::kBadDataOffset:
      return "bad_data_offset";
    case TcpParseResult::kBadChecksum:
      return "bad_checksum";
    case TcpParseResult::kBadOption:
      return "bad_option";
    case TcpParseResult::kBadPort:
      return "bad_port";
    case TcpParseResult::kBadFlags:
      return "bad_flags";
  }
  return "unknown";
}

bool ParseTcpOptions(absl::Span<const uint8_t> opts, TcpOptions* out) {
  *out = TcpOptions{};
  size_t i = 0;
  while (i < opts.size()) {
    const uint8_t kind = opts[i];
    if (kind == kOptEol) break;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) return false;  // no room for the length byte
    const uint8_t len = opts[i + 1];
    if (len < 2 || i + len > opts.size()) return false;
    const uint8_t* v = opts.data() + i + 2;
    switch (kind) {
      case kOptMss:
        if (len != 4) return false;
        out->has_mss = true;
        out->mss = LoadBe16(v);
        break;
      case kOptWscale:
        if (len != 3) return false;
        out->has_wscale = true;
        out->wscale = v[0];
        break;
      case kOptSackPermitted:
        if (len != 2) return false;
        out->sack_permitted = true;
        break;
      case kOptSack: {
        const size_t n = (len - 2) / 8;
        if ((len - 2) % 8 != 0 || n == 0 || n > kTcpMaxSackBlocks) return false;
        if (out->sack_count != 0) break;  // only the first SACK option counts
        for (size_t b = 0; b < n; ++b) {
          out->sack[b].left = LoadBe32(v + 8 * b);
          out->sack[b].right = LoadBe32(v + 8 * b + 4);
        }
        out->sack_count = static_cast<uint8_t>(n);
        break;
      }
      case kOptTimestamps:
        if (len != 10) return false;
        out->has_timestamps = true;
        out->ts_val = LoadBe32(v);
        out->ts_ecr = LoadBe32(v + 4);
        break;
      default:
        break;  // unknown options are skipped by their length
    }
    i += len;
  }
  return true;
}

TcpParseResult ParseTcpSegment(uint32_t src_ip, uint32_t dst_ip, absl::Span<const uint8_t> bytes,
                               bool verify_checksum, TcpSegmentView* out) {
  if (bytes.size() < kTcpHeaderMinBytes) return TcpParseResult::kTooShort;
  const uint8_t* h = bytes.data();
  const size_t header_bytes = size_t{static_cast<uint8_t>(h[12] >> 4)} * 4;
  if (header_bytes < kTcpHeaderMinBytes || header_bytes > bytes.size()) {
    return TcpParseResult::kBadDataOffset;
  }
  if (verify_checksum) {
    uint32_t sum =
        ix::net::PseudoHeaderSum(src_ip, dst_ip, kIpProtoTcp, static_cast<uint16_t>(bytes.size()));
    sum = ix::net::ChecksumPartial(bytes, sum);
    if (ix::net::ChecksumFold(sum) != 0) return TcpParseResult::kBadChecksum;
  }
  TcpSegmentView& s = *out;
  s = TcpSegmentView{};
  s.src_ip = src_ip;
  s.dst_ip = dst_ip;
  s.src_port = LoadBe16(h);
  s.dst_port = LoadBe16(h + 2);
  s.seq = LoadBe32(h + 4);
  s.ack = LoadBe32(h + 8);
  s.flags = h[13];
  s.window = LoadBe16(h + 14);
  s.urgent = LoadBe16(h + 18);
  if (s.src_port == 0 || s.dst_port == 0) return TcpParseResult::kBadPort;
  if ((s.flags & kTcpSyn) && (s.flags & (kTcpFin | kTcpRst))) return TcpParseResult::kBadFlags;
  if (!ParseTcpOptions(bytes.subspan(kTcpHeaderMinBytes, header_bytes - kTcpHeaderMinBytes),
                       &s.options)) {
    return TcpParseResult::kBadOption;
  }
  s.payload[0] = bytes.subspan(header_bytes);
  return TcpParseResult::kOk;
}

size_t WriteTcpHeader(const TcpSegmentView& seg, absl::Span<uint8_t> out) {
  const size_t header_bytes = seg.HeaderSize();
  if (out.size() < header_bytes) return 0;
  uint8_t* h = out.data();
  StoreBe16(h, seg.src_port);
  StoreBe16(h + 2, seg.dst_port);
  StoreBe32(h + 4, seg.seq);
  StoreBe32(h + 8, seg.ack);
  h[12] = static_cast<uint8_t>((header_bytes / 4) << 4);
  h[13] = seg.flags;
  StoreBe16(h + 14, seg.window);
  StoreBe16(h + 16, 0);  // checksum, filled below
  StoreBe16(h + 18, seg.urgent);
  uint8_t* o = h + kTcpHeaderMinBytes;
  const TcpOptions& opt = seg.options;
  if (opt.has_mss) {
    o[0] = kOptMss;
    o[1] = 4;
    StoreBe16(o + 2, opt.mss);
    o += 4;
  }
  if (opt.has_wscale) {
    o[0] = kOptNop;
    o[1] = kOptWscale;
    o[2] = 3;
    o[3] = opt.wscale;
    o += 4;
  }
  if (opt.sack_permitted) {
    o[0] = kOptNop;
    o[1] = kOptNop;
    o[2] = kOptSackPermitted;
    o[3] = 2;
    o += 4;
  }
  if (opt.has_timestamps) {
    o[0] = kOptNop;
    o[1] = kOptNop;
    o[2] = kOptTimestamps;
    o[3] = 10;
    StoreBe32(o + 4, opt.ts_val);
    StoreBe32(o + 8, opt.ts_ecr);
    o += kTcpTimestampOptionBytes;
  }
  if (const size_t blocks = opt.SackBlocksEncoded(); blocks > 0) {
    o[0] = kOptNop;
    o[1] = kOptNop;
    o[2] = kOptSack;
    o[3] = static_cast<uint8_t>(2 + 8 * blocks);
    for (size_t b = 0; b < blocks; ++b) {
      StoreBe32(o + 4 + 8 * b, opt.sack[b].left);
      StoreBe32(o + 8 + 8 * b, opt.sack[b].right);
    }
  }
  const size_t total = header_bytes + seg.PayloadSize();
  uint32_t sum =
      ix::net::PseudoHeaderSum(seg.src_ip, seg.dst_ip, kIpProtoTcp, static_cast<uint16_t>(total));
  bool odd = false;
  sum = AddPiece(sum, out.first(header_bytes), &odd);
  sum = AddPiece(sum, seg.payload[0], &odd);
  sum = AddPiece(sum, seg.payload[1], &odd);
  const uint16_t csum = ix::net::ChecksumFold(sum);  // network order already
  std::memcpy(h + 16, &csum, 2);
  return header_bytes;
}

size_t BuildTcpSegment(const TcpSegmentView& seg, absl::Span<uint8_t> out) {
  const size_t total = seg.WireSize();
  if (out.size() < total) return 0;
  const size_t header_bytes = WriteTcpHeader(seg, out);
  uint8_t* p = out.data() + header_bytes;
  for (const auto& piece : seg.payload) {
    if (!piece.empty()) std::memcpy(p, piece.data(), piece.size());
    p += piece.size();
  }
  return total;
}

}  // namespace ix::net::tcp

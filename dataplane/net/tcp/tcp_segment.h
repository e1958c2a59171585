// TCP segment parsing and building (RFC 9293 3.1 header, RFC 7323 / RFC 2018 options, checksum).
//
// Parse a segment that follows an IPv4 header:
//   TcpSegmentView seg;
//   TcpParseResult r = ParseTcpSegment(src_ip, dst_ip, bytes, /*verify_checksum=*/true, &seg);
//   if (r != TcpParseResult::kOk) { counters.CountParseError(r); return; }
//   // seg.payload[0] points into `bytes`; seg.seq, seg.options.mss, ... are host order.
//
// Build one (the engine hands such views to TcpOutput::Emit):
//   uint8_t buf[1600];
//   size_t n = BuildTcpSegment(seg, absl::MakeSpan(buf));   // header + options + payload +
//   checksum
//   // or, zero copy: WriteTcpHeader(seg, hdr_span) writes header + options only, with the checksum
//   // computed over the payload spans, which the caller then places right behind the header.
//
// Addresses are host-order uint32_t. Pure code: no allocation, no I/O.
#ifndef IX_DATAPLANE_NET_TCP_TCP_SEGMENT_H_
#define IX_DATAPLANE_NET_TCP_TCP_SEGMENT_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace ix::net::tcp {

inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr size_t kTcpHeaderMinBytes = 20;
inline constexpr size_t kTcpHeaderMaxBytes = 60;
inline constexpr size_t kTcpTimestampOptionBytes = 12;  // NOP NOP kind len tsval tsecr

// Header flag bits (the low byte of the flags field).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

inline constexpr size_t kTcpMaxOptionBytes = 40;
inline constexpr uint8_t kTcpMaxSackBlocks = 4;  // (40 - 2) / 8: what one SACK option can hold

// One RFC 2018 SACK block: the sequence range [left, right) the receiver holds.
struct TcpSackBlock {
  uint32_t left = 0;
  uint32_t right = 0;
};

// Options this stack understands. On parse, the has_* fields say what the segment carried; on
// build, they say what to emit. SACK blocks: on parse, the blocks of the first SACK option
// (sack_count 0..4; a SACK option of any other length is kBadOption; a second SACK option is
// checked and ignored); on build, sack_count blocks are written after the other options, as many
// as fit the 40-byte option space (3 with timestamps, 4 without).
struct TcpOptions {
  bool has_mss = false;
  bool has_wscale = false;
  bool sack_permitted = false;
  bool has_timestamps = false;
  uint16_t mss = 0;
  uint8_t wscale = 0;
  uint8_t sack_count = 0;
  uint32_t ts_val = 0;
  uint32_t ts_ecr = 0;
  TcpSackBlock sack[kTcpMaxSackBlocks];

  // SACK blocks a build writes: sack_count, capped by what the other options leave room for.
  size_t SackBlocksEncoded() const;

  // Bytes these options take on the wire (padded to a multiple of 4).
  size_t EncodedSize() const;
};

// One segment, parsed or to be built. Payload may come in two pieces (a ring buffer that wraps);
// payload[0] comes first on the wire. After parsing, payload[1] is empty.
struct TcpSegmentView {
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;  // the raw 16-bit field (unscaled)
  uint16_t urgent = 0;
  TcpOptions options;
  absl::Span<const uint8_t> payload[2];

  size_t PayloadSize() const { return payload[0].size() + payload[1].size(); }
  size_t HeaderSize() const { return kTcpHeaderMinBytes + options.EncodedSize(); }
  size_t WireSize() const { return HeaderSize() + PayloadSize(); }
  // Sequence space the segment occupies: payload plus one for SYN and one for FIN.
  uint32_t SeqLen() const {
    return static_cast<uint32_t>(PayloadSize()) + ((flags & kTcpSyn) ? 1 : 0) +
           ((flags & kTcpFin) ? 1 : 0);
  }
};

// Outcome of ParseTcpSegment; every value but kOk means "drop the segment".
enum class [[nodiscard]] TcpParseResult : uint8_t{
    kOk,
    kTooShort,       // fewer than 20 bytes
    kBadDataOffset,  // data offset < 5 words or beyond the segment
    kBadChecksum,
    kBadOption,  // an option with an illegal length or running past the header
    kBadPort,    // source or destination port 0
    kBadFlags,   // SYN together with FIN or RST
};

const char* TcpParseResultName(TcpParseResult r);

// Parses `bytes` (the TCP header and payload, exactly as long as the IPv4 total length says).
// On kOk fills *out; payload[0] aliases `bytes`.
TcpParseResult ParseTcpSegment(uint32_t src_ip, uint32_t dst_ip, absl::Span<const uint8_t> bytes,
                               bool verify_checksum, TcpSegmentView* out);

// Parses only the options area. Returns false on a malformed option.
bool ParseTcpOptions(absl::Span<const uint8_t> opts, TcpOptions* out);

// Writes header and options (seg.HeaderSize() bytes) into `out` and the checksum over header,
// pseudo-header and the payload spans. Returns bytes written, or 0 if `out` is too small.
size_t WriteTcpHeader(const TcpSegmentView& seg, absl::Span<uint8_t> out);

// Writes header, options and payload (seg.WireSize() bytes) with the checksum. Returns bytes
// written, or 0 if `out` is too small.
size_t BuildTcpSegment(const TcpSegmentView& seg, absl::Span<uint8_t> out);

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_SEGMENT_H_

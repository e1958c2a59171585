// IPv4 reassembly under hard limits: the slot table, the block pool and the output area.
#include "dataplane/net/ipv4_reasm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/wire.h"

namespace ix::net {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

absl::Status CheckRange(const char* name, uint64_t value, uint64_t lo, uint64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("ipv4 reassembly: ", name, " ", value, " not in ", lo, "..", hi));
}

}  // namespace

absl::StatusOr<Ipv4Reassembler> Ipv4Reassembler::Create(const Ipv4ReasmConfig& config,
                                                         NetCounters* counters) {
  if (counters == nullptr) return absl::InvalidArgumentError("ipv4 reassembly: no counters");
  for (absl::Status st : {
           CheckRange("max_datagrams", config.max_datagrams, 1, 1024),
           CheckRange("max_bytes", config.max_bytes, kBlockBytes, 64 * kMiB),
           CheckRange("max_fragments", config.max_fragments, 2, 1024),
           CheckRange("timeout_ns", config.timeout_ns, 1'000'000, 3600'000'000'000),
           CheckRange("output_bytes", config.output_bytes, kIpv4MaxTotalLen, 64 * kMiB),
       }) {
    if (!st.ok()) return st;
  }
  return Ipv4Reassembler(config, counters);
}

Ipv4Reassembler::Ipv4Reassembler(const Ipv4ReasmConfig& config, NetCounters* counters)
    : config_(config), counters_(counters) {
  const uint32_t nblocks = config.max_bytes / kBlockBytes;
  slots_.resize(config.max_datagrams);
  ranges_.resize(size_t{config.max_datagrams} * config.max_fragments);
  free_slots_.reserve(config.max_datagrams);
  for (size_t i = config.max_datagrams; i-- > 0;) free_slots_.push_back(static_cast<uint16_t>(i));
  blocks_.resize(size_t{nblocks} * kBlockBytes);
  free_blocks_.reserve(nblocks);
  for (uint32_t i = nblocks; i-- > 0;) free_blocks_.push_back(i);
  output_.resize(config.output_bytes);
}

ReasmResult Ipv4Reassembler::Add(const Ipv4Packet& frag, uint64_t now_ns, Ipv4Packet* whole) {
  if (NextDeadline() <= now_ns) Expire(now_ns);
  const size_t len = frag.payload.size();
  const bool last = !frag.more_fragments;
  if (len == 0 || (!last && len % 8 != 0)) return DropFragment(Drop::kIpReasmBadLength);
  if (frag.frag_offset + len > kMaxPayload) return DropFragment(Drop::kIpReasmTooLong);
  const uint32_t offset = frag.frag_offset;
  const uint32_t end = offset + static_cast<uint32_t>(len);

  Slot* s = Find(frag);
  if (s == nullptr) {
    if (in_use_ == config_.max_datagrams) return DropFragment(Drop::kIpReasmTableFull);
    if (BlocksNeeded(nullptr, offset, end) > free_blocks_.size()) {
      return DropFragment(Drop::kIpReasmNoMemory);
    }
    s = Open(frag, now_ns);
  } else {
    const Drop d = Conflict(*s, offset, end, last);
    if (d == Drop::kIpReasmDuplicate) return DropFragment(d);
    if (d != Drop::kNone) return Discard(s, d);
    if (s->fragments == config_.max_fragments) {
      return Discard(s, Drop::kIpReasmTooManyFragments);
    }
    if (BlocksNeeded(s, offset, end) > free_blocks_.size()) {
      return DropFragment(Drop::kIpReasmNoMemory);
    }
  }

  Store(s, offset, frag.payload);
  Ranges(*s)[s->fragments++] = Range{offset, end};
  s->received += end - offset;
  s->max_end = std::max(s->max_end, end);
  if (last) {
    s->have_last = true;
    s->total_len = end;
  }
  if (offset == 0) {
    s->tos = frag.tos;
    s->ttl = frag.ttl;
  }
  if (s->have_last && s->received == s->total_len) return Complete(s, whole);
  return ReasmResult::kHeld;
}

Drop Ipv4Reassembler::Conflict(const Slot& s, uint32_t offset, uint32_t end, bool last) {
  if (last ? (s.have_last ? end != s.total_len : end < s.max_end)
           : (s.have_last && end > s.total_len)) {
    return Drop::kIpReasmBadEnd;
  }
  // Held ranges are disjoint, so a range equal to [offset, end) is the only one it meets.
  const Range* r = Ranges(s);
  for (uint32_t i = 0; i < s.fragments; ++i) {
    if (r[i].start == offset && r[i].end == end) return Drop::kIpReasmDuplicate;
    if (offset < r[i].end && r[i].start < end) return Drop::kIpReasmOverlap;
  }
  return Drop::kNone;
}

uint32_t Ipv4Reassembler::BlocksNeeded(const Slot* s, uint32_t offset, uint32_t end) {
  const uint32_t first = offset / kBlockBytes;
  const uint32_t past = (end - 1) / kBlockBytes + 1;
  if (s == nullptr) return past - first;
  uint32_t n = 0;
  for (uint32_t b = first; b < past; ++b) n += s->block[b] == kNoBlock;
  return n;
}

void Ipv4Reassembler::Store(Slot* s, uint32_t offset, absl::Span<const uint8_t> data) {
  const uint32_t end = offset + static_cast<uint32_t>(data.size());
  for (uint32_t pos = offset; pos < end;) {
    uint32_t& block = s->block[pos / kBlockBytes];
    if (block == kNoBlock) {
      block = free_blocks_.back();
      free_blocks_.pop_back();
      ++blocks_in_use_;
    }
    const uint32_t in_block = pos % kBlockBytes;
    const uint32_t n = std::min(kBlockBytes - in_block, end - pos);
    std::memcpy(&blocks_[size_t{block} * kBlockBytes + in_block], &data[pos - offset], n);
    pos += n;
  }
}

ReasmResult Ipv4Reassembler::Complete(Slot* s, Ipv4Packet* whole) {
  const size_t total = kIpv4HeaderLen + s->total_len;
  if (output_.size() - output_used_ < total) return Discard(s, Drop::kIpReasmOutputFull);
  const absl::Span<uint8_t> out = absl::MakeSpan(&output_[output_used_], total);
  const Ipv4Header h{.src = s->src, .dst = s->dst, .protocol = s->protocol, .ttl = s->ttl,
                     .tos = s->tos, .id = s->id};
  if (BuildIpv4Header(out, h, s->total_len) != kIpv4HeaderLen) abort();  // total_len <= 65515
  // BuildIpv4Header sets DF (ix never fragments); a reassembled datagram has no fragment flags.
  StoreBe16(&out[6], 0);
  StoreBe16(&out[10], 0);
  const uint16_t csum = InternetChecksum(out.subspan(0, kIpv4HeaderLen));
  std::memcpy(&out[10], &csum, sizeof(csum));
  // Ranges cover [0, total_len) exactly, so every block up to total_len is held.
  for (uint32_t pos = 0; pos < s->total_len; pos += kBlockBytes) {
    const uint32_t n = std::min(kBlockBytes, s->total_len - pos);
    const size_t block = s->block[pos / kBlockBytes];
    std::memcpy(&out[kIpv4HeaderLen + pos], &blocks_[block * kBlockBytes], n);
  }
  Free(s);
  // Only a caller's hand-made fragment (TTL 0 at offset 0) can fail here; count what it is.
  const Drop d = ParseIpv4(out, whole);
  if (d != Drop::kNone) return DropFragment(d);
  output_last_ = output_used_;
  output_used_ += total;
  return ReasmResult::kComplete;
}

void Ipv4Reassembler::Release() { output_used_ = output_last_ = 0; }

void Ipv4Reassembler::ReleaseLast() { output_used_ = output_last_; }

size_t Ipv4Reassembler::Expire(uint64_t now_ns) {
  size_t n = 0;
  while (oldest_ != kNone16 && slots_[oldest_].deadline_ns <= now_ns) {
    CountDrop(counters_, Drop::kIpReasmTimeout);
    Free(&slots_[oldest_]);
    ++n;
  }
  return n;
}

uint64_t Ipv4Reassembler::NextDeadline() const {
  return oldest_ == kNone16 ? kNoDeadline : slots_[oldest_].deadline_ns;
}

Ipv4Reassembler::Slot* Ipv4Reassembler::Find(const Ipv4Packet& frag) {
  for (uint16_t i = newest_; i != kNone16; i = slots_[i].older) {
    Slot& s = slots_[i];
    if (s.id == frag.id && s.src == frag.src && s.dst == frag.dst && s.protocol == frag.protocol) {
      return &s;
    }
  }
  return nullptr;
}

Ipv4Reassembler::Slot* Ipv4Reassembler::Open(const Ipv4Packet& frag, uint64_t now_ns) {
  const uint16_t i = free_slots_.back();
  free_slots_.pop_back();
  ++in_use_;
  Slot& s = slots_[i];
  s = Slot{};
  s.src = frag.src;
  s.dst = frag.dst;
  s.id = frag.id;
  s.protocol = frag.protocol;
  s.in_use = true;
  // Saturates below kNoDeadline, which means "none".
  s.deadline_ns = now_ns < kNoDeadline - 1 - config_.timeout_ns ? now_ns + config_.timeout_ns
                                                                 : kNoDeadline - 1;
  std::fill(std::begin(s.block), std::end(s.block), kNoBlock);
  s.older = newest_;
  if (newest_ != kNone16) slots_[newest_].newer = i;
  newest_ = i;
  if (oldest_ == kNone16) oldest_ = i;
  return &s;
}

void Ipv4Reassembler::Free(Slot* s) {
  for (uint32_t b = 0; b < kBlocksPerDatagram; ++b) {
    if (s->block[b] == kNoBlock) continue;
    free_blocks_.push_back(s->block[b]);
    --blocks_in_use_;
  }
  const uint16_t i = static_cast<uint16_t>(Index(*s));
  if (s->older != kNone16) {
    slots_[s->older].newer = s->newer;
  } else {
    oldest_ = s->newer;
  }
  if (s->newer != kNone16) {
    slots_[s->newer].older = s->older;
  } else {
    newest_ = s->older;
  }
  s->in_use = false;
  free_slots_.push_back(i);
  --in_use_;
}

ReasmResult Ipv4Reassembler::DropFragment(Drop why) {
  CountDrop(counters_, why);
  return ReasmResult::kDropped;
}

ReasmResult Ipv4Reassembler::Discard(Slot* s, Drop why) {
  Free(s);
  return DropFragment(why);
}

}  // namespace ix::net

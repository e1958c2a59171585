// ARP packet parsing and building, and the fixed-size ArpCache.
#include "dataplane/net/arp.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dataplane/net/wire.h"

namespace ix::net {

Drop ParseArp(absl::Span<const uint8_t> payload, ArpPacket* out) {
  if (payload.size() < kArpPacketLen) return Drop::kArpTruncated;
  const uint8_t* p = payload.data();
  if (LoadBe16(p) != kArpHardwareEthernet || p[4] != 6) return Drop::kArpBadHardware;
  if (LoadBe16(p + 2) != kEtherTypeIpv4 || p[5] != 4) return Drop::kArpBadProtocol;
  const uint16_t op = LoadBe16(p + 6);
  if (op != kArpOpRequest && op != kArpOpReply) return Drop::kArpBadOpcode;
  ArpPacket arp;
  arp.op = op;
  arp.sender_mac = MacAddress::FromBytes(p + 8);
  arp.sender_ip = LoadBe32(p + 14);
  arp.target_mac = MacAddress::FromBytes(p + 18);
  arp.target_ip = LoadBe32(p + 24);
  if (!arp.sender_mac.IsUnicast()) return Drop::kArpBadSender;
  if (arp.sender_ip != 0 && !IsIpv4Unicast(arp.sender_ip)) return Drop::kArpBadSender;
  *out = arp;
  return Drop::kNone;
}

size_t BuildArp(absl::Span<uint8_t> out, const ArpPacket& a) {
  if (out.size() < kArpPacketLen) return 0;
  uint8_t* p = out.data();
  StoreBe16(p, kArpHardwareEthernet);
  StoreBe16(p + 2, kEtherTypeIpv4);
  p[4] = 6;
  p[5] = 4;
  StoreBe16(p + 6, a.op);
  a.sender_mac.CopyTo(p + 8);
  StoreBe32(p + 14, a.sender_ip);
  a.target_mac.CopyTo(p + 18);
  StoreBe32(p + 24, a.target_ip);
  return kArpPacketLen;
}

size_t BuildArpFrame(absl::Span<uint8_t> out, const MacAddress& eth_dst, const ArpPacket& packet) {
  if (out.size() < kArpFrameLen) return 0;
  (void)BuildEthernetHeader(out, eth_dst, packet.sender_mac, kEtherTypeArp);
  (void)BuildArp(out.subspan(kEthHeaderLen), packet);
  return kArpFrameLen;
}

absl::StatusOr<ArpCache> ArpCache::Create(const ArpCacheConfig& config, NetCounters* counters) {
  const auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("ArpCacheConfig: ", what));
  };
  if (counters == nullptr) return bad("counters is null");
  if (config.capacity == 0 || config.capacity > 65536) return bad("capacity not in 1..65536");
  if (config.max_unresolved == 0 || config.max_unresolved > config.capacity) {
    return bad("max_unresolved not in 1..capacity");
  }
  if (config.pending_frames == 0 || config.pending_frames > 65536) {
    return bad("pending_frames not in 1..65536");
  }
  if (config.max_pending_per_dest == 0 || config.max_pending_per_dest > config.pending_frames) {
    return bad("max_pending_per_dest not in 1..pending_frames");
  }
  if (config.max_frame_len < kEthHeaderLen || config.max_frame_len > 65536) {
    return bad("max_frame_len not in 14..65536");
  }
  if (config.max_requests == 0 || config.max_requests > 255)
    return bad("max_requests not in 1..255");
  if (config.retry_interval_ns == 0 || config.entry_timeout_ns == 0) return bad("zero timeout");
  return ArpCache(config, counters);
}

ArpCache::ArpCache(const ArpCacheConfig& config, NetCounters* counters)
    : config_(config), counters_(counters) {
  uint32_t bits = 1;
  while ((size_t{1} << bits) < config.capacity) ++bits;
  bucket_shift_ = 32 - bits;
  buckets_.assign(size_t{1} << bits, kNil);
  entries_.resize(config.capacity);
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i].next = i + 1 < entries_.size() ? static_cast<uint32_t>(i + 1) : kNil;
  }
  free_entry_ = 0;
  slots_.resize(config.pending_frames);
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].next = i + 1 < slots_.size() ? static_cast<uint32_t>(i + 1) : kNil;
  }
  free_slot_ = 0;
  slot_bytes_.resize(config.pending_frames * config.max_frame_len);
}

uint32_t ArpCache::Bucket(Ipv4Address ip) const { return (ip * 2654435761u) >> bucket_shift_; }

uint32_t ArpCache::Find(Ipv4Address ip) const {
  for (uint32_t i = buckets_[Bucket(ip)]; i != kNil; i = entries_[i].next) {
    if (entries_[i].ip == ip) return i;
  }
  return kNil;
}

// Takes a free entry, or evicts the resolved entry that expires first. Returns kNil (counted as
// kArpCacheFull by the caller) when neither exists or too many entries are unresolved.
uint32_t ArpCache::Allocate(Ipv4Address ip, bool unresolved) {
  if (unresolved && unresolved_ >= config_.max_unresolved) return kNil;
  uint32_t index = free_entry_;
  if (index != kNil) {
    free_entry_ = entries_[index].next;
  } else {
    uint64_t oldest_ns = UINT64_MAX;
    for (uint32_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].state == State::kResolved && entries_[i].deadline_ns <= oldest_ns) {
        oldest_ns = entries_[i].deadline_ns;
        index = i;
      }
    }
    if (index == kNil) return kNil;
    Release(index);
    free_entry_ = entries_[index].next;  // Release pushed it on the free list
  }
  Entry& e = entries_[index];
  e = Entry{};
  e.ip = ip;
  e.state = unresolved ? State::kUnresolved : State::kResolved;
  uint32_t& head = buckets_[Bucket(ip)];
  e.next = head;
  head = index;
  ++used_entries_;
  if (unresolved) ++unresolved_;
  return index;
}

// Unlinks an entry (whose queue must be empty) and puts it on the free list.
void ArpCache::Release(uint32_t index) {
  Entry& e = entries_[index];
  for (uint32_t* link = &buckets_[Bucket(e.ip)]; *link != kNil; link = &entries_[*link].next) {
    if (*link == index) {
      *link = e.next;
      break;
    }
  }
  if (e.state == State::kUnresolved) --unresolved_;
  --used_entries_;
  e = Entry{};
  e.next = free_entry_;
  free_entry_ = index;
}

// Records `mac` for the entry; if it was unresolved, moves its queue to the ready list with the
// destination MAC written into each frame.
void ArpCache::Learn(uint32_t index, const MacAddress& mac, uint64_t now_ns) {
  Entry& e = entries_[index];
  e.mac = mac;
  e.deadline_ns = now_ns + config_.entry_timeout_ns;
  if (e.state == State::kUnresolved) {
    --unresolved_;
    e.state = State::kResolved;
    e.requests_sent = 0;
  }
  if (e.queue_head == kNil) return;
  for (uint32_t s = e.queue_head; s != kNil; s = slots_[s].next) mac.CopyTo(SlotBytes(s));
  if (ready_tail_ == kNil) {
    ready_head_ = e.queue_head;
  } else {
    slots_[ready_tail_].next = e.queue_head;
  }
  ready_tail_ = e.queue_tail;
  e.queue_head = e.queue_tail = kNil;
  e.queued = 0;
}

bool ArpCache::Enqueue(uint32_t index, absl::Span<const uint8_t> frame) {
  Entry& e = entries_[index];
  if (e.queued >= config_.max_pending_per_dest || free_slot_ == kNil) return false;
  const uint32_t s = free_slot_;
  free_slot_ = slots_[s].next;
  ++used_slots_;
  slots_[s].next = kNil;
  slots_[s].len = static_cast<uint32_t>(frame.size());
  std::memcpy(SlotBytes(s), frame.data(), frame.size());
  if (e.queue_tail == kNil) {
    e.queue_head = s;
  } else {
    slots_[e.queue_tail].next = s;
  }
  e.queue_tail = s;
  ++e.queued;
  return true;
}

void ArpCache::DropQueue(uint32_t index, Drop reason) {
  Entry& e = entries_[index];
  uint32_t s = e.queue_head;
  while (s != kNil) {
    const uint32_t next = slots_[s].next;
    slots_[s].next = free_slot_;
    free_slot_ = s;
    --used_slots_;
    Count(reason);
    s = next;
  }
  e.queue_head = e.queue_tail = kNil;
  e.queued = 0;
}

ArpResolve ArpCache::Resolve(Ipv4Address next_hop, absl::Span<const uint8_t> frame, uint64_t now_ns,
                             MacAddress* mac) {
  if (next_hop == kIpv4Broadcast) {
    *mac = MacAddress::Broadcast();
    return ArpResolve::kHit;
  }
  if (IsIpv4Multicast(next_hop)) {  // RFC 1112 6.4: 01:00:5e + the low 23 bits
    *mac = MacAddress{{0x01, 0x00, 0x5e, static_cast<uint8_t>((next_hop >> 16) & 0x7f),
                       static_cast<uint8_t>(next_hop >> 8), static_cast<uint8_t>(next_hop)}};
    return ArpResolve::kHit;
  }
  uint32_t index = Find(next_hop);
  if (index != kNil && entries_[index].state == State::kResolved) {
    if (now_ns < entries_[index].deadline_ns) {
      *mac = entries_[index].mac;
      return ArpResolve::kHit;
    }
    Release(index);  // expired: resolve again below
    index = kNil;
  }
  if (frame.size() < kEthHeaderLen || frame.size() > config_.max_frame_len) {
    Count(Drop::kArpBadFrameSize);
    return ArpResolve::kDropped;
  }
  if (index != kNil) {  // already unresolved: a request is on its way
    if (!Enqueue(index, frame)) {
      Count(Drop::kArpQueueFull);
      return ArpResolve::kDropped;
    }
    return ArpResolve::kQueued;
  }
  if (free_slot_ == kNil) {
    Count(Drop::kArpQueueFull);
    return ArpResolve::kDropped;
  }
  index = Allocate(next_hop, /*unresolved=*/true);
  if (index == kNil) {
    Count(Drop::kArpCacheFull);
    return ArpResolve::kDropped;
  }
  (void)Enqueue(index, frame);  // cannot fail: a slot is free and the queue is empty
  entries_[index].requests_sent = 1;
  entries_[index].deadline_ns = now_ns + config_.retry_interval_ns;
  return ArpResolve::kQueuedSendRequest;
}

size_t ArpCache::Input(const ArpPacket& packet, uint64_t now_ns, absl::Span<uint8_t> reply) {
  if (packet.sender_ip == config_.our_ip) {
    Count(Drop::kArpIpConflict);
    return 0;
  }
  const bool for_us = packet.target_ip == config_.our_ip;
  const bool request = packet.op == kArpOpRequest;
  // RFC 826: update the sender if known; learn it only if the packet asks for us.
  uint32_t index = packet.sender_ip != 0 ? Find(packet.sender_ip) : kNil;
  const bool known = index != kNil;
  if (!known && for_us && request && packet.sender_ip != 0) {
    index = Allocate(packet.sender_ip, /*unresolved=*/false);
    if (index == kNil) Count(Drop::kArpCacheFull);  // still answered below
  }
  if (index != kNil) Learn(index, packet.sender_mac, now_ns);
  if (!for_us || !request) {
    if (!known) Count(request ? Drop::kArpNotForUs : Drop::kArpUnsolicited);
    return 0;
  }
  ArpPacket answer;
  answer.op = kArpOpReply;
  answer.sender_mac = config_.our_mac;
  answer.sender_ip = config_.our_ip;
  answer.target_mac = packet.sender_mac;
  answer.target_ip = packet.sender_ip;  // 0 for a probe, as Linux answers them
  const size_t n = BuildArpFrame(reply, packet.sender_mac, answer);
  if (n == 0) Count(Drop::kArpNoRoom);
  return n;
}

size_t ArpCache::TakeReady(absl::Span<uint8_t> out) {
  while (ready_head_ != kNil) {
    const uint32_t s = ready_head_;
    ready_head_ = slots_[s].next;
    if (ready_head_ == kNil) ready_tail_ = kNil;
    const size_t len = slots_[s].len;
    const bool fits = len <= out.size();
    if (fits) std::memcpy(out.data(), SlotBytes(s), len);
    slots_[s].next = free_slot_;
    free_slot_ = s;
    --used_slots_;
    if (fits) return len;
    Count(Drop::kArpNoRoom);
  }
  return 0;
}

size_t ArpCache::Poll(uint64_t now_ns, absl::Span<Ipv4Address> request_targets) {
  size_t n = 0;
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (e.state == State::kFree || now_ns < e.deadline_ns) continue;
    if (e.state == State::kResolved) {
      Release(i);
    } else if (e.requests_sent >= config_.max_requests) {
      DropQueue(i, Drop::kArpResolveFailed);
      Release(i);
    } else if (n < request_targets.size()) {
      request_targets[n++] = e.ip;
      ++e.requests_sent;
      e.deadline_ns = now_ns + config_.retry_interval_ns;
    }
  }
  return n;
}

size_t ArpCache::BuildRequest(Ipv4Address target, absl::Span<uint8_t> out) const {
  ArpPacket request;
  request.op = kArpOpRequest;
  request.sender_mac = config_.our_mac;
  request.sender_ip = config_.our_ip;
  request.target_ip = target;  // target_mac stays zero, as RFC 826 leaves it unspecified
  return BuildArpFrame(out, MacAddress::Broadcast(), request);
}

std::optional<MacAddress> ArpCache::Lookup(Ipv4Address ip, uint64_t now_ns) const {
  const uint32_t index = Find(ip);
  if (index == kNil || entries_[index].state != State::kResolved) return std::nullopt;
  if (now_ns >= entries_[index].deadline_ns) return std::nullopt;
  return entries_[index].mac;
}

}  // namespace ix::net

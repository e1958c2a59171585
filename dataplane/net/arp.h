// ARP for IPv4 over Ethernet (RFC 826): the checked packet parser and builder, and ArpCache, the
// fixed-size neighbour table with its queue of frames waiting for a MAC.
//
//   auto cache = ArpCache::Create({.our_mac = mac, .our_ip = ip}, &counters);
//   // Receive: eth.ethertype == kEtherTypeArp
//   ArpPacket arp;
//   Drop d = ParseArp(eth.payload, &arp);
//   if (d != Drop::kNone) return CountDrop(&counters, d);
//   if (size_t n = cache->Input(arp, now_ns, tx)) Send(tx.first(n));  // our reply
//   while (size_t n = cache->TakeReady(tx)) Send(tx.first(n));        // released frames
//
//   // Transmit: a whole frame whose destination MAC is still unknown.
//   MacAddress mac;
//   ArpResolve r = cache->Resolve(next_hop, frame, now_ns, &mac);
//   if (r == ArpResolve::kHit) { mac.CopyTo(frame.data()); Send(frame); }
//   if (r == ArpResolve::kQueuedSendRequest) Send(req.first(cache->BuildRequest(next_hop, req)));
//   // kQueued, kQueuedSendRequest: the frame was copied; kDropped: it was counted. Free it.
//
//   // Every few hundred ms (retry_interval_ns / 4 is plenty):
//   Ipv4Address targets[8];
//   size_t n = cache->Poll(now_ns, targets);  // then send BuildRequest(targets[i]) for i < n
//
// Only Ethernet/IPv4 ARP is accepted; everything else is dropped with its own counter.
#ifndef IX_DATAPLANE_NET_ARP_H_
#define IX_DATAPLANE_NET_ARP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/ipv4.h"

namespace ix::net {

inline constexpr size_t kArpPacketLen = 28;
inline constexpr size_t kArpFrameLen = kEthHeaderLen + kArpPacketLen;  // 42, unpadded
inline constexpr uint16_t kArpHardwareEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

struct ArpPacket {
  uint16_t op = 0;  // kArpOpRequest or kArpOpReply
  MacAddress sender_mac;
  Ipv4Address sender_ip = 0;
  MacAddress target_mac;
  Ipv4Address target_ip = 0;

  friend bool operator==(const ArpPacket&, const ArpPacket&) = default;
};

// Parses the ARP packet at the start of `payload` (the Ethernet payload; padding after the 28
// bytes is ignored). Reads only inside `payload`. Drops, in order: < 28 bytes (kArpTruncated),
// hardware type not 1 or length not 6 (kArpBadHardware), protocol not 0x0800 or length not 4
// (kArpBadProtocol), opcode not 1 or 2 (kArpBadOpcode), sender MAC not unicast or sender IP
// neither 0 (an RFC 5227 probe) nor unicast (kArpBadSender).
Drop ParseArp(absl::Span<const uint8_t> payload, ArpPacket* out);

// Writes the 28-byte packet into `out`. Returns kArpPacketLen, or 0 (nothing written) if shorter.
[[nodiscard]] size_t BuildArp(absl::Span<uint8_t> out, const ArpPacket& packet);

// Writes a whole frame (Ethernet header to `eth_dst` from packet.sender_mac, then the packet).
// Returns kArpFrameLen, or 0 (nothing written) if `out` is shorter.
[[nodiscard]] size_t BuildArpFrame(absl::Span<uint8_t> out, const MacAddress& eth_dst,
                                   const ArpPacket& packet);

struct ArpCacheConfig {
  MacAddress our_mac;
  Ipv4Address our_ip = 0;
  size_t capacity = 256;                       // entries, resolved and unresolved
  size_t max_unresolved = 128;                 // entries waiting for a reply, at most `capacity`
  size_t pending_frames = 64;                  // frame slots shared by all unresolved destinations
  size_t max_pending_per_dest = 4;             // frames queued for one destination
  size_t max_frame_len = kEthMaxFrameLen;      // bytes per frame slot
  uint64_t entry_timeout_ns = 60'000'000'000;  // a learned MAC is used this long after learning
  uint64_t retry_interval_ns = 1'000'000'000;  // between requests for an unresolved destination
  uint32_t max_requests = 3;                   // requests sent before queued frames are dropped
};

enum class [[nodiscard]] ArpResolve : uint8_t{
    kHit,                // *mac is the destination; the frame was not copied: send it now.
    kQueued,             // the frame was copied into the destination's pending queue.
    kQueuedSendRequest,  // as kQueued, and the caller must send BuildRequest(next_hop) now.
    kDropped,            // the frame was dropped and one counter incremented.
};

// A fixed-size neighbour table. All memory is allocated by Create; nothing grows afterwards, so a
// peer flooding ARP can only churn the resolved entries (least-recently-learned goes first) and
// cannot add memory. Entries are created only by our own resolutions and by requests for our IP
// (as Linux does with arp_accept=0); announcements and replies only refresh existing entries.
// Time is passed in (now_ns, any monotonic clock); nothing here does I/O. Single-threaded: one
// core owns an ArpCache. Drops are counted into the NetCounters given to Create, exactly one
// counter per dropped packet or frame, and must not be counted again by the caller.
class ArpCache {
 public:
  // Fails with InvalidArgument on a config out of range (zero sizes, max_frame_len < 14,
  // more than 65536 entries or slots, max_requests not in 1..255). `counters` must outlive it.
  static absl::StatusOr<ArpCache> Create(const ArpCacheConfig& config, NetCounters* counters);

  ArpCache(ArpCache&&) = default;
  ArpCache& operator=(ArpCache&&) = default;

  // Finds the MAC of `next_hop` for the Ethernet `frame` (>= 14 bytes, destination MAC still to
  // fill in). 255.255.255.255 and multicast IPs map to their MACs without a table entry. On a miss
  // the frame is copied (the caller keeps its buffer) and sent later through TakeReady with
  // its destination MAC filled in, or dropped after max_requests unanswered requests.
  ArpResolve Resolve(Ipv4Address next_hop, absl::Span<const uint8_t> frame, uint64_t now_ns,
                     MacAddress* mac);

  // Handles a parsed ARP packet received at now_ns: refreshes the sender's entry, learns it if
  // the packet is a request for our IP, releases frames waiting for it to TakeReady, and answers
  // requests for our IP. Returns the length of the reply frame written to `reply` (0: nothing to
  // send). `reply` needs kArpFrameLen bytes.
  [[nodiscard]] size_t Input(const ArpPacket& packet, uint64_t now_ns, absl::Span<uint8_t> reply);

  // True while frames released by Input wait for TakeReady.
  bool HasReady() const { return ready_head_ != kNil; }

  // Copies the oldest released frame, destination MAC filled in, to `out` and returns its length;
  // 0 when none is left. A frame longer than `out` is dropped (kArpNoRoom) and the next is tried.
  [[nodiscard]] size_t TakeReady(absl::Span<uint8_t> out);

  // Runs the timers: forgets entries past entry_timeout_ns; for each unresolved destination whose
  // retry time has come, either writes it to `request_targets` (the caller sends BuildRequest for
  // each) or, after max_requests requests, drops its frames (kArpResolveFailed each) and forgets
  // it. Returns how many targets were written; destinations that did not fit stay due for the
  // next call.
  [[nodiscard]] size_t Poll(uint64_t now_ns, absl::Span<Ipv4Address> request_targets);

  // Writes a broadcast "who has `target`" request frame. Returns kArpFrameLen or 0 (no room).
  [[nodiscard]] size_t BuildRequest(Ipv4Address target, absl::Span<uint8_t> out) const;

  // The MAC learned for `ip`, if resolved and not expired at now_ns. For tools and tests.
  std::optional<MacAddress> Lookup(Ipv4Address ip, uint64_t now_ns) const;

  size_t entries() const { return used_entries_; }
  size_t unresolved() const { return unresolved_; }
  size_t queued_frames() const { return used_slots_; }  // pending and ready
  const ArpCacheConfig& config() const { return config_; }

 private:
  static constexpr uint32_t kNil = 0xffffffff;
  enum class State : uint8_t { kFree, kUnresolved, kResolved };
  struct Entry {
    Ipv4Address ip = 0;
    MacAddress mac;
    State state = State::kFree;
    uint8_t requests_sent = 0;
    uint32_t queued = 0;
    uint32_t next = kNil;        // bucket chain, or free list
    uint32_t queue_head = kNil;  // pending frame slots, oldest first
    uint32_t queue_tail = kNil;
    uint64_t deadline_ns = 0;  // resolved: expiry; unresolved: next request
  };
  struct Slot {
    uint32_t next = kNil;
    uint32_t len = 0;
  };

  ArpCache(const ArpCacheConfig& config, NetCounters* counters);
  uint32_t Bucket(Ipv4Address ip) const;
  uint32_t Find(Ipv4Address ip) const;
  uint32_t Allocate(Ipv4Address ip, bool unresolved);
  void Release(uint32_t index);
  void Learn(uint32_t index, const MacAddress& mac, uint64_t now_ns);
  bool Enqueue(uint32_t index, absl::Span<const uint8_t> frame);
  void DropQueue(uint32_t index, Drop reason);
  uint8_t* SlotBytes(uint32_t slot) {
    return slot_bytes_.data() + size_t{slot} * config_.max_frame_len;
  }
  void Count(Drop drop) { CountDrop(counters_, drop); }

  ArpCacheConfig config_;
  NetCounters* counters_;
  uint32_t bucket_shift_ = 0;
  std::vector<uint32_t> buckets_;
  std::vector<Entry> entries_;
  uint32_t free_entry_ = kNil;
  size_t used_entries_ = 0;
  size_t unresolved_ = 0;
  std::vector<Slot> slots_;
  std::vector<uint8_t> slot_bytes_;
  uint32_t free_slot_ = kNil;
  size_t used_slots_ = 0;
  uint32_t ready_head_ = kNil;
  uint32_t ready_tail_ = kNil;
};

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_ARP_H_

// IPv4 reassembly (RFC 791 with RFC 5722's overlap rule) under hard limits, so that a flood of
// fragments costs a bounded amount of memory and time.
//
//   auto reasm = Ipv4Reassembler::Create({}, &counters);   // the defaults below
//   // Receive: ip from ParseIpv4, ip.IsFragment(), destination already checked.
//   Ipv4Packet whole;
//   if (reasm->Add(ip, now_ns, &whole) == ReasmResult::kComplete) {
//     bool keep = Dispatch(whole);          // whole.payload lives in the reassembler's output area
//     if (!keep) reasm->ReleaseLast();      // done with it at once (TCP, ICMP)
//   }
//   // Once per iteration, before frames are received: payloads handed out last time are freed.
//   reasm->Release();
//   if (reasm->NextDeadline() <= now_ns) reasm->Expire(now_ns);
//
// Datagrams are keyed by (src, dst, protocol, id). Limits (Ipv4ReasmConfig, all checked by
// Create; all memory is allocated there, nothing is allocated per fragment):
//   max_datagrams  64        datagrams in progress at once (0 disables reassembly: the Stack then
//                            drops every fragment as net.ip_fragment)
//   max_bytes      256 KiB   fragment data held over all datagrams, in 1 KiB blocks: a fragment
//                            uses every block its bytes touch, so the budget counts blocks
//   max_fragments  64        fragments per datagram
//   timeout_ns     30 s      from a datagram's first fragment (Linux's ipfrag_time); then freed
//   output_bytes   128 KiB   completed datagrams handed out until the next Release()
// and a reassembled datagram is at most 65535 bytes with its 20-byte header (payload <= 65515).
//
// Policy, each drop counted once into the NetCounters given to Create:
//   - A fragment whose bytes overlap any byte already held discards the whole datagram
//     (ip_reasm_overlap). RFC 5722's rule for IPv6; stricter than RFC 791, which lets the newer
//     bytes win. An exact duplicate (same offset and length) is dropped, the datagram kept
//     (ip_reasm_duplicate).
//   - A fragment that is empty or, not being the last, not a multiple of 8 bytes
//     (ip_reasm_bad_length), or that ends past 65515 payload bytes (ip_reasm_too_long): the
//     fragment is dropped. (Linux also discards empty fragments.)
//   - A second last fragment with another end, a last fragment ending before bytes already held,
//     or a fragment ending past the last fragment's end: the datagram is discarded
//     (ip_reasm_bad_end).
//   - More than max_fragments fragments: the datagram is discarded (ip_reasm_too_many_fragments).
//   The checks run in the order listed: a fragment is first checked alone, then against the
//   datagram's end, then for a duplicate or an overlap, then the fragment count, then memory.
//   - Limits: when max_datagrams are in progress a fragment of a new datagram is dropped
//     (ip_reasm_table_full); when max_bytes would be exceeded the fragment is dropped
//     (ip_reasm_no_memory). Nothing in progress is evicted early: a flood can delay new
//     datagrams by at most timeout_ns but cannot push out datagrams already being reassembled
//     (Linux, since 4.17, also drops new fragments above its high threshold instead of evicting).
//   - A datagram not completed within timeout_ns is freed by Expire, or by the next Add
//     (ip_reasm_timeout). A completed datagram that finds no room in the output area is
//     discarded (ip_reasm_output_full).
// Counts are per dropped fragment, or per discarded datagram (its held fragments are freed
// without being counted again, and a fragment that discards its datagram is not counted apart).
// A later fragment of a discarded datagram starts a new one. No ICMP time-exceeded is sent.
//
// The completed datagram is a fresh 20-byte IPv4 header (tos and TTL of the offset-0 fragment,
// no options, no fragment flags, checksum right) followed by the payload, in the output area,
// parsed by ParseIpv4 into `whole` (id, src, dst and protocol of the fragments). It stays valid
// until Release(), or ReleaseLast() for the most recent one.
//
// Threading: one owner thread. Lookup is a linear scan of the datagrams in progress (at most
// max_datagrams, hence its bound of 1024).
#ifndef IX_DATAPLANE_NET_IPV4_REASM_H_
#define IX_DATAPLANE_NET_IPV4_REASM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ipv4.h"

namespace ix::net {

struct Ipv4ReasmConfig {
  uint32_t max_datagrams = 64;                // 0 (disabled) or 1..1024
  uint32_t max_bytes = 256 * 1024;            // 1 KiB..64 MiB (rounded down to whole KiB)
  uint32_t max_fragments = 64;                // 2..1024
  uint64_t timeout_ns = 30'000'000'000;       // 1 ms..1 h
  uint32_t output_bytes = 128 * 1024;         // 65535..64 MiB
};

enum class [[nodiscard]] ReasmResult : uint8_t {
  kHeld,      // kept, the datagram is not complete yet
  kComplete,  // this fragment completed the datagram: see `whole`
  kDropped,   // the fragment (maybe with its datagram) was dropped and counted
};

class Ipv4Reassembler {
 public:
  static constexpr uint32_t kBlockBytes = 1024;
  static constexpr uint32_t kMaxPayload = kIpv4MaxTotalLen - kIpv4HeaderLen;  // 65515
  static constexpr uint64_t kNoDeadline = ~uint64_t{0};

  // Validates `config` (ranges above; max_datagrams 0 is rejected here: a caller that disables
  // reassembly creates no reassembler) and allocates all memory. Drops are counted into
  // `counters`, which must outlive the reassembler.
  static absl::StatusOr<Ipv4Reassembler> Create(const Ipv4ReasmConfig& config,
                                                NetCounters* counters);

  // Adds the fragment `frag` (parsed by ParseIpv4, frag.IsFragment()) at now_ns (monotonic).
  // Frees expired datagrams first. On kComplete, *whole is the reassembled datagram (see above);
  // otherwise *whole is untouched. Copies what it keeps: `frag` may be freed on return.
  ReasmResult Add(const Ipv4Packet& frag, uint64_t now_ns, Ipv4Packet* whole);

  // Frees every completed datagram handed out since the last Release().
  void Release();
  // Frees the most recently completed datagram (call right after Add returned kComplete); does
  // nothing if it was already freed.
  void ReleaseLast();

  // Frees (and counts as ip_reasm_timeout) every datagram whose first fragment came at or before
  // now_ns - timeout_ns. Returns how many.
  size_t Expire(uint64_t now_ns);
  // When the oldest datagram in progress expires (its first fragment's now_ns + timeout_ns),
  // kNoDeadline if none.
  uint64_t NextDeadline() const;

  size_t datagrams() const { return in_use_; }
  // Fragment memory in use (whole blocks), at most capacity_bytes().
  size_t bytes_held() const { return size_t{blocks_in_use_} * kBlockBytes; }
  size_t capacity_bytes() const { return blocks_.size(); }
  size_t output_in_use() const { return output_used_; }
  const Ipv4ReasmConfig& config() const { return config_; }

 private:
  static constexpr uint16_t kNone16 = 0xffff;
  static constexpr uint32_t kNoBlock = 0xffffffff;
  static constexpr size_t kBlocksPerDatagram = (kMaxPayload + kBlockBytes - 1) / kBlockBytes;

  struct Range {
    uint32_t start;
    uint32_t end;
  };
  struct Slot {
    Ipv4Address src = 0;
    Ipv4Address dst = 0;
    uint16_t id = 0;
    uint8_t protocol = 0;
    bool in_use = false;
    bool have_last = false;  // the last fragment (MF clear) arrived: total_len is known
    uint8_t tos = 0;
    uint8_t ttl = 0;
    uint32_t total_len = 0;  // payload bytes, once have_last
    uint32_t max_end = 0;    // largest end of a held fragment
    uint32_t received = 0;   // payload bytes held (no overlaps, so coverage)
    uint32_t fragments = 0;
    uint64_t deadline_ns = 0;
    uint16_t older = kNone16;  // age list: slots in order of their first fragment
    uint16_t newer = kNone16;
    uint32_t block[kBlocksPerDatagram];
  };

  Ipv4Reassembler(const Ipv4ReasmConfig& config, NetCounters* counters);

  Slot* Find(const Ipv4Packet& frag);
  Slot* Open(const Ipv4Packet& frag, uint64_t now_ns);
  void Free(Slot* s);  // returns its blocks and the slot; counts nothing
  Range* Ranges(const Slot& s) { return &ranges_[Index(s) * config_.max_fragments]; }
  size_t Index(const Slot& s) const { return static_cast<size_t>(&s - slots_.data()); }
  ReasmResult DropFragment(Drop why);
  ReasmResult Discard(Slot* s, Drop why);
  // kNone, or why [offset, end) cannot join `s`: kIpReasmBadEnd, kIpReasmDuplicate or
  // kIpReasmOverlap.
  Drop Conflict(const Slot& s, uint32_t offset, uint32_t end, bool last);
  // Blocks that storing [offset, end) in `s` (nullptr: a new datagram) would add.
  static uint32_t BlocksNeeded(const Slot* s, uint32_t offset, uint32_t end);
  // Copies `data` at `offset`; the blocks it needs must be free (BlocksNeeded).
  void Store(Slot* s, uint32_t offset, absl::Span<const uint8_t> data);
  ReasmResult Complete(Slot* s, Ipv4Packet* whole);

  Ipv4ReasmConfig config_;
  NetCounters* counters_;
  std::vector<Slot> slots_;
  std::vector<Range> ranges_;        // max_fragments per slot
  std::vector<uint16_t> free_slots_;
  std::vector<uint8_t> blocks_;      // the fragment data, kBlockBytes per block
  std::vector<uint32_t> free_blocks_;
  uint32_t blocks_in_use_ = 0;
  size_t in_use_ = 0;
  uint16_t oldest_ = kNone16;
  uint16_t newest_ = kNone16;
  std::vector<uint8_t> output_;
  size_t output_used_ = 0;
  size_t output_last_ = 0;  // start of the most recent completed datagram
};

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_IPV4_REASM_H_

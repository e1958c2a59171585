// Drop counters of the lower protocol layers (Ethernet, ARP, IPv4, ICMP, UDP) and the Drop code
// that every parser and handler returns.
//
//   NetCounters counters;
//   EthernetFrame eth;
//   Drop d = ParseEthernet(frame, &eth);
//   if (d != Drop::kNone) return CountDrop(&counters, d);
//   ...
//   ForEachNetCounter(counters, [](absl::string_view name, uint64_t value) { ... });
//
// Contract: each Drop value other than kNone names exactly one field of NetCounters, so a receive
// path that counts the Drop it got increments exactly one counter per dropped packet. Parsers are
// pure and return the Drop; stateful code (ArpCache) counts into the NetCounters it was given.
// NetCounters is a plain struct of uint64_t fields: one owner (one core) writes it, a tool may copy
// it. The list below is the single source of the enum, the fields and their names.
#ifndef IX_DATAPLANE_NET_COUNTERS_H_
#define IX_DATAPLANE_NET_COUNTERS_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace ix::net {

// X(EnumName, field_name, "what was dropped")
#define IX_NET_DROP_LIST(X)                                                                      \
  X(EthTruncated, eth_truncated, "frame shorter than its Ethernet header (and VLAN tag)")        \
  X(EthNotEthernetII, eth_not_ethernet_ii, "802.3 length field instead of an ethertype")         \
  X(EthStackedVlan, eth_stacked_vlan, "more than one VLAN tag (802.1Q or 802.1ad)")              \
  X(EthOtherHost, eth_other_host, "destination MAC is not ours, broadcast or multicast")         \
  X(EthUnknownType, eth_unknown_type, "ethertype nobody handles (counted by the demultiplexer)") \
  X(ArpTruncated, arp_truncated, "ARP packet shorter than 28 bytes")                             \
  X(ArpBadHardware, arp_bad_hardware, "ARP hardware type not Ethernet or length not 6")          \
  X(ArpBadProtocol, arp_bad_protocol, "ARP protocol type not IPv4 or length not 4")              \
  X(ArpBadOpcode, arp_bad_opcode, "ARP opcode neither request nor reply")                        \
  X(ArpBadSender, arp_bad_sender, "ARP sender MAC not unicast or sender IP not unicast")         \
  X(ArpIpConflict, arp_ip_conflict, "ARP sender claims our own IP address")                      \
  X(ArpNotForUs, arp_not_for_us, "ARP request for another host about an unknown sender")         \
  X(ArpUnsolicited, arp_unsolicited, "ARP reply or announcement for an IP not in the cache")     \
  X(ArpCacheFull, arp_cache_full, "no free or evictable ARP entry, or too many unresolved")     \
  X(ArpQueueFull, arp_queue_full, "frame waiting for ARP: per-destination queue or pool full")   \
  X(ArpBadFrameSize, arp_bad_frame_size, "frame to queue for ARP: < 14 bytes or > a pending slot") \
  X(ArpResolveFailed, arp_resolve_failed, "frame waiting for ARP: no reply after the retries")   \
  X(ArpNoRoom, arp_no_room, "caller buffer too small for an ARP reply or a flushed frame")       \
  X(IpTruncated, ip_truncated, "IPv4 buffer shorter than 20 bytes or than IHL*4")                \
  X(IpBadVersion, ip_bad_version, "IP version not 4")                                            \
  X(IpBadIhl, ip_bad_ihl, "IPv4 IHL below 5")                                                    \
  X(IpBadLength, ip_bad_length, "IPv4 total length below IHL*4 or beyond the bytes received")    \
  X(IpBadChecksum, ip_bad_checksum, "IPv4 header checksum wrong")                                \
  X(IpFragment, ip_fragment, "IPv4 fragment with reassembly off")                               \
  X(IpReasmBadLength, ip_reasm_bad_length, "IPv4 fragment empty, or not last and not 8-byte multiple") \
  X(IpReasmTooLong, ip_reasm_too_long, "IPv4 fragment ending past 65515 payload bytes")          \
  X(IpReasmBadEnd, ip_reasm_bad_end, "IPv4 datagram discarded: fragments disagree on its end")    \
  X(IpReasmOverlap, ip_reasm_overlap, "IPv4 datagram discarded: a fragment overlapped held bytes") \
  X(IpReasmDuplicate, ip_reasm_duplicate, "IPv4 fragment exactly repeating a held one (dropped)") \
  X(IpReasmTooManyFragments, ip_reasm_too_many_fragments, "IPv4 datagram discarded: too many fragments") \
  X(IpReasmTableFull, ip_reasm_table_full, "IPv4 fragment of a new datagram: reassembly table full") \
  X(IpReasmNoMemory, ip_reasm_no_memory, "IPv4 fragment dropped: reassembly memory limit reached") \
  X(IpReasmTimeout, ip_reasm_timeout, "IPv4 datagram discarded: not complete within the timeout") \
  X(IpReasmOutputFull, ip_reasm_output_full, "IPv4 datagram discarded: completed, no output room") \
  X(IpTtlZero, ip_ttl_zero, "IPv4 TTL 0")                                                        \
  X(IpOtherHost, ip_other_host, "IPv4 destination neither ours nor broadcast")                   \
  X(IpUnknownProtocol, ip_unknown_protocol, "IP protocol nobody handles (demultiplexer)")        \
  X(IcmpTruncated, icmp_truncated, "ICMP message shorter than 8 bytes")                          \
  X(IcmpBadChecksum, icmp_bad_checksum, "ICMP checksum wrong")                                   \
  X(IcmpOtherType, icmp_other_type, "ICMP type not handled (the stack takes echo requests and errors)")               \
  X(IcmpNotUnicast, icmp_not_unicast, "ICMP echo request or error not sent to our unicast address")       \
  X(IcmpNoRoom, icmp_no_room, "echo reply would not fit the caller's buffer (one frame)")      \
  X(IcmpBadQuote, icmp_bad_quote, "ICMP error whose quoted IPv4 header + 8 bytes is malformed")   \
  X(IcmpQuoteNotOurs, icmp_quote_not_ours, "ICMP error quoting a packet not sent from our IP") \
  X(IcmpQuoteOtherProtocol, icmp_quote_other_protocol, "ICMP error quoting neither TCP nor UDP") \
  X(UdpTruncated, udp_truncated, "UDP datagram shorter than 8 bytes")                            \
  X(UdpBadLength, udp_bad_length, "UDP length field below 8 or beyond the IP payload")           \
  X(UdpBadChecksum, udp_bad_checksum, "UDP checksum wrong")                                      \
  X(UdpNoListener, udp_no_listener, "UDP port nobody listens on (demultiplexer)")

// Why a packet was dropped; kNone means it was accepted. [[nodiscard]]: a caller must look.
enum class [[nodiscard]] Drop : uint8_t {
  kNone = 0,
#define IX_NET_DROP_ENUM(name, field, text) k##name,
  IX_NET_DROP_LIST(IX_NET_DROP_ENUM)
#undef IX_NET_DROP_ENUM
};

// Number of Drop values other than kNone.
inline constexpr size_t kNumDrops = 0
#define IX_NET_DROP_ONE(name, field, text) +1
    IX_NET_DROP_LIST(IX_NET_DROP_ONE)
#undef IX_NET_DROP_ONE
    ;

struct NetCounters {
#define IX_NET_DROP_FIELD(name, field, text) uint64_t field = 0;
  IX_NET_DROP_LIST(IX_NET_DROP_FIELD)
#undef IX_NET_DROP_FIELD

  NetCounters& operator+=(const NetCounters& other) {
#define IX_NET_DROP_ADD(name, field, text) field += other.field;
    IX_NET_DROP_LIST(IX_NET_DROP_ADD)
#undef IX_NET_DROP_ADD
    return *this;
  }
  friend bool operator==(const NetCounters&, const NetCounters&) = default;
};
static_assert(sizeof(NetCounters) == kNumDrops * sizeof(uint64_t), "NetCounters: only uint64_t");

// The field counting `drop`, or nullptr for Drop::kNone.
inline uint64_t* CounterFor(NetCounters* counters, Drop drop) {
  switch (drop) {
    case Drop::kNone:
      return nullptr;
#define IX_NET_DROP_CASE(name, field, text) \
  case Drop::k##name:                       \
    return &counters->field;
      IX_NET_DROP_LIST(IX_NET_DROP_CASE)
#undef IX_NET_DROP_CASE
  }
  return nullptr;
}

// Increments the one counter of `drop`; does nothing for Drop::kNone.
inline void CountDrop(NetCounters* counters, Drop drop) {
  if (uint64_t* c = CounterFor(counters, drop)) ++*c;
}

// The field name of `drop` ("ip_bad_checksum"), "none" for Drop::kNone.
inline absl::string_view DropName(Drop drop) {
  switch (drop) {
    case Drop::kNone:
      return "none";
#define IX_NET_DROP_NAME(name, field, text) \
  case Drop::k##name:                       \
    return #field;
      IX_NET_DROP_LIST(IX_NET_DROP_NAME)
#undef IX_NET_DROP_NAME
  }
  return "unknown";
}

// A one-line description of `drop` for tools.
inline absl::string_view DropDescription(Drop drop) {
  switch (drop) {
    case Drop::kNone:
      return "accepted";
#define IX_NET_DROP_TEXT(name, field, text) \
  case Drop::k##name:                       \
    return text;
      IX_NET_DROP_LIST(IX_NET_DROP_TEXT)
#undef IX_NET_DROP_TEXT
  }
  return "unknown";
}

// Calls fn(field_name, value) for every counter, in declaration order.
inline void ForEachNetCounter(const NetCounters& counters,
                              absl::FunctionRef<void(absl::string_view, uint64_t)> fn) {
#define IX_NET_DROP_VISIT(name, field, text) fn(#field, counters.field);
  IX_NET_DROP_LIST(IX_NET_DROP_VISIT)
#undef IX_NET_DROP_VISIT
}

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_COUNTERS_H_

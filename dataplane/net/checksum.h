// The Internet checksum (RFC 1071) with partial sums, shared by IPv4, ICMP, UDP and TCP.
//
//   uint32_t sum = ix::net::PseudoHeaderSum(src, dst, kIpProtoTcp, tcp_len);
//   sum = ix::net::ChecksumPartial(segment, sum);
//   uint16_t csum = ix::net::ChecksumFold(sum);   // store as is (network byte order bytes)
//
// Addresses are host-order uint32_t; the folded result is returned in network byte order, ready to
// be memcpy'd into a header. A buffer whose stored checksum is right folds to 0.
#ifndef IX_DATAPLANE_NET_CHECKSUM_H_
#define IX_DATAPLANE_NET_CHECKSUM_H_

#include <arpa/inet.h>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/types/span.h"

namespace ix::net {

// Adds the 16-bit big-endian words of `data` to `sum` without folding. Odd lengths pad with zero.
inline uint32_t ChecksumPartial(absl::Span<const uint8_t> data, uint32_t sum = 0) {
  uint64_t acc = sum;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) acc += (uint32_t{data[i]} << 8) | data[i + 1];
  if (i < data.size()) acc += uint32_t{data[i]} << 8;
  while (acc >> 32) acc = (acc & 0xffffffff) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

// Folds a partial sum to 16 bits, complements it, and returns it in network byte order.
inline uint16_t ChecksumFold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum & 0xffff));
}

// Sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 3.1).
inline uint32_t PseudoHeaderSum(uint32_t src_ip, uint32_t dst_ip, uint8_t proto, uint16_t len) {
  uint64_t acc = (src_ip >> 16) + (src_ip & 0xffff) + (dst_ip >> 16) + (dst_ip & 0xffff) +
                 proto + len;
  while (acc >> 32) acc = (acc & 0xffffffff) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

inline uint16_t InternetChecksum(absl::Span<const uint8_t> data) {
  return ChecksumFold(ChecksumPartial(data));
}

}  // namespace ix::net

#endif  // IX_DATAPLANE_NET_CHECKSUM_H_

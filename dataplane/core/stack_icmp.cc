// Stack: ICMP. Echo requests are answered; destination unreachable and time exceeded about our
// packets are checked and handed to TCP (or counted for UDP); port unreachable is sent for UDP to
// an unbound port, under the RFC 1122 3.2.2 / RFC 1812 4.3.2.7 rules and a token bucket.
#include <algorithm>

#include "dataplane/core/stack.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/wire.h"

namespace ix::dp {

using net::Drop;

void Stack::ReceiveIcmp(const net::EthernetFrame& eth, const net::Ipv4Packet& ip) {
  if (!ip.payload.empty() &&
      (ip.payload[0] == net::kIcmpDestUnreachable || ip.payload[0] == net::kIcmpTimeExceeded)) {
    net::IcmpMessage msg;
    Drop d = net::ParseIcmp(ip.payload, &msg);
    if (d == Drop::kNone && ip.dst != config_.ip) d = Drop::kIcmpNotUnicast;
    if (d != Drop::kNone) {
      net::CountDrop(&net_counters_, d);
      return;
    }
    ReceiveIcmpError(ip, msg);
    return;
  }
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  if (p == nullptr) return;
  // The reply is one frame: a reassembled request whose reply would exceed the MTU is dropped
  // (icmp_no_room); ix sends no fragments.
  const size_t room = std::min<size_t>(pool_->buffer_size() - pool_->headroom(),
                                       net::kEthHeaderLen + net::kEthMtu);
  size_t len = 0;
  const Drop d =
      net::AnswerIcmp(ip, eth.src, config_.mac, config_.ip, &ip_ids_, absl::MakeSpan(p, room), &len);
  if (d != Drop::kNone) {
    pool_->Free(buf);
    net::CountDrop(&net_counters_, d);
    return;
  }
  ++counters_.icmp_echo_replies;
  QueueTx(buf, len);
}

void Stack::ReceiveIcmpError(const net::Ipv4Packet& ip, const net::IcmpMessage& msg) {
  (void)ip;
  net::IcmpErrorQuote q;
  Drop d = net::ParseIcmpError(msg, &q);
  if (d == Drop::kNone && q.src != config_.ip) d = Drop::kIcmpQuoteNotOurs;
  if (d == Drop::kNone && q.protocol != net::kIpProtoTcp && q.protocol != net::kIpProtoUdp) {
    d = Drop::kIcmpQuoteOtherProtocol;
  }
  if (d != Drop::kNone) {
    net::CountDrop(&net_counters_, d);
    return;
  }
  ++counters_.icmp_errors_rx;
  if (q.protocol == net::kIpProtoUdp) {  // nobody to tell: UDP sends are fire and forget
    ++counters_.icmp_udp_errors;
    return;
  }
  tcp_->HandleIcmpError(q.src, q.dst, q.transport8.data(), q.type, q.code, q.next_hop_mtu,
                        now_ns_);  // counts its own outcome
}

bool Stack::TakeIcmpToken() {
  const uint64_t rate = config_.icmp_errors_per_second;
  if (rate == 0) return false;
  const uint64_t cap = uint64_t{std::max<uint32_t>(config_.icmp_error_burst, 1)} * 1000;
  const uint64_t elapsed_ns = now_ns_ - icmp_refill_ns_;
  // rate tokens per second = rate * 1000 milli-tokens per 1e9 ns; cap elapsed to avoid overflow.
  const uint64_t add = std::min<uint64_t>(elapsed_ns, 1'000'000'000'000ull) * rate / 1'000'000;
  if (add > 0) {
    icmp_tokens_milli_ = std::min(cap, icmp_tokens_milli_ + add);
    icmp_refill_ns_ = now_ns_;
  }
  if (icmp_tokens_milli_ < 1000) return false;
  icmp_tokens_milli_ -= 1000;
  return true;
}

void Stack::SendIcmpError(const net::EthernetFrame& eth, const net::Ipv4Packet& ip, uint8_t type,
                          uint8_t code) {
  // RFC 1122 3.2.2 / RFC 1812 4.3.2.7: not for a datagram to a link-layer or IP broadcast or
  // multicast, not to a source that is not one host, not for a non-first fragment, not about an
  // ICMP error.
  const bool subnet_broadcast =
      config_.prefix_len < 31 && (ip.src | netmask_) == ~uint32_t{0};
  const bool about_icmp_error = ip.protocol == net::kIpProtoIcmp &&
                                (ip.payload.empty() || net::IsIcmpErrorType(ip.payload[0]));
  if (ip.dst != config_.ip || !(eth.dst == config_.mac) || !net::IsIpv4Unicast(ip.src) ||
      ip.src == config_.ip || subnet_broadcast || ip.frag_offset != 0 || about_icmp_error ||
      !eth.src.IsUnicast()) {
    ++counters_.icmp_errors_not_allowed;
    return;
  }
  if (!TakeIcmpToken()) {
    ++counters_.icmp_errors_rate_limited;
    return;
  }
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  if (p == nullptr) return;  // counted (tx_no_mbuf)
  const absl::Span<uint8_t> frame(p, pool_->buffer_size() - pool_->headroom());
  constexpr size_t kIcmpOff = net::kEthHeaderLen + net::kIpv4HeaderLen;
  const size_t icmp_len = net::BuildIcmpError(frame.subspan(kIcmpOff), type, code, 0, ip.header,
                                              ip.payload);
  if (icmp_len == 0) {  // cannot happen: a buffer holds a full frame, the quote is <= 548 bytes
    pool_->Free(buf);
    ++counters_.tx_too_long;
    return;
  }
  // Straight back to the sender's MAC (as echo replies go): the frame came from it, or from the
  // router it came through, so no ARP is needed.
  (void)net::BuildEthernetHeader(frame, eth.src, config_.mac, net::kEtherTypeIpv4);
  net::Ipv4Header h;
  h.src = config_.ip;
  h.dst = ip.src;
  h.protocol = net::kIpProtoIcmp;
  h.tos = 0xc0;  // precedence "internetwork control", as Linux sends its ICMP errors
  h.id = ip_ids_.Next();
  (void)net::BuildIpv4Header(frame.subspan(net::kEthHeaderLen), h, icmp_len);
  if (type == net::kIcmpDestUnreachable && code == net::kIcmpCodePortUnreachable) {
    ++counters_.icmp_port_unreachable_sent;
  }
  QueueTx(buf, kIcmpOff + icmp_len);
}

}  // namespace ix::dp

// Stack: the per-frame paths. Receive runs one frame through Ethernet, ARP, IPv4, ICMP, UDP and
// TCP; transmit builds frames in mbufs, resolves the next hop and queues them for TX bursts.
#include <cstring>

#include "dataplane/core/stack.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/tcp/tcp_segment.h"
#include "dataplane/net/udp.h"

namespace ix::dp {

using net::Drop;

namespace {
constexpr size_t kFlushThreshold = 64;  // frames queued before a TX burst goes out mid-iteration
constexpr size_t kIpFrameOverhead = net::kEthHeaderLen + net::kIpv4HeaderLen;
}  // namespace

// --- Receive ----------------------------------------------------------------------------------

void Stack::ReceiveFrame(const nic::Packet& pkt) {
  ++counters_.rx_frames;
  counters_.rx_bytes += pkt.len;
  const absl::Span<const uint8_t> frame(nic::PacketData(*pool_, pkt), pkt.len);
  bool keep = false;
  net::EthernetFrame eth;
  Drop d = net::ParseEthernet(frame, &eth);
  if (d == Drop::kNone) d = net::CheckEthernetDestination(eth, config_.mac);
  if (d == Drop::kNone) {
    if (eth.ethertype == net::kEtherTypeArp) {
      ReceiveArp(eth);
    } else if (eth.ethertype == net::kEtherTypeIpv4) {
      ReceiveIpv4(eth, &keep);
    } else {
      d = Drop::kEthUnknownType;
    }
  }
  net::CountDrop(&net_counters_, d);
  if (keep) {
    rx_held_.push_back(pkt.buf);
  } else {
    pool_->Free(pkt.buf);
  }
}

void Stack::ReceiveArp(const net::EthernetFrame& eth) {
  net::ArpPacket arp;
  if (Drop d = net::ParseArp(eth.payload, &arp); d != Drop::kNone) {
    net::CountDrop(&net_counters_, d);
    return;
  }
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  // Without a buffer the cache still learns; the reply is lost (and was counted as tx_no_mbuf).
  const absl::Span<uint8_t> out =
      p != nullptr ? absl::MakeSpan(p, net::kArpFrameLen) : absl::MakeSpan(scratch_);
  const size_t n = arp_->Input(arp, now_ns_, out);
  if (p == nullptr) return;
  if (n == 0) {
    pool_->Free(buf);
    return;
  }
  ++counters_.arp_replies;
  QueueTx(buf, n);
}

void Stack::ReceiveIpv4(const net::EthernetFrame& eth, bool* keep) {
  net::Ipv4Packet ip;
  Drop d = net::ParseIpv4(eth.payload, &ip);
  if (d == Drop::kNone) d = net::CheckIpv4Destination(ip, config_.ip);
  if (d != Drop::kNone) {
    net::CountDrop(&net_counters_, d);
    return;
  }
  if (ip.IsFragment()) {
    ReceiveFragment(eth, ip);
    return;
  }
  DispatchIpv4(eth, ip, keep);
}

void Stack::ReceiveFragment(const net::EthernetFrame& eth, const net::Ipv4Packet& ip) {
  if (!reasm_) {
    net::CountDrop(&net_counters_, Drop::kIpFragment);
    return;
  }
  ++counters_.ip_fragments;
  net::Ipv4Packet whole;
  if (reasm_->Add(ip, now_ns_, &whole) != net::ReasmResult::kComplete) return;  // held or counted
  ++counters_.ip_reassembled;
  bool keep = false;
  DispatchIpv4(eth, whole, &keep);
  if (!keep) reasm_->ReleaseLast();
}

void Stack::DispatchIpv4(const net::EthernetFrame& eth, const net::Ipv4Packet& ip, bool* keep) {
  Drop d = Drop::kNone;
  switch (ip.protocol) {
    case net::kIpProtoTcp: {
      if (ip.dst != config_.ip) {  // no TCP to broadcast
        net::CountDrop(&net_counters_, Drop::kIpOtherHost);
        return;
      }
      ++counters_.tcp_rx_segments;
      tcp_->Receive(ip.src, ip.dst, ip.payload, now_ns_);  // counts its own drops
      return;
    }
    case net::kIpProtoUdp: {
      net::UdpDatagram udp;
      d = net::ParseUdp(ip.payload, ip.src, ip.dst, &udp);
      if (d == Drop::kNone &&
          !(udp_bound_[udp.dst_port / 64] & (uint64_t{1} << (udp.dst_port % 64)))) {
        d = Drop::kUdpNoListener;
      }
      if (d != Drop::kNone) {
        net::CountDrop(&net_counters_, d);
        if (d == Drop::kUdpNoListener) {  // as Linux: port unreachable (rules in stack_icmp.cc)
          SendIcmpError(eth, ip, net::kIcmpDestUnreachable, net::kIcmpCodePortUnreachable);
        }
        return;
      }
      // At most one event per received frame, and at most rx_batch frames per iteration.
      udp_events_.push_back(PendingUdp{ip.src, udp.src_port, udp.dst_port, udp.payload});
      ++counters_.udp_delivered;
      *keep = true;
      return;
    }
    case net::kIpProtoIcmp:
      ReceiveIcmp(eth, ip);  // stack_icmp.cc
      return;
    default:
      net::CountDrop(&net_counters_, Drop::kIpUnknownProtocol);
      return;
  }
}

// --- Transmit ---------------------------------------------------------------------------------

uint8_t* Stack::StartFrame(uint32_t* buf) {
  *buf = pool_->Alloc();
  if (*buf == core::MbufPool::kNoBuffer) {
    ++counters_.tx_no_mbuf;
    return nullptr;
  }
  return pool_->Data(*buf) + pool_->headroom();
}

net::Ipv4Address Stack::NextHop(net::Ipv4Address dst) const {
  if (dst == net::kIpv4Broadcast || (dst & netmask_) == (config_.ip & netmask_)) return dst;
  return config_.gateway;
}

UdpSendResult Stack::SendIpv4Frame(uint32_t buf, size_t len, net::Ipv4Address dst_ip) {
  const net::Ipv4Address hop = NextHop(dst_ip);
  if (hop == 0) {
    ++counters_.no_route;
    pool_->Free(buf);
    return UdpSendResult::kNoRoute;
  }
  uint8_t* frame = pool_->Data(buf) + pool_->headroom();
  net::MacAddress mac;
  switch (arp_->Resolve(hop, absl::MakeConstSpan(frame, len), now_ns_, &mac)) {
    case net::ArpResolve::kHit:
      mac.CopyTo(frame);
      return QueueTx(buf, len) ? UdpSendResult::kOk : UdpSendResult::kTxFull;
    case net::ArpResolve::kQueued:
      ++counters_.arp_queued;
      pool_->Free(buf);
      return UdpSendResult::kOk;
    case net::ArpResolve::kQueuedSendRequest:
      ++counters_.arp_queued;
      pool_->Free(buf);
      SendArpRequest(hop);
      return UdpSendResult::kOk;
    case net::ArpResolve::kDropped:
      pool_->Free(buf);
      return UdpSendResult::kArpDropped;
  }
  pool_->Free(buf);
  return UdpSendResult::kArpDropped;
}

bool Stack::QueueTx(uint32_t buf, size_t len) {
  if (tx_backlog_.size() - tx_backlog_head_ >= tx_backlog_max_) {
    FlushTx();
    if (tx_backlog_.size() - tx_backlog_head_ >= tx_backlog_max_) {
      ++counters_.tx_backlog_drops;
      pool_->Free(buf);
      return false;
    }
  }
  if (len < net::kEthMinFrameLen) {  // pad runts (ARP, small ICMP/UDP) to the Ethernet minimum
    memset(pool_->Data(buf) + pool_->headroom() + len, 0, net::kEthMinFrameLen - len);
    len = net::kEthMinFrameLen;
  }
  tx_backlog_.push_back(nic::Packet{buf, static_cast<uint16_t>(pool_->headroom()),
                                    static_cast<uint16_t>(len)});
  if (tx_backlog_.size() - tx_backlog_head_ >= kFlushThreshold) FlushTx();
  return true;
}

int Stack::FlushTx() {
  int sent = 0;
  for (int attempt = 0; attempt < 2 && tx_backlog_head_ < tx_backlog_.size(); ++attempt) {
    const int want = static_cast<int>(tx_backlog_.size() - tx_backlog_head_);
    const int got = queue_->TxBurst(tx_backlog_.data() + tx_backlog_head_, want);
    for (int i = 0; i < got; ++i) {
      counters_.tx_bytes += tx_backlog_[tx_backlog_head_ + static_cast<size_t>(i)].len;
    }
    counters_.tx_frames += static_cast<uint64_t>(got);
    tx_backlog_head_ += static_cast<size_t>(got);
    sent += got;
    queue_->Kick();
    if (got == want) break;
    ++counters_.tx_ring_full;
    queue_->Poll();  // reclaim completions, then try once more
  }
  if (tx_backlog_head_ == tx_backlog_.size()) {
    tx_backlog_.clear();
    tx_backlog_head_ = 0;
  } else if (tx_backlog_head_ > tx_backlog_.size() / 2) {
    tx_backlog_.erase(tx_backlog_.begin(),
                      tx_backlog_.begin() + static_cast<ptrdiff_t>(tx_backlog_head_));
    tx_backlog_head_ = 0;
  }
  return sent;
}

void Stack::EmitTcp(const net::tcp::TcpSegmentView& seg) {
  const size_t len = kIpFrameOverhead + seg.WireSize();
  if (len > net::kEthHeaderLen + net::kEthMtu) {
    ++counters_.tx_too_long;
    return;
  }
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  if (p == nullptr) return;  // counted; TCP retransmits
  const absl::Span<uint8_t> frame(p, len);
  (void)net::BuildEthernetHeader(frame, net::MacAddress{}, config_.mac, net::kEtherTypeIpv4);
  net::Ipv4Header h;
  h.src = seg.src_ip;
  h.dst = seg.dst_ip;
  h.protocol = net::kIpProtoTcp;
  h.id = ip_ids_.Next();
  (void)net::BuildIpv4Header(frame.subspan(net::kEthHeaderLen), h, seg.WireSize());
  (void)net::tcp::BuildTcpSegment(seg, frame.subspan(kIpFrameOverhead));
  (void)SendIpv4Frame(buf, len, seg.dst_ip);
}

UdpSendResult Stack::UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                             absl::Span<const uint8_t> payload) {
  if (dst_ip == 0 || dst_port == 0 || src_port == 0) return UdpSendResult::kBadArgument;
  const size_t ip_len = net::kIpv4HeaderLen + net::kUdpHeaderLen + payload.size();
  if (ip_len > net::kEthMtu) return UdpSendResult::kTooLong;
  if (NextHop(dst_ip) == 0) {
    ++counters_.no_route;
    return UdpSendResult::kNoRoute;
  }
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  if (p == nullptr) return UdpSendResult::kNoBuffer;
  const size_t len = net::kEthHeaderLen + ip_len;
  const absl::Span<uint8_t> frame(p, len);
  (void)net::BuildEthernetHeader(frame, net::MacAddress{}, config_.mac, net::kEtherTypeIpv4);
  net::Ipv4Header h;
  h.src = config_.ip;
  h.dst = dst_ip;
  h.protocol = net::kIpProtoUdp;
  h.id = ip_ids_.Next();
  (void)net::BuildIpv4Header(frame.subspan(net::kEthHeaderLen), h, ip_len - net::kIpv4HeaderLen);
  (void)net::BuildUdp(frame.subspan(kIpFrameOverhead), config_.ip, dst_ip, src_port, dst_port,
                      payload);
  const UdpSendResult r = SendIpv4Frame(buf, len, dst_ip);
  if (r == UdpSendResult::kOk) ++counters_.udp_sent;
  return r;
}

// --- ARP --------------------------------------------------------------------------------------

void Stack::SendArpRequest(net::Ipv4Address target) {
  uint32_t buf = core::MbufPool::kNoBuffer;
  uint8_t* p = StartFrame(&buf);
  if (p == nullptr) return;
  const size_t n = arp_->BuildRequest(target, absl::MakeSpan(p, net::kArpFrameLen));
  if (n == 0) {
    pool_->Free(buf);
    return;
  }
  ++counters_.arp_requests;
  QueueTx(buf, n);
}

void Stack::DrainArpReady() {
  while (arp_->HasReady()) {
    uint32_t buf = core::MbufPool::kNoBuffer;
    uint8_t* p = StartFrame(&buf);
    if (p == nullptr) return;  // they stay parked; NextDeadline keeps the loop awake
    const size_t n =
        arp_->TakeReady(absl::MakeSpan(p, pool_->buffer_size() - pool_->headroom()));
    if (n == 0) {
      pool_->Free(buf);
      return;
    }
    ++counters_.arp_released;
    QueueTx(buf, n);
  }
}

void Stack::RunArpTimers() {
  net::Ipv4Address targets[16];
  size_t n = 0;
  do {
    n = arp_->Poll(now_ns_, absl::MakeSpan(targets));
    for (size_t i = 0; i < n; ++i) SendArpRequest(targets[i]);
  } while (n == sizeof(targets) / sizeof(targets[0]));
  next_arp_poll_ns_ = now_ns_ + arp_->config().retry_interval_ns / 4;
}

}  // namespace ix::dp

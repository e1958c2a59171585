// Test-only: a minimal receive path over the net layers (Ethernet -> ARP | IPv4 -> ICMP | UDP)
// that counts every drop exactly once, as the dataplane loop will. Not part of ix_net_lib; the
// real loop lives in dataplane/core.
#ifndef IX_DATAPLANE_NET_TEST_RECEIVE_H_
#define IX_DATAPLANE_NET_TEST_RECEIVE_H_

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/types/span.h"
#include "dataplane/net/arp.h"
#include "dataplane/net/counters.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/net/udp.h"

namespace ix::net::testing {

class TestReceiver {
 public:
  TestReceiver(const MacAddress& mac, Ipv4Address ip, uint16_t udp_port, size_t tx_len = 1514)
      : tx(tx_len), mac_(mac), ip_(ip), udp_port_(udp_port), arp_(MakeArp(mac, ip, &counters)) {}

  // Runs one frame through the layers at now_ns. Returns the Drop (already counted; ARP's own
  // drops are counted by the cache and reported as kNone here). On return, tx_len is the length
  // of a reply written to `tx` (0: none) and `delivered` the UDP payload handed up, if any.
  Drop Receive(absl::Span<const uint8_t> frame, uint64_t now_ns) {
    tx_len = 0;
    delivered = {};
    const Drop d = ReceiveUncounted(frame, now_ns);
    CountDrop(&counters, d);
    return d;
  }

  ArpCache& arp() { return arp_; }

  NetCounters counters;
  std::vector<uint8_t> tx;
  size_t tx_len = 0;
  absl::Span<const uint8_t> delivered;
  Ipv4IdCounter ids;

 private:
  static ArpCache MakeArp(const MacAddress& mac, Ipv4Address ip, NetCounters* counters) {
    auto cache = ArpCache::Create(
        {.our_mac = mac, .our_ip = ip, .capacity = 16, .max_unresolved = 8, .pending_frames = 16},
        counters);
    if (!cache.ok()) abort();
    return *std::move(cache);
  }

  Drop ReceiveUncounted(absl::Span<const uint8_t> frame, uint64_t now_ns) {
    EthernetFrame eth;
    if (Drop d = ParseEthernet(frame, &eth); d != Drop::kNone) return d;
    if (Drop d = CheckEthernetDestination(eth, mac_); d != Drop::kNone) return d;
    if (eth.ethertype == kEtherTypeArp) {
      ArpPacket arp;
      if (Drop d = ParseArp(eth.payload, &arp); d != Drop::kNone) return d;
      tx_len = arp_.Input(arp, now_ns, absl::MakeSpan(tx));
      return Drop::kNone;
    }
    if (eth.ethertype != kEtherTypeIpv4) return Drop::kEthUnknownType;
    Ipv4Packet ip;
    if (Drop d = ParseIpv4(eth.payload, &ip); d != Drop::kNone) return d;
    if (Drop d = CheckIpv4Destination(ip, ip_); d != Drop::kNone) return d;
    if (ip.IsFragment()) return Drop::kIpFragment;  // no reassembly here
    if (ip.protocol == kIpProtoIcmp) {
      return AnswerIcmp(ip, eth.src, mac_, ip_, &ids, absl::MakeSpan(tx), &tx_len);
    }
    if (ip.protocol != kIpProtoUdp) return Drop::kIpUnknownProtocol;
    UdpDatagram udp;
    if (Drop d = ParseUdp(ip.payload, ip.src, ip.dst, &udp); d != Drop::kNone) return d;
    if (udp.dst_port != udp_port_) return Drop::kUdpNoListener;
    delivered = udp.payload;
    return Drop::kNone;
  }

  MacAddress mac_;
  Ipv4Address ip_;
  uint16_t udp_port_;
  ArpCache arp_;
};

}  // namespace ix::net::testing

#endif  // IX_DATAPLANE_NET_TEST_RECEIVE_H_

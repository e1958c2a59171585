// Test helper (unit tests only): one Stack on the A end of an in-memory NIC pair, and a raw peer
// on the B end that sends hand-built frames and collects what the stack sends.
//
//   RawPeer r;
//   r.MakeStack(cfg);  // the stack's clock starts at 1 s
//   r.Send(RawPeer::Ipv4Frame(our_mac, our_ip, net::kIpProtoUdp, udp_bytes));
//   r.stack->RunOnce(now);
//   std::vector<std::vector<uint8_t>> out = r.Receive();
#ifndef IX_DATAPLANE_CORE_STACK_RAW_PEER_H_
#define IX_DATAPLANE_CORE_STACK_RAW_PEER_H_

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/core/stack.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/nic/mem_pair.h"
#include "gtest/gtest.h"

namespace ix::dp::testing {

struct RawPeer {
  static constexpr net::Ipv4Address kPeerIp = 0x0a000003;  // 10.0.0.3
  static inline const net::MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 0xc}};

  RawPeer() : pool_a(MakePool()), pool_b(MakePool()), pair(pool_a.get(), pool_b.get()) {}

  void MakeStack(StackConfig c) {
    auto s = Stack::Create(c, &pair.a());
    ASSERT_TRUE(s.ok()) << s.status();
    stack = *std::move(s);
    stack->RunOnce(1'000'000'000);  // the stack's clock starts at 1 s
  }
  void Send(const std::vector<uint8_t>& frame) {
    const uint32_t b = pool_b->Alloc();
    ASSERT_NE(b, core::MbufPool::kNoBuffer);
    memcpy(pool_b->Data(b) + pool_b->headroom(), frame.data(), frame.size());
    nic::Packet p{b, static_cast<uint16_t>(pool_b->headroom()), static_cast<uint16_t>(frame.size())};
    ASSERT_EQ(pair.b().TxBurst(&p, 1), 1);
  }
  // Every frame the stack has sent since the last call.
  std::vector<std::vector<uint8_t>> Receive() {
    std::vector<std::vector<uint8_t>> out;
    nic::Packet p[64];
    for (int n; (n = pair.b().RxBurst(p, 64)) > 0;) {
      for (int i = 0; i < n; ++i) {
        const uint8_t* d = nic::PacketData(*pool_b, p[i]);
        out.emplace_back(d, d + p[i].len);
        pool_b->Free(p[i].buf);
      }
    }
    return out;
  }
  // The value of the stack's counter `name` (as ForEachCounter names it), or ~0 if none is.
  uint64_t Counter(absl::string_view name) const {
    uint64_t v = ~uint64_t{0};
    stack->ForEachCounter([&](absl::string_view n, uint64_t value) {
      if (n == name) v = value;
    });
    return v;
  }
  // An IPv4 frame from the peer's MAC to `dst_mac`, src_ip -> dst_ip, with `payload`.
  static std::vector<uint8_t> Ipv4Frame(const net::MacAddress& dst_mac, net::Ipv4Address src_ip,
                                        net::Ipv4Address dst_ip, uint8_t proto,
                                        const std::vector<uint8_t>& payload, uint16_t id = 0) {
    std::vector<uint8_t> f(14 + 20 + payload.size());
    EXPECT_EQ(net::BuildEthernetHeader(absl::MakeSpan(f), dst_mac, kPeerMac, net::kEtherTypeIpv4),
              14u);
    net::Ipv4Header h;
    h.src = src_ip;
    h.dst = dst_ip;
    h.protocol = proto;
    h.id = id;
    EXPECT_EQ(net::BuildIpv4Header(absl::MakeSpan(f).subspan(14), h, payload.size()), 20u);
    std::copy(payload.begin(), payload.end(), f.begin() + 34);
    return f;
  }
  // The same from the peer's own address.
  static std::vector<uint8_t> Ipv4Frame(const net::MacAddress& dst_mac, net::Ipv4Address dst_ip,
                                        uint8_t proto, const std::vector<uint8_t>& payload) {
    return Ipv4Frame(dst_mac, kPeerIp, dst_ip, proto, payload);
  }

  std::unique_ptr<core::MbufPool> pool_a, pool_b;
  nic::MemPair pair;
  std::unique_ptr<Stack> stack;

 private:
  static std::unique_ptr<core::MbufPool> MakePool() {
    core::MbufPoolOptions o;
    o.num_buffers = 2048;
    o.huge_pages = core::HugePagePolicy::kNever;
    auto p = core::MbufPool::Create(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return *std::move(p);
  }
};

}  // namespace ix::dp::testing

#endif  // IX_DATAPLANE_CORE_STACK_RAW_PEER_H_

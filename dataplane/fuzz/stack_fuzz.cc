// libFuzzer target over the Stack's receive path: Ethernet frames in, through ARP, IPv4, ICMP,
// UDP and TCP, with a listening port, a bound UDP port and established connections, so that
// every state is reachable. Also builds with fuzz_driver.cc (no libFuzzer) under gcc.
//
// Each input is decoded as a list of operations against a fresh pair of stacks (A: the target,
// B: a peer that opened kConns connections to A and sent some data before the input starts):
//   0: a raw frame (length byte, then bytes) delivered to A;
//   1: a TCP segment on established connection k with fuzzed seq/ack offsets, flags, window,
//      options and payload, checksums right (or, by a flag bit, wrong) so it reaches the engine;
//   2: time passes (0..~4 s) and A runs its timers;
//   3: the application on A acts (send, consume, shutdown, close, abort, UDP send);
//   4: an ICMP error (fuzzed type, code, next-hop MTU) quoting a connection of A: with a sequence
//      number outside [SND.UNA, SND.MAX) (a forgery: must change nothing, and is counted), or
//      inside it (may lower the MSS, never raise it);
//   5: an IPv4 fragment to A (fuzzed id from a few, protocol, offset, MF, length, bytes), so that
//      datagrams complete, overlap, time out and hit every reassembly limit; A's reassembler must
//      stay within its limits (checked after every operation);
// after each operation A runs one iteration and its frames are drained. At the end every mbuf
// must be back in its pool once the stacks are gone (a leaked or double-freed buffer aborts).
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/core/mbuf.h"
#include "dataplane/core/stack.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/net/tcp/tcp_segment.h"
#include "dataplane/net/wire.h"
#include "dataplane/nic/mem_pair.h"

namespace {

using ix::dp::Stack;
using ix::dp::StackConfig;
using ix::dp::StackEvent;
using ix::dp::StackEventType;
using ix::net::tcp::ConnId;

constexpr uint64_t kSec = 1'000'000'000;
constexpr ix::net::Ipv4Address kIpA = 0x0a000001;
constexpr ix::net::Ipv4Address kIpB = 0x0a000002;
const ix::net::MacAddress kMacA{{0x02, 0, 0, 0, 0, 0xa}};
const ix::net::MacAddress kMacB{{0x02, 0, 0, 0, 0, 0xb}};
constexpr int kConns = 3;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ >= end_; }
  uint8_t U8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t{U16()} << 16 | U16(); }
  absl::Span<const uint8_t> Bytes(size_t n) {
    n = std::min<size_t>(n, static_cast<size_t>(end_ - p_));
    absl::Span<const uint8_t> s(p_, n);
    p_ += n;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

ix::core::MbufPool* Pool(int which) {
  static ix::core::MbufPool* pools[2] = {nullptr, nullptr};
  if (pools[which] == nullptr) {
    ix::core::MbufPoolOptions o;
    o.num_buffers = 1024;
    o.huge_pages = ix::core::HugePagePolicy::kNever;
    o.name = which == 0 ? "fuzz-a" : "fuzz-b";
    auto p = ix::core::MbufPool::Create(o);
    if (!p.ok()) abort();
    pools[which] = p->release();
  }
  return pools[which];
}

StackConfig Config(const ix::net::MacAddress& mac, ix::net::Ipv4Address ip) {
  StackConfig c;
  c.mac = mac;
  c.ip = ip;
  c.rx_batch = 16;
  c.tcp.max_connections = 32;
  c.tcp.max_listeners = 4;
  c.tcp.send_buffer_bytes = 8192;
  c.tcp.recv_buffer_bytes = 8192;
  c.tcp.secret = {1, 2};  // deterministic runs
  c.tcp.time_wait_ns = 2 * kSec;
  c.arp.capacity = 8;
  c.arp.max_unresolved = 4;
  c.arp.pending_frames = 8;
  c.reasm.max_datagrams = 4;  // small limits, so that inputs reach them
  c.reasm.max_fragments = 8;
  c.reasm.max_bytes = 8 * 1024;
  c.reasm.timeout_ns = 2 * kSec;
  return c;
}

struct World {
  World() : pair(Pool(0), Pool(1), /*seed=*/3, /*wire_capacity=*/256) {
    a = *Stack::Create(Config(kMacA, kIpA), &pair.a());
    b = *Stack::Create(Config(kMacB, kIpB), &pair.b());
    (void)a->Listen(80, 4);
    (void)a->UdpBind(53);
  }

  void Drain(Stack& s, std::vector<ConnId>* accepted) {
    StackEvent ev[16];
    for (size_t n; (n = s.PollEvents(absl::MakeSpan(ev))) > 0;) {
      for (size_t i = 0; i < n; ++i) {
        const StackEvent& e = ev[i];
        if (e.type == StackEventType::kTcpAccepted && accepted != nullptr) {
          accepted->push_back(e.conn);
        }
        if (e.type == StackEventType::kUdpReceived) {
          (void)s.UdpSend(e.local_port, e.remote_ip, e.remote_port, e.payload);
        }
        if (e.type == StackEventType::kTcpReset) (void)s.Close(e.conn);
      }
    }
  }

  // Brings up kConns connections B -> A:80 with some data in flight both ways.
  void Setup() {
    for (int i = 0; i < kConns; ++i) {
      auto c = b->Connect(kIpA, 80, static_cast<uint16_t>(40000 + i));
      if (c.ok()) client.push_back(*c);
    }
    for (int step = 0; step < 50; ++step) {
      now += 100'000;
      pair.SetNowNs(now);
      a->RunOnce(now);
      Drain(*a, &server);
      b->RunOnce(now);
      Drain(*b, nullptr);
    }
    static const uint8_t kData[600] = {1, 2, 3};
    for (ConnId c : client) (void)b->Send(c, kData);
    for (ConnId c : server) (void)a->Send(c, absl::MakeConstSpan(kData, 300));
    for (int step = 0; step < 4; ++step) {
      now += 100'000;
      pair.SetNowNs(now);
      a->RunOnce(now);
      Drain(*a, &server);
      b->RunOnce(now);
      Drain(*b, nullptr);
    }
  }

  // Frames A sent: dropped on the floor (B stays quiet while the fuzzer speaks for it).
  void DiscardAtoB() {
    ix::nic::Packet p[64];
    for (int n; (n = pair.b().RxBurst(p, 64)) > 0;) {
      for (int i = 0; i < n; ++i) Pool(1)->Free(p[i].buf);
    }
  }

  // Returns false if the frame could not be handed to the wire.
  bool Deliver(absl::Span<const uint8_t> frame) {
    if (frame.size() > 2048 - Pool(1)->headroom()) return false;
    const uint32_t buf = Pool(1)->Alloc();
    if (buf == ix::core::MbufPool::kNoBuffer) return false;
    memcpy(Pool(1)->Data(buf) + Pool(1)->headroom(), frame.data(), frame.size());
    ix::nic::Packet p{buf, static_cast<uint16_t>(Pool(1)->headroom()),
                      static_cast<uint16_t>(frame.size())};
    if (pair.b().TxBurst(&p, 1) != 1) {
      Pool(1)->Free(buf);
      return false;
    }
    return true;
  }

  void TcpSegment(Input& in) {
    if (client.empty()) return;
    const ConnId c = client[in.U8() % client.size()];
    auto info = b->Info(c);
    if (!info) return;
    ix::net::tcp::TcpSegmentView seg;
    seg.src_ip = kIpB;
    seg.dst_ip = kIpA;
    seg.src_port = info->tuple.local_port;
    seg.dst_port = info->tuple.remote_port;
    seg.seq = info->snd_nxt + static_cast<int16_t>(in.U16());
    seg.ack = info->rcv_nxt + static_cast<int16_t>(in.U16());
    const uint8_t flags = in.U8();
    seg.flags = flags;
    seg.window = in.U16();
    const uint8_t opt = in.U8();
    seg.options.has_timestamps = (opt & 1) != 0;
    seg.options.ts_val = in.U32();
    seg.options.ts_ecr = in.U32();
    seg.options.has_mss = (opt & 2) != 0;
    seg.options.mss = in.U16();
    seg.options.has_wscale = (opt & 4) != 0;
    seg.options.wscale = in.U8();
    seg.options.sack_permitted = (opt & 8) != 0;
    seg.payload[0] = in.Bytes(in.U16() % 1460);
    std::vector<uint8_t> frame(14 + 20 + seg.WireSize());
    (void)ix::net::BuildEthernetHeader(absl::MakeSpan(frame), kMacA, kMacB,
                                       ix::net::kEtherTypeIpv4);
    ix::net::Ipv4Header h;
    h.src = kIpB;
    h.dst = kIpA;
    h.protocol = ix::net::kIpProtoTcp;
    (void)ix::net::BuildIpv4Header(absl::MakeSpan(frame).subspan(14), h, seg.WireSize());
    (void)ix::net::tcp::BuildTcpSegment(seg, absl::MakeSpan(frame).subspan(34));
    if (opt & 0x80) frame[34 + 16] ^= 0x5a;  // a wrong TCP checksum
    (void)Deliver(frame);
  }

  void AppAction(Input& in) {
    const uint8_t op = in.U8();
    if (op % 7 == 6) {
      const uint8_t x[3] = {op, 1, 2};
      (void)a->UdpSend(53, kIpB, 9999, x);
      return;
    }
    if (server.empty()) return;
    const ConnId c = server[in.U8() % server.size()];
    switch (op % 7) {
      case 0: {
        static const uint8_t kBig[4096] = {7};
        (void)a->Send(c, absl::MakeConstSpan(kBig, in.U16() % sizeof(kBig)));
        break;
      }
      case 1:
        (void)a->Consume(c, std::min<size_t>(a->Peek(c).size(), in.U16()));
        break;
      case 2:
        (void)a->Shutdown(c);
        break;
      case 3:
        (void)a->Close(c);
        break;
      case 4:
        (void)a->Abort(c);
        break;
      default:
        (void)a->SendSpace(c);
        break;
    }
  }

  // Op 4. Checks its own invariants (abort on failure) after A has processed the frame.
  void IcmpError(Input& in) {
    if (server.empty()) return;
    const ConnId c = server[in.U8() % server.size()];
    const auto before = a->Info(c);
    const uint8_t kind = in.U8();
    const bool forged = (kind & 1) == 0;
    const uint8_t type = (kind & 2) ? ix::net::kIcmpDestUnreachable : ix::net::kIcmpTimeExceeded;
    const uint8_t code = in.U8() % 16;
    const uint16_t mtu = in.U16();
    const uint32_t off = in.U16();
    uint32_t seq = off;
    uint16_t remote_port = in.U16();
    if (before) {
      remote_port = before->tuple.remote_port;
      const uint32_t span = before->snd_max - before->snd_una;
      seq = forged ? before->snd_max + off : (span == 0 ? before->snd_una : before->snd_una + off % span);
    }
    uint8_t quoted[28];
    ix::net::Ipv4Header h;
    h.src = kIpA;
    h.dst = kIpB;
    h.protocol = ix::net::kIpProtoTcp;
    (void)ix::net::BuildIpv4Header(absl::MakeSpan(quoted), h, 20 + 1400);
    ix::net::StoreBe16(quoted + 20, 80);
    ix::net::StoreBe16(quoted + 22, remote_port);
    ix::net::StoreBe32(quoted + 24, seq);
    uint8_t icmp[8 + 28];
    const size_t n = ix::net::BuildIcmpError(absl::MakeSpan(icmp), type, code, mtu,
                                             absl::MakeConstSpan(quoted, 20),
                                             absl::MakeConstSpan(quoted + 20, 8));
    std::vector<uint8_t> frame(14 + 20 + n);
    (void)ix::net::BuildEthernetHeader(absl::MakeSpan(frame), kMacA, kMacB,
                                       ix::net::kEtherTypeIpv4);
    h.src = kIpB;
    h.dst = kIpA;
    h.protocol = ix::net::kIpProtoIcmp;
    (void)ix::net::BuildIpv4Header(absl::MakeSpan(frame).subspan(14), h, n);
    memcpy(frame.data() + 34, icmp, n);
    const ix::net::tcp::TcpCounters k0 = a->tcp_counters();
    if (!Deliver(frame)) return;
    pair.SetNowNs(now);
    a->RunOnce(now);
    const ix::net::tcp::TcpCounters& k1 = a->tcp_counters();
    if (k1.icmp_errors_rx != k0.icmp_errors_rx + 1) {
      fprintf(stderr, "stack_fuzz: ICMP error not handed to TCP\n");
      abort();
    }
    const auto after = a->Info(c);
    if (!before || !after) return;
    if (after->snd_mss > before->snd_mss) {
      fprintf(stderr, "stack_fuzz: an ICMP error raised the MSS\n");
      abort();
    }
    if (forged && (after->snd_mss != before->snd_mss || after->state != before->state ||
                   k1.icmp_out_of_window + k1.icmp_no_connection !=
                       k0.icmp_out_of_window + k0.icmp_no_connection + 1)) {
      fprintf(stderr, "stack_fuzz: a forged ICMP error (seq %u, una %u, max %u) changed the "
              "connection or was not counted\n", seq, before->snd_una, before->snd_max);
      abort();
    }
  }

  // Op 5. A fragment B -> A, header checksum right.
  void Fragment(Input& in) {
    static constexpr uint8_t kProtos[4] = {ix::net::kIpProtoUdp, ix::net::kIpProtoIcmp,
                                           ix::net::kIpProtoTcp, 99};
    const uint8_t how = in.U8();
    const uint16_t field = in.U16();  // MF (bit 13) and the offset in 8-byte units (bits 0-12)
    const absl::Span<const uint8_t> data = in.Bytes(in.U16() % 1481);
    std::vector<uint8_t> frame(14 + 20 + data.size());
    (void)ix::net::BuildEthernetHeader(absl::MakeSpan(frame), kMacA, kMacB,
                                       ix::net::kEtherTypeIpv4);
    ix::net::Ipv4Header h;
    h.src = kIpB;
    h.dst = kIpA;
    h.protocol = kProtos[how % 4];
    h.id = static_cast<uint16_t>(how >> 2 & 7);
    (void)ix::net::BuildIpv4Header(absl::MakeSpan(frame).subspan(14), h, data.size());
    uint8_t* ip = frame.data() + 14;
    ix::net::StoreBe16(ip + 6, static_cast<uint16_t>(field & 0x3fff));
    ix::net::StoreBe16(ip + 10, 0);
    const uint16_t csum = ix::net::InternetChecksum(absl::MakeConstSpan(ip, 20));
    memcpy(ip + 10, &csum, sizeof(csum));  // the checksum is in memory order
    if (!data.empty()) memcpy(frame.data() + 34, data.data(), data.size());
    (void)Deliver(frame);
  }

  // The reassembler stays within the limits of Config().
  void CheckReassembly() const {
    const ix::net::Ipv4ReasmConfig& r = a->config().reasm;
    uint64_t datagrams = 0, bytes = 0;
    a->ForEachCounter([&](absl::string_view name, uint64_t v) {
      if (name == "stack.reasm_datagrams") datagrams = v;
      if (name == "stack.reasm_bytes") bytes = v;
    });
    if (datagrams > r.max_datagrams || bytes > r.max_bytes) {
      fprintf(stderr, "stack_fuzz: reassembly holds %lu datagrams, %lu bytes (limits %u, %u)\n",
              static_cast<unsigned long>(datagrams), static_cast<unsigned long>(bytes),
              r.max_datagrams, r.max_bytes);
      abort();
    }
  }

  void Run(Input& in) {
    for (int ops = 0; !in.empty() && ops < 256; ++ops) {
      switch (in.U8() % 6) {
        case 0:
          (void)Deliver(in.Bytes(in.U8() * 8 + in.U8() % 8));
          break;
        case 1:
          TcpSegment(in);
          break;
        case 2:
          now += uint64_t{in.U16()} * 64'000;
          break;
        case 3:
          AppAction(in);
          break;
        case 4:
          IcmpError(in);
          break;
        case 5:
          Fragment(in);
          break;
      }
      pair.SetNowNs(now);
      a->RunOnce(now);
      Drain(*a, &server);
      (void)a->NextDeadline();
      CheckReassembly();
      DiscardAtoB();
    }
  }

  ix::nic::MemPair pair;
  std::unique_ptr<Stack> a, b;
  std::vector<ConnId> client, server;
  uint64_t now = 1 * kSec;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    World w;
    w.Setup();
    Input in(data, size);
    w.Run(in);
    w.DiscardAtoB();
    // MemPair keeps frames in flight as byte copies, not buffers; the stacks free theirs.
  }
  if (Pool(0)->in_use() != 0 || Pool(1)->in_use() != 0) {
    fprintf(stderr, "stack_fuzz: mbufs leaked: pool A %u, pool B %u in use\n", Pool(0)->in_use(),
            Pool(1)->in_use());
    abort();
  }
  return 0;
}

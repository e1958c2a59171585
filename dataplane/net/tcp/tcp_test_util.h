// Test helpers for the TCP engine: captured output, hand-made segments, a single-engine bench, and
// a two-engine simulator over a seeded wire that can drop, duplicate, reorder and corrupt.
#ifndef IX_DATAPLANE_NET_TCP_TCP_TEST_UTIL_H_
#define IX_DATAPLANE_NET_TCP_TCP_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <utility>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_segment.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {

inline constexpr uint32_t kIpA = 0x0a000001;  // 10.0.0.1
inline constexpr uint32_t kIpB = 0x0a000002;  // 10.0.0.2
inline constexpr uint64_t kMs = 1'000'000;
inline constexpr uint64_t kSec = 1'000'000'000;

// An owned copy of one emitted segment, with its wire bytes (built and re-parsed, so every
// captured segment has passed checksum verification).
struct CapturedSeg {
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  TcpOptions options;
  std::vector<uint8_t> payload;
  std::vector<uint8_t> wire;

  bool Has(uint8_t f) const { return (flags & f) == f; }
  uint32_t SeqLen() const {
    return static_cast<uint32_t>(payload.size()) + (Has(kTcpSyn) ? 1 : 0) + (Has(kTcpFin) ? 1 : 0);
  }
};

inline CapturedSeg Capture(const TcpSegmentView& v) {
  CapturedSeg s;
  s.wire.resize(v.WireSize());
  EXPECT_EQ(BuildTcpSegment(v, absl::MakeSpan(s.wire)), s.wire.size());
  TcpSegmentView p;
  EXPECT_EQ(ParseTcpSegment(v.src_ip, v.dst_ip, s.wire, true, &p), TcpParseResult::kOk);
  s.src_ip = p.src_ip;
  s.dst_ip = p.dst_ip;
  s.src_port = p.src_port;
  s.dst_port = p.dst_port;
  s.seq = p.seq;
  s.ack = p.ack;
  s.flags = p.flags;
  s.window = p.window;
  s.options = p.options;
  s.payload.assign(p.payload[0].begin(), p.payload[0].end());
  return s;
}

class CaptureOutput : public TcpOutput {
 public:
  void Emit(const TcpSegmentView& seg) override { segs.push_back(Capture(seg)); }
  std::vector<CapturedSeg> Take() { return std::exchange(segs, {}); }
  std::vector<CapturedSeg> segs;
};

// A segment written by hand (from the remote peer to the engine).
struct SegSpec {
  uint32_t src_ip = kIpB, dst_ip = kIpA;
  uint16_t src_port = 40000, dst_port = 80;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  TcpOptions options;
  std::vector<uint8_t> payload;
};

inline std::vector<uint8_t> BuildWire(const SegSpec& s) {
  TcpSegmentView v;
  v.src_ip = s.src_ip;
  v.dst_ip = s.dst_ip;
  v.src_port = s.src_port;
  v.dst_port = s.dst_port;
  v.seq = s.seq;
  v.ack = s.ack;
  v.flags = s.flags;
  v.window = s.window;
  v.options = s.options;
  v.payload[0] = absl::MakeConstSpan(s.payload);
  std::vector<uint8_t> out(v.WireSize());
  EXPECT_EQ(BuildTcpSegment(v, absl::MakeSpan(out)), out.size());
  return out;
}

inline std::vector<uint8_t> Bytes(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return v;
}

// Config for hand-driven tests: no timestamps or scaling unless a test enables them, immediate
// ACKs, short TIME_WAIT.
inline TcpConfig SimpleConfig() {
  TcpConfig c;
  c.max_connections = 64;
  c.send_buffer_bytes = 16384;
  c.recv_buffer_bytes = 16384;
  c.timestamps = false;
  c.window_scaling = false;
  c.delayed_ack_ns = 0;
  c.time_wait_ns = 2 * kSec;
  c.fin_wait2_timeout_ns = 5 * kSec;
  c.secret = {0x1234, 0x5678};
  return c;
}

// One engine (at kIpA) plus a scripted remote peer (at kIpB).
class Bench {
 public:
  explicit Bench(const TcpConfig& cfg = SimpleConfig())
      : engine(std::make_unique<TcpEngine>(cfg, &out)) {}

  void Inject(const SegSpec& s) { engine->Receive(s.src_ip, s.dst_ip, BuildWire(s), now); }
  void InjectRaw(absl::Span<const uint8_t> wire) { engine->Receive(kIpB, kIpA, wire, now); }
  void AdvanceTo(uint64_t t) {
    now = t;
    engine->Advance(now);
  }
  void AdvanceBy(uint64_t d) { AdvanceTo(now + d); }
  // Advances to the engine's next deadline (if any within max_ns).
  bool AdvanceToDeadline(uint64_t max_ns = 1000 * kSec) {
    const uint64_t d = engine->NextDeadline();
    if (d == kNoDeadline || d > now + max_ns) return false;
    AdvanceTo(std::max(d, now));
    return true;
  }
  std::vector<TcpEvent> Events() {
    std::vector<TcpEvent> all;
    TcpEvent ev[8];
    for (size_t n; (n = engine->PollEvents(absl::MakeSpan(ev))) > 0;)
      all.insert(all.end(), ev, ev + n);
    return all;
  }
  TcpState State(ConnId id) const {
    auto i = engine->Info(id);
    return i ? i->state : TcpState::kClosed;
  }

  CaptureOutput out;
  std::unique_ptr<TcpEngine> engine;
  uint64_t now = 10 * kSec;
};

inline constexpr uint32_t kPeerIss = 1000;

struct Open {
  ConnId id = kInvalidConnId;
  uint32_t iss = 0;       // the engine's ISS
  uint32_t peer_nxt = 0;  // next sequence number the peer sends
  uint32_t our_nxt = 0;   // next sequence number the engine sends
};

inline TcpOptions MssOpt(uint16_t mss = 1460) {
  TcpOptions o;
  o.has_mss = true;
  o.mss = mss;
  return o;
}

// Listens on 80 (if needed) and completes a passive open from peer port `port`.
// rtt_ns passes between our SYN-ACK and the peer's ACK (the engine's first RTT sample).
inline Open OpenPassive(Bench& b, uint16_t port = 40000, TcpOptions syn_opts = MssOpt(),
                        uint64_t rtt_ns = 0) {
  (void)b.engine->Listen(80, 16);
  b.out.Take();
  b.Inject({.src_port = port, .seq = kPeerIss, .flags = kTcpSyn, .options = syn_opts});
  auto segs = b.out.Take();
  EXPECT_EQ(segs.size(), 1u);
  if (segs.empty()) return {};
  const CapturedSeg& sa = segs[0];
  EXPECT_TRUE(sa.Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(sa.ack, kPeerIss + 1);
  EXPECT_EQ(sa.dst_port, port);
  if (rtt_ns > 0) b.AdvanceBy(rtt_ns);
  b.Inject({.src_port = port, .seq = kPeerIss + 1, .ack = sa.seq + 1, .flags = kTcpAck});
  auto ev = b.Events();
  EXPECT_EQ(ev.size(), 1u);
  Open o;
  if (!ev.empty()) {
    EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
    EXPECT_EQ(ev[0].local_port, 80);
    o.id = ev[0].conn;
  }
  o.iss = sa.seq;
  o.peer_nxt = kPeerIss + 1;
  o.our_nxt = sa.seq + 1;
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  return o;
}

// Active open to kIpB:80 answered by a hand-written SYN-ACK.
inline Open OpenActive(Bench& b, TcpOptions synack_opts = MssOpt()) {
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  EXPECT_TRUE(id.ok());
  auto segs = b.out.Take();
  EXPECT_EQ(segs.size(), 1u);
  if (segs.empty() || !id.ok()) return {};
  const CapturedSeg& syn = segs[0];
  EXPECT_EQ(syn.flags, kTcpSyn);
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss,
            .ack = syn.seq + 1,
            .flags = kTcpSyn | kTcpAck,
            .options = synack_opts});
  auto acks = b.out.Take();
  EXPECT_EQ(acks.size(), 1u);
  if (!acks.empty()) {
    EXPECT_EQ(acks[0].flags, kTcpAck);
    EXPECT_EQ(acks[0].ack, kPeerIss + 1);
  }
  auto ev = b.Events();
  EXPECT_EQ(ev.size(), 1u);
  if (!ev.empty()) {
    EXPECT_EQ(ev[0].type, TcpEventType::kConnected);
  }
  return {*id, syn.seq, kPeerIss + 1, syn.seq + 1};
}

// Wire impairments; probabilities per segment.
struct WireParams {
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;  // extra delay of reorder_delay_ns for this segment
  double corrupt = 0;  // flip one bit (the checksum catches it)
  uint64_t delay_ns = 100'000;
  uint64_t jitter_ns = 0;
  uint64_t reorder_delay_ns = 1'000'000;
  uint64_t seed = 1;
};

// Two engines, A at kIpA and B at kIpB, joined by a simulated wire. Time only moves in RunUntil.
class Sim {
 public:
  Sim(const TcpConfig& ca, const TcpConfig& cb, const WireParams& w) : w_(w), rng_(w.seed) {
    outs_[0] = std::make_unique<SideOutput>(this, 0);
    outs_[1] = std::make_unique<SideOutput>(this, 1);
    engines_[0] = std::make_unique<TcpEngine>(ca, outs_[0].get());
    engines_[1] = std::make_unique<TcpEngine>(cb, outs_[1].get());
  }

  TcpEngine& a() { return *engines_[0]; }
  TcpEngine& b() { return *engines_[1]; }
  TcpEngine& engine(int side) { return *engines_[side]; }

  // Sees every segment as emitted; return false to drop it (before random impairments).
  std::function<bool(int from, const CapturedSeg&)> filter;
  // Receives every event; called between simulation steps (engine calls allowed).
  std::function<void(int side, const TcpEvent&)> on_event;
  // Called after every step (engine calls allowed), e.g. to keep send buffers full.
  std::function<void()> on_step;
  // The application's own next wake-up time (kNoDeadline: none), e.g. a slow reader's clock.
  uint64_t app_wake_ns = kNoDeadline;

  // Runs until pred() holds or max_ns of simulated time pass. Returns pred().
  bool RunUntil(const std::function<bool()>& pred, uint64_t max_ns) {
    const uint64_t end = now + max_ns;
    for (uint64_t iter = 0; iter < 50'000'000; ++iter) {
      DrainEvents();
      if (on_step) on_step();
      DrainEvents();
      if (pred()) return true;
      uint64_t next = std::min({a().NextDeadline(), b().NextDeadline(), app_wake_ns});
      if (!wire_.empty()) next = std::min(next, wire_.top().at_ns);
      if (next > end) {
        now = end;
        a().Advance(now);
        b().Advance(now);
        DrainEvents();
        return pred();
      }
      now = std::max(now, next);
      while (!wire_.empty() && wire_.top().at_ns <= now) {
        Packet p = wire_.top();
        wire_.pop();
        ++delivered;
        engines_[p.to]->Receive(p.src_ip, p.dst_ip, p.bytes, now);
      }
      a().Advance(now);
      b().Advance(now);
    }
    ADD_FAILURE() << "simulation did not settle";
    return false;
  }

  void DrainEvents() {
    TcpEvent ev[16];
    for (int side = 0; side < 2; ++side) {
      for (size_t n; (n = engines_[side]->PollEvents(absl::MakeSpan(ev))) > 0;) {
        for (size_t i = 0; i < n; ++i) {
          if (on_event) on_event(side, ev[i]);
        }
      }
    }
  }

  uint64_t now = 10 * kSec;
  uint64_t emitted = 0, delivered = 0, dropped = 0, duplicated = 0, corrupted = 0;
  std::vector<CapturedSeg> log[2];  // every segment each side emitted, if keep_log
  bool keep_log = false;

 private:
  struct Packet {
    uint64_t at_ns;
    uint64_t order;
    int to;
    uint32_t src_ip, dst_ip;
    std::vector<uint8_t> bytes;
    bool operator>(const Packet& o) const {
      return at_ns != o.at_ns ? at_ns > o.at_ns : order > o.order;
    }
  };
  class SideOutput : public TcpOutput {
   public:
    SideOutput(Sim* sim, int side) : sim_(sim), side_(side) {}
    void Emit(const TcpSegmentView& seg) override { sim_->OnEmit(side_, seg); }

   private:
    Sim* sim_;
    int side_;
  };

  double Uniform() { return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0); }

  // IX_TCP_TRACE=port prints every segment of connections using that port (debugging aid).
  void Trace(int side, const CapturedSeg& s, const char* fate) {
    static const int port =
        std::getenv("IX_TCP_TRACE") ? std::atoi(std::getenv("IX_TCP_TRACE")) : -1;
    if (port < 0 || (s.src_port != port && s.dst_port != port)) return;
    std::fprintf(stderr, "%12.6f %c->%c %s%s%s%s%s seq=%u ack=%u len=%zu win=%u ts=%u/%u %s\n",
                 static_cast<double>(now) / 1e9, side ? 'B' : 'A', side ? 'A' : 'B',
                 s.Has(kTcpSyn) ? "S" : ".", s.Has(kTcpAck) ? "A" : ".", s.Has(kTcpFin) ? "F" : ".",
                 s.Has(kTcpRst) ? "R" : ".", s.Has(kTcpPsh) ? "P" : ".", s.seq, s.ack,
                 s.payload.size(), s.window, s.options.ts_val, s.options.ts_ecr, fate);
  }

  void OnEmit(int side, const TcpSegmentView& v) {
    ++emitted;
    CapturedSeg s = Capture(v);
    if (keep_log) log[side].push_back(s);
    if (filter && !filter(side, s)) {
      ++dropped;
      Trace(side, s, "filtered");
      return;
    }
    if (Uniform() < w_.drop) {
      ++dropped;
      Trace(side, s, "DROPPED");
      return;
    }
    Trace(side, s, "");
    int copies = 1;
    if (Uniform() < w_.duplicate) {
      ++duplicated;
      copies = 2;
    }
    for (int i = 0; i < copies; ++i) {
      Packet p{now + w_.delay_ns, order_++, 1 - side, v.src_ip, v.dst_ip, s.wire};
      if (w_.jitter_ns > 0) p.at_ns += rng_() % w_.jitter_ns;
      if (Uniform() < w_.reorder) p.at_ns += w_.reorder_delay_ns;
      if (Uniform() < w_.corrupt) {
        ++corrupted;
        const size_t byte = rng_() % p.bytes.size();
        p.bytes[byte] ^= static_cast<uint8_t>(1u << (rng_() % 8));
      }
      wire_.push(std::move(p));
    }
  }

  WireParams w_;
  std::mt19937_64 rng_;
  uint64_t order_ = 0;
  std::priority_queue<Packet, std::vector<Packet>, std::greater<Packet>> wire_;
  std::unique_ptr<SideOutput> outs_[2];
  std::unique_ptr<TcpEngine> engines_[2];
};

}  // namespace ix::net::tcp::testing

#endif  // IX_DATAPLANE_NET_TCP_TCP_TEST_UTIL_H_

// Two engines against each other over a simulated wire (seeded drop, duplicate, reorder,
// corrupt): bulk transfers checked byte for byte, simultaneous open and close, slow readers and
// zero windows, many connections, and a SYN flood answered with cookies.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

// Byte i of the stream that side `s` sends on connection `k`.
uint8_t StreamByte(int s, uint32_t k, uint64_t i) {
  uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull + s * 0x1234567ull + k * 0x9876543ull;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  return static_cast<uint8_t>(x ^ (x >> 32));
}

TcpConfig SimConfig(uint64_t seed) {
  TcpConfig c;
  c.max_connections = 256;
  c.send_buffer_bytes = 128 * 1024;
  c.recv_buffer_bytes = 128 * 1024;
  c.time_wait_ns = 10 * kSec;  // well above the RTO backoff a lossy wire reaches
  c.max_retransmits = 30;
  c.secret = {seed * 77 + 1, seed * 13 + 5};
  return c;
}

// One side of one connection in a bulk transfer: sends `to_send` bytes then shuts down, checks
// every received byte, releases the handle once the connection has closed.
struct Endpoint {
  int side = 0;
  uint32_t key = 0;  // stream key (connection number)
  ConnId id = kInvalidConnId;
  uint64_t to_send = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t read_budget = ~0ull;  // bytes the app may still read (slow reader)
  bool shut = false;
  bool peer_closed = false;
  bool closed = false;
  bool released = false;
  bool reset = false;
  bool mismatch = false;
};

class Transfer {
 public:
  explicit Transfer(Sim* sim) : sim_(sim) {
    sim_->on_event = [this](int side, const TcpEvent& ev) { OnEvent(side, ev); };
    sim_->on_step = [this] {
      for (auto& e : eps_) Pump(e);
    };
  }

  Endpoint& Add(int side, uint32_t key, uint64_t to_send, ConnId id = kInvalidConnId) {
    eps_.push_back(Endpoint{.side = side, .key = key, .id = id, .to_send = to_send});
    return eps_.back();
  }
  std::vector<Endpoint>& endpoints() { return eps_; }

  bool AllDone() const {
    for (const auto& e : eps_) {
      if (!e.released || e.mismatch || e.reset) return false;
    }
    return true;
  }
  // Expected bytes into endpoint e: what its peer endpoint sends.
  uint64_t Expected(const Endpoint& e) const {
    for (const auto& p : eps_) {
      if (p.key == e.key && p.side != e.side) return p.to_send;
    }
    return 0;
  }

 private:
  Endpoint* Find(int side, ConnId id) {
    for (auto& e : eps_) {
      if (e.side == side && e.id == id) return &e;
    }
    return nullptr;
  }

  void OnEvent(int side, const TcpEvent& ev) {
    TcpEngine& eng = sim_->engine(side);
    if (ev.type == TcpEventType::kAccepted) {
      // Bind to the first endpoint of this side still waiting, matched by the peer's port.
      auto info = eng.Info(ev.conn);
      for (auto& e : eps_) {
        if (e.side == side && e.id == kInvalidConnId && info &&
            info->tuple.remote_port == 20000 + e.key) {
          e.id = ev.conn;
          break;
        }
      }
    }
    Endpoint* e = Find(side, ev.conn);
    ASSERT_NE(e, nullptr) << "event for an unknown connection " << TcpEventTypeName(ev.type);
    switch (ev.type) {
      case TcpEventType::kPeerClosed:
        e->peer_closed = true;
        break;
      case TcpEventType::kClosed:
        e->closed = true;
        break;
      case TcpEventType::kReset:
        e->reset = true;
        ADD_FAILURE() << "reset on side " << side << ": " << TcpErrorName(ev.error);
        break;
      default:
        break;
    }
    Pump(*e);
  }

  void Pump(Endpoint& e) {
    if (e.id == kInvalidConnId || e.released) return;
    TcpEngine& eng = sim_->engine(e.side);
    // Read and verify.
    TcpReadView v = eng.Peek(e.id);
    const size_t n = std::min<uint64_t>(v.size(), e.read_budget);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t got = i < v.first.size() ? v.first[i] : v.second[i - v.first.size()];
      if (got != StreamByte(1 - e.side, e.key, e.received + i)) {
        if (!e.mismatch) ADD_FAILURE() << "byte " << e.received + i << " differs, side " << e.side;
        e.mismatch = true;
        break;
      }
    }
    if (n > 0) {
      EXPECT_EQ(eng.Consume(e.id, n, sim_->now), TcpError::kOk);
      e.received += n;
      if (e.read_budget != ~0ull) e.read_budget -= n;
    }
    // Write.
    while (e.sent < e.to_send) {
      uint8_t buf[8192];
      const size_t len = std::min<uint64_t>(sizeof(buf), e.to_send - e.sent);
      for (size_t i = 0; i < len; ++i) buf[i] = StreamByte(e.side, e.key, e.sent + i);
      TcpIoResult r = eng.Send(e.id, absl::MakeConstSpan(buf, len), sim_->now);
      e.sent += r.bytes;
      if (r.bytes < len) break;
    }
    if (e.sent == e.to_send && !e.shut) {
      e.shut = true;
      EXPECT_EQ(eng.Shutdown(e.id, sim_->now), TcpError::kOk);
    }
    if (e.closed && e.peer_closed && !e.released && eng.Peek(e.id).size() == 0) {
      EXPECT_EQ(e.received, Expected(e)) << "side " << e.side;
      EXPECT_EQ(eng.Close(e.id, sim_->now), TcpError::kOk);
      e.released = true;
    }
  }

  Sim* sim_;
  std::vector<Endpoint> eps_;
};

// Runs `conns` connections from A to B:80, each moving `bytes` each way; checks everything.
// Returns the simulator for further checks.
std::unique_ptr<Sim> RunBulk(const WireParams& w, uint32_t conns, uint64_t bytes,
                             uint64_t max_sim_ns, const TcpConfig& ca, const TcpConfig& cb) {
  auto sim = std::make_unique<Sim>(ca, cb, w);
  EXPECT_TRUE(sim->b().Listen(80, 64).ok());
  Transfer t(sim.get());
  for (uint32_t k = 0; k < conns; ++k) {
    auto id = sim->a().Connect(kIpA, kIpB, 80, sim->now, static_cast<uint16_t>(20000 + k));
    EXPECT_TRUE(id.ok());
    if (!id.ok()) return sim;
    t.Add(0, k, bytes, *id);
    t.Add(1, k, bytes);
  }
  EXPECT_TRUE(sim->RunUntil([&] { return t.AllDone(); }, max_sim_ns))
      << "emitted " << sim->emitted << " dropped " << sim->dropped;
  for (const auto& e : t.endpoints()) {
    EXPECT_EQ(e.received, bytes) << "side " << e.side << " conn " << e.key;
    EXPECT_FALSE(e.mismatch);
  }
  // TIME_WAIT drains; nothing is left behind on either side.
  EXPECT_TRUE(sim->RunUntil(
      [&] { return sim->a().connections_in_use() == 0 && sim->b().connections_in_use() == 0; },
      60 * kSec));
  sim->on_event = nullptr;
  sim->on_step = nullptr;
  return sim;
}

std::unique_ptr<Sim> RunBulk(const WireParams& w, uint32_t conns, uint64_t bytes,
                             uint64_t max_sim_ns) {
  return RunBulk(w, conns, bytes, max_sim_ns, SimConfig(w.seed), SimConfig(w.seed + 1000));
}

TEST(TcpTransferTest, CleanWireOneMiBEachWay) {
  auto sim = RunBulk(WireParams{.seed = 1}, 1, 1 << 20, 60 * kSec);
  EXPECT_EQ(sim->a().counters().retransmits, 0u);
  EXPECT_EQ(sim->b().counters().retransmits, 0u);
  EXPECT_EQ(sim->a().counters().rx_bad_checksum, 0u);
}

TEST(TcpTransferTest, LossyReorderingWireFourMiBEachWay) {
  for (uint64_t seed : {7, 8}) {
    SCOPED_TRACE(seed);
    WireParams w{.drop = 0.02,
                 .duplicate = 0.01,
                 .reorder = 0.05,
                 .corrupt = 0.01,
                 .delay_ns = 200'000,
                 .jitter_ns = 100'000,
                 .reorder_delay_ns = 700'000,
                 .seed = seed};
    auto sim = RunBulk(w, 1, 4 << 20, 600 * kSec);
    const TcpCounters& a = sim->a().counters();
    const TcpCounters& b = sim->b().counters();
    // The impairments really happened and were repaired.
    EXPECT_GT(sim->dropped, 0u);
    EXPECT_GT(sim->corrupted, 0u);
    EXPECT_GT(a.rx_bad_checksum + b.rx_bad_checksum, 0u);
    EXPECT_GT(a.retransmits + b.retransmits, 0u);
    EXPECT_GT(a.fast_retransmits + b.fast_retransmits, 0u);
    EXPECT_GT(a.rx_ooo_segments + b.rx_ooo_segments, 0u);
  }
}

// Wire impairments and engine options drawn from the seed. IX_TCP_SEEDS=n runs n seeds from
// IX_TCP_FIRST_SEED (default 100); IX_TCP_TRACE=port traces one connection (tcp_test_util.h).
TEST(TcpTransferTest, RandomizedImpairmentsAndOptions) {
  const char* env = std::getenv("IX_TCP_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 8;
  const char* first = std::getenv("IX_TCP_FIRST_SEED");
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = (first != nullptr ? std::atoi(first) : 100) + i;
    SCOPED_TRACE(seed);
    std::mt19937_64 r(seed);
    auto uni = [&r](double hi) { return hi * static_cast<double>(r() % 10001) / 10000.0; };
    WireParams w{.drop = uni(0.08),
                 .duplicate = uni(0.05),
                 .reorder = uni(0.2),
                 .corrupt = uni(0.05),
                 .delay_ns = 20'000 + r() % 2'000'000,
                 .jitter_ns = 1 + r() % 500'000,
                 .reorder_delay_ns = 1 + r() % 3'000'000,
                 .seed = seed};
    TcpConfig c[2] = {SimConfig(seed), SimConfig(seed + 1)};
    for (auto& cfg : c) {
      cfg.timestamps = r() % 2;
      cfg.window_scaling = r() % 2;
      cfg.delayed_ack_ns = (r() % 2) ? 40 * kMs : 0;
      cfg.nagle = r() % 4 == 0;
      cfg.mss = static_cast<uint16_t>(536 + r() % 1000);
      cfg.send_buffer_bytes = 4096u << (r() % 7);
      cfg.recv_buffer_bytes = 4096u << (r() % 7);
      cfg.max_ooo_ranges = 1 + r() % 8;
      cfg.syn_cookies = false;
    }
    const uint32_t conns = 1 + r() % 4;
    const uint64_t bytes = 16 * 1024 + r() % (512 * 1024);
    RunBulk(w, conns, bytes, 3000 * kSec, c[0], c[1]);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(TcpTransferTest, ManyConnectionsOverALossyWire) {
  WireParams w{.drop = 0.01, .reorder = 0.02, .delay_ns = 300'000, .jitter_ns = 50'000, .seed = 3};
  RunBulk(w, 60, 48 * 1024, 300 * kSec);
}

TEST(TcpTransferTest, SimultaneousOpenAndSimultaneousClose) {
  TcpConfig ca = SimConfig(1), cb = SimConfig(2);
  Sim sim(ca, cb, WireParams{.delay_ns = 1'000'000});
  sim.keep_log = true;
  auto a = sim.a().Connect(kIpA, kIpB, 7000, sim.now, 6000);
  auto b = sim.b().Connect(kIpB, kIpA, 6000, sim.now, 7000);
  ASSERT_TRUE(a.ok() && b.ok());
  int connected = 0;
  std::vector<TcpEventType> events[2];
  sim.on_event = [&](int side, const TcpEvent& ev) {
    events[side].push_back(ev.type);
    connected += ev.type == TcpEventType::kConnected;
  };
  ASSERT_TRUE(sim.RunUntil([&] { return connected == 2; }, 5 * kSec));
  EXPECT_EQ(sim.a().Info(*a)->state, TcpState::kEstablished);
  EXPECT_EQ(sim.b().Info(*b)->state, TcpState::kEstablished);
  // Both sent a bare SYN and then a SYN-ACK.
  for (int s = 0; s < 2; ++s) {
    ASSERT_GE(sim.log[s].size(), 2u);
    EXPECT_EQ(sim.log[s][0].flags, kTcpSyn);
    EXPECT_TRUE(sim.log[s][1].Has(kTcpSyn | kTcpAck));
  }
  // Data both ways, then both close at the same instant: FINs cross, both pass CLOSING.
  ASSERT_EQ(sim.a().Send(*a, Bytes(3000, 1), sim.now).bytes, 3000u);
  ASSERT_EQ(sim.b().Send(*b, Bytes(2000, 2), sim.now).bytes, 2000u);
  ASSERT_TRUE(sim.RunUntil(
      [&] { return sim.a().Peek(*a).size() == 2000 && sim.b().Peek(*b).size() == 3000; },
      5 * kSec));
  std::vector<uint8_t> buf(4000);
  buf.resize(sim.a().Read(*a, absl::MakeSpan(buf), sim.now).bytes);
  EXPECT_EQ(buf, Bytes(2000, 2));
  buf.resize(4000);
  buf.resize(sim.b().Read(*b, absl::MakeSpan(buf), sim.now).bytes);
  EXPECT_EQ(buf, Bytes(3000, 1));
  ASSERT_EQ(sim.a().Shutdown(*a, sim.now), TcpError::kOk);
  ASSERT_EQ(sim.b().Shutdown(*b, sim.now), TcpError::kOk);
  ASSERT_TRUE(sim.RunUntil(
      [&] {
        return sim.a().Info(*a)->state == TcpState::kClosing &&
               sim.b().Info(*b)->state == TcpState::kClosing;
      },
      5 * kSec));
  ASSERT_TRUE(sim.RunUntil(
      [&] {
        return sim.a().Info(*a)->state == TcpState::kTimeWait &&
               sim.b().Info(*b)->state == TcpState::kTimeWait;
      },
      5 * kSec));
  ASSERT_TRUE(sim.RunUntil(
      [&] {
        return sim.a().Info(*a)->state == TcpState::kClosed &&
               sim.b().Info(*b)->state == TcpState::kClosed;
      },
      2 * ca.time_wait_ns));
  for (int s = 0; s < 2; ++s) {
    EXPECT_NE(std::find(events[s].begin(), events[s].end(), TcpEventType::kPeerClosed),
              events[s].end());
    EXPECT_EQ(events[s].back(), TcpEventType::kClosed);
  }
  EXPECT_EQ(sim.a().Close(*a, sim.now), TcpError::kOk);
  EXPECT_EQ(sim.b().Close(*b, sim.now), TcpError::kOk);
  EXPECT_EQ(sim.a().connections_in_use() + sim.b().connections_in_use(), 0u);
}

// Buffers are attached only while they hold data: an idle open connection costs its slot alone.
TEST(TcpTransferTest, IdleConnectionsHoldNoBuffers) {
  Sim sim(SimConfig(11), SimConfig(12), WireParams{.delay_ns = 100'000, .seed = 11});
  ASSERT_TRUE(sim.b().Listen(80, 8).ok());
  auto id = sim.a().Connect(kIpA, kIpB, 80, sim.now, 20000);
  ASSERT_TRUE(id.ok());
  ConnId server = kInvalidConnId;
  sim.on_event = [&](int side, const TcpEvent& ev) {
    if (side == 1 && ev.type == TcpEventType::kAccepted) server = ev.conn;
  };
  ASSERT_TRUE(sim.RunUntil([&] { return server != kInvalidConnId; }, 5 * kSec));
  EXPECT_EQ(sim.a().buffer_bytes_attached() + sim.b().buffer_bytes_attached(), 0u);

  std::vector<uint8_t> data(3000, 0x5a);
  ASSERT_EQ(sim.a().Send(*id, data, sim.now).bytes, data.size());
  EXPECT_GT(sim.a().buffer_bytes_attached(), 0u);  // unacknowledged data
  ASSERT_TRUE(sim.RunUntil([&] { return sim.b().Peek(server).size() == data.size(); }, 5 * kSec));
  ASSERT_TRUE(sim.RunUntil([&] { return sim.a().buffer_bytes_attached() == 0; }, 5 * kSec));
  EXPECT_GT(sim.b().buffer_bytes_attached(), 0u);  // received, not yet read
  EXPECT_EQ(sim.b().Consume(server, 1000, sim.now), TcpError::kOk);
  EXPECT_GT(sim.b().buffer_bytes_attached(), 0u);
  EXPECT_EQ(sim.b().Consume(server, 2000, sim.now), TcpError::kOk);
  EXPECT_EQ(sim.b().buffer_bytes_attached(), 0u);
  // The connection still works after giving its memory back.
  ASSERT_EQ(sim.b().Send(server, data, sim.now).bytes, data.size());
  ASSERT_TRUE(sim.RunUntil([&] { return sim.a().Peek(*id).size() == data.size(); }, 5 * kSec));
  EXPECT_LT(sim.a().bytes_per_connection_slot(), 1024u);
}

TEST(TcpTransferTest, SlowReaderClosesAndReopensTheWindow) {
  TcpConfig ca = SimConfig(4), cb = SimConfig(5);
  cb.recv_buffer_bytes = 4096;
  cb.window_scaling = false;
  Sim sim(ca, cb, WireParams{.delay_ns = 100'000, .seed = 4});
  ASSERT_TRUE(sim.b().Listen(80, 8).ok());
  Transfer t(&sim);
  auto id = sim.a().Connect(kIpA, kIpB, 80, sim.now, 20000);
  ASSERT_TRUE(id.ok());
  t.Add(0, 0, 100 * 1024, *id);
  Endpoint* reader = &t.Add(1, 0, 0);
  reader->read_budget = 0;
  // The reader takes 1 KiB every 250 ms: the sender meets a zero window again and again and
  // probes it (the window reopens only after 2 KiB are free: receiver SWS avoidance).
  uint64_t next_read = sim.now;
  auto base_step = sim.on_step;
  sim.on_step = [&] {
    if (sim.now >= next_read) {
      t.endpoints()[1].read_budget += 1024;
      next_read = sim.now + 250 * kMs;
      sim.app_wake_ns = next_read;
    }
    base_step();
  };
  EXPECT_TRUE(sim.RunUntil([&] { return t.AllDone(); }, 600 * kSec));
  EXPECT_EQ(t.endpoints()[1].received, 100u * 1024);
  EXPECT_GT(sim.b().counters().window_updates, 0u);
  EXPECT_GT(sim.a().counters().zero_window_probes, 0u);
}

TEST(TcpTransferTest, SynFloodIsAnsweredWithCookiesAndRealClientsGetThrough) {
  TcpConfig ca = SimConfig(9), cb = SimConfig(10);
  Sim sim(ca, cb, WireParams{.delay_ns = 100'000, .seed = 9});
  // Replies to spoofed sources go nowhere.
  sim.filter = [](int, const CapturedSeg& s) { return s.dst_ip == kIpA || s.dst_ip == kIpB; };
  ASSERT_TRUE(sim.b().Listen(80, 4).ok());
  constexpr uint32_t kSpoofed = 0x0a0000c8;
  for (uint16_t p = 0; p < 200; ++p) {
    TcpOptions o;
    o.has_mss = true;
    o.mss = 1460;
    auto wire = BuildWire({.src_ip = kSpoofed,
                           .dst_ip = kIpB,
                           .src_port = uint16_t(30000 + p),
                           .seq = 1000u * p,
                           .flags = kTcpSyn,
                           .options = o});
    sim.b().Receive(kSpoofed, kIpB, wire, sim.now);
  }
  EXPECT_EQ(sim.b().connections_in_use(), 4u);  // only the backlog holds state
  EXPECT_EQ(sim.b().counters().syn_cookies_sent, 196u);
  Transfer t(&sim);
  for (uint32_t k = 0; k < 3; ++k) {
    auto id = sim.a().Connect(kIpA, kIpB, 80, sim.now, static_cast<uint16_t>(20000 + k));
    ASSERT_TRUE(id.ok());
    t.Add(0, k, 100 * 1024, *id);
    t.Add(1, k, 50 * 1024);
  }
  EXPECT_TRUE(sim.RunUntil([&] { return t.AllDone(); }, 60 * kSec));
  EXPECT_EQ(sim.b().counters().syn_cookies_accepted, 3u);
}

}  // namespace
}  // namespace ix::net::tcp::testing

// SACK (RFC 2018) and SACK-based loss recovery (RFC 6675): option encoding, negotiation, the
// receiver's blocks, hostile blocks at the sender, and recovery against NewReno over a lossy wire.
#include <set>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

TcpOptions SackSynOpts() {
  TcpOptions o = MssOpt();
  o.sack_permitted = true;
  return o;
}

TEST(TcpSackTest, BlocksRoundTripAndBadLengthsAreRejected) {
  SegSpec s{.seq = 1, .ack = 2, .flags = kTcpAck};
  s.options.sack_count = 4;
  for (uint32_t i = 0; i < 4; ++i) s.options.sack[i] = {100 * i + 10, 100 * i + 50};
  auto wire = BuildWire(s);
  EXPECT_EQ(wire.size(), 20u + 36u);
  TcpSegmentView p;
  ASSERT_EQ(ParseTcpSegment(kIpB, kIpA, wire, true, &p), TcpParseResult::kOk);
  ASSERT_EQ(p.options.sack_count, 4);
  EXPECT_EQ(p.options.sack[3].left, 310u);
  EXPECT_EQ(p.options.sack[3].right, 350u);
  // With timestamps only 3 blocks fit the 40 bytes.
  s.options.has_timestamps = true;
  wire = BuildWire(s);
  EXPECT_EQ(wire.size(), 60u);
  ASSERT_EQ(ParseTcpSegment(kIpB, kIpA, wire, true, &p), TcpParseResult::kOk);
  EXPECT_EQ(p.options.sack_count, 3);
  EXPECT_TRUE(p.options.has_timestamps);
  // Length 2 (no block) and 2 + 8n + 4 are bad options; so is 5 blocks via ParseTcpOptions.
  TcpOptions o;
  const std::vector<uint8_t> empty = {5, 2, 1, 1};
  EXPECT_FALSE(ParseTcpOptions(empty, &o));
  std::vector<uint8_t> odd = {5, 14};
  odd.resize(14, 0);
  EXPECT_FALSE(ParseTcpOptions(odd, &o));
  std::vector<uint8_t> five = {5, 42};
  five.resize(42, 0);
  EXPECT_FALSE(ParseTcpOptions(five, &o));
  std::vector<uint8_t> one = {5, 10, 0, 0, 0, 1, 0, 0, 0, 9};
  ASSERT_TRUE(ParseTcpOptions(one, &o));
  EXPECT_EQ(o.sack_count, 1);
  EXPECT_EQ(o.sack[0].right, 9u);
}

TEST(TcpSackTest, NegotiatedOnlyWhenBothSidesEnableIt) {
  for (int mask = 0; mask < 4; ++mask) {
    SCOPED_TRACE(mask);
    TcpConfig ca = SimpleConfig(), cb = SimpleConfig();
    ca.sack = mask & 1;
    cb.sack = mask & 2;
    Sim sim(ca, cb, WireParams{});
    ASSERT_TRUE(sim.b().Listen(80, 4).ok());
    auto id = sim.a().Connect(kIpA, kIpB, 80, sim.now, 20000);
    ASSERT_TRUE(id.ok());
    ConnId server = kInvalidConnId;
    sim.on_event = [&](int side, const TcpEvent& ev) {
      if (side == 1 && ev.type == TcpEventType::kAccepted) server = ev.conn;
    };
    ASSERT_TRUE(sim.RunUntil([&] { return server != kInvalidConnId; }, kSec));
    EXPECT_EQ(sim.a().Info(*id)->sack, mask == 3);
    EXPECT_EQ(sim.b().Info(server)->sack, mask == 3);
  }
  // A SYN-ACK answers SACK-permitted only when the SYN offered it.
  Bench b;
  Open o = OpenPassive(b);
  EXPECT_FALSE(b.engine->Info(o.id)->sack);
  Bench b2;
  (void)b2.engine->Listen(80, 4);
  b2.Inject({.seq = kPeerIss, .flags = kTcpSyn, .options = SackSynOpts()});
  auto segs = b2.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].options.sack_permitted);
}

TEST(TcpSackTest, CookieSynAckCarriesSackWithTimestamps) {
  TcpConfig cfg = SimpleConfig();
  cfg.timestamps = true;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Listen(80, 1).ok());
  b.Inject({.src_port = 39999, .seq = 5, .flags = kTcpSyn, .options = MssOpt()});  // fills it
  b.out.Take();
  TcpOptions syn = SackSynOpts();
  syn.has_timestamps = true;
  syn.ts_val = 77;
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn, .options = syn});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].options.sack_permitted);
  EXPECT_EQ(b.engine->counters().syn_cookies_sent, 1u);
  TcpOptions ack;
  ack.has_timestamps = true;
  ack.ts_val = 78;
  ack.ts_ecr = segs[0].options.ts_val;
  b.Inject({.seq = kPeerIss + 1, .ack = segs[0].seq + 1, .flags = kTcpAck, .options = ack});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(b.engine->Info(ev[0].conn)->sack);
}

TEST(TcpSackTest, AcksCarryBlocksLatestArrivalFirst) {
  Bench b;
  Open o = OpenPassive(b, 40000, SackSynOpts());
  ASSERT_TRUE(b.engine->Info(o.id)->sack);
  const uint32_t p = o.peer_nxt;
  auto seg = [&](uint32_t off) {
    b.Inject({.seq = p + off, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
    auto s = b.out.Take();
    EXPECT_EQ(s.size(), 1u);
    return s.empty() ? CapturedSeg{} : s.back();
  };
  // Holes at [0,100), [200,300), [400,500), [600,700), [800,900).
  CapturedSeg a = seg(300);
  ASSERT_EQ(a.options.sack_count, 1);
  EXPECT_EQ(a.options.sack[0].left, p + 300);
  EXPECT_EQ(a.options.sack[0].right, p + 400);
  a = seg(700);
  a = seg(100);
  a = seg(500);
  ASSERT_EQ(a.options.sack_count, 4);  // no timestamps: 4 blocks
  EXPECT_EQ(a.options.sack[0].left, p + 500);
  EXPECT_EQ(a.options.sack[1].left, p + 100);
  EXPECT_EQ(a.options.sack[2].left, p + 700);
  EXPECT_EQ(a.options.sack[3].left, p + 300);
  EXPECT_EQ(a.ack, p);
  // Extending an older range moves it to the front.
  a = seg(800);
  ASSERT_EQ(a.options.sack_count, 4);
  EXPECT_EQ(a.options.sack[0].left, p + 700);
  EXPECT_EQ(a.options.sack[0].right, p + 900);
  EXPECT_EQ(a.options.sack[1].left, p + 500);
  // Filling everything: the cumulative ACK covers it all, no blocks.
  seg(200);
  seg(400);
  seg(600);
  a = seg(0);
  EXPECT_EQ(a.ack, p + 900);
  EXPECT_EQ(a.options.sack_count, 0);
  EXPECT_GT(b.engine->counters().sack_blocks_tx, 0u);
  std::vector<uint8_t> got(2000);
  got.resize(b.engine->Read(o.id, absl::MakeSpan(got), b.now).bytes);
  EXPECT_EQ(got.size(), 900u);
}

TEST(TcpSackTest, HostileBlocksAreIgnoredAndNothingIsSkipped) {
  Bench b;
  Open o = OpenPassive(b, 40000, SackSynOpts());
  const auto data = Bytes(8 * 536, 3);  // snd_mss 536 (the peer offered 1460; default 536?)
  ASSERT_EQ(b.engine->Send(o.id, data, b.now).bytes, data.size());
  auto sent = b.out.Take();
  ASSERT_FALSE(sent.empty());
  const uint32_t una = o.our_nxt;
  auto info = b.engine->Info(o.id);
  const uint32_t max = info->snd_max;
  auto ack_with = [&](std::vector<TcpSackBlock> blocks) {
    SegSpec s{.seq = o.peer_nxt, .ack = una, .flags = kTcpAck};
    s.options.sack_count = static_cast<uint8_t>(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) s.options.sack[i] = blocks[i];
    b.Inject(s);
  };
  ack_with({{una + 100, max + 1}, {una + 500, una + 100}, {una + 7, una + 7}, {una - 50, una}});
  const TcpCounters& k = b.engine->counters();
  EXPECT_EQ(k.sack_blocks_invalid, 3u);
  EXPECT_EQ(k.sack_blocks_old, 1u);
  EXPECT_EQ(k.sack_blocks_rx, 0u);
  EXPECT_EQ(b.engine->Info(o.id)->sack_ranges, 0u);
  // Random garbage blocks, many times: never a crash, never data released early.
  std::mt19937_64 r(5);
  for (int i = 0; i < 200; ++i) {
    std::vector<TcpSackBlock> bl;
    for (int j = 0; j < 4; ++j) {
      const uint32_t l = r() % 2 ? una + static_cast<uint32_t>(r() % 6000) : uint32_t(r());
      bl.push_back({l, l + static_cast<uint32_t>(r() % 3000)});
    }
    ack_with(bl);
    EXPECT_EQ(b.engine->Info(o.id)->snd_una, una);
    b.out.Take();
  }
  EXPECT_LE(b.engine->Info(o.id)->sack_ranges, 8u);
  // A peer that SACKs everything but the first byte gets the first segment again, never has the
  // rest released: after an RTO the whole flight goes again, from SND.UNA.
  ack_with({{una + 1, max}});
  b.out.Take();
  for (int i = 0; i < 3 && b.AdvanceToDeadline(); ++i) {
  }
  auto rtx = b.out.Take();
  ASSERT_FALSE(rtx.empty());
  EXPECT_EQ(rtx[0].seq, una);
  EXPECT_EQ(b.engine->Info(o.id)->send_queued, data.size());
  // The real ACK releases it all.
  b.Inject({.seq = o.peer_nxt, .ack = max, .flags = kTcpAck});
  EXPECT_EQ(b.engine->Info(o.id)->send_queued, 0u);
  EXPECT_EQ(b.engine->Info(o.id)->sack_ranges, 0u);
}

// Byte i of the test stream.
uint8_t Byte(uint64_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 13); }

struct Result {
  bool done = false;
  uint64_t rtx_bytes = 0, rto = 0, sack_recoveries = 0, sack_rtx = 0, fast = 0;
  uint64_t sim_ns = 0, dropped_bytes = 0;
};

// A to B, 400 KB, dropping the first transmission of the segments that hold the stream offsets
// `drops` (several in one window), verified byte for byte.
Result RunWithDrops(bool sack, const std::set<uint32_t>& drops) {
  TcpConfig c = SimpleConfig();
  c.send_buffer_bytes = c.recv_buffer_bytes = 256 * 1024;
  c.window_scaling = true;
  c.timestamps = true;
  c.initial_cwnd_segments = 40;
  c.sack = sack;
  Sim sim(c, c, WireParams{.delay_ns = 5 * kMs});
  EXPECT_TRUE(sim.b().Listen(80, 4).ok());
  auto id = sim.a().Connect(kIpA, kIpB, 80, sim.now, 20000);
  EXPECT_TRUE(id.ok());
  const uint32_t data_start = sim.a().Info(*id)->snd_una + 1;  // ISS + 1
  std::set<uint32_t> seen;
  uint64_t dropped_bytes = 0;
  sim.filter = [&](int from, const CapturedSeg& s) {
    if (from != 0) return true;
    if (s.payload.empty()) return true;
    const uint32_t off = s.seq - data_start;
    for (uint32_t d : drops) {  // drop the first copy of the segment holding byte d
      if (d >= off && d < off + s.payload.size() && seen.insert(d).second) {
        dropped_bytes += s.payload.size();
        return false;
      }
    }
    return true;
  };
  constexpr uint64_t kTotal = 400 * 1024;
  ConnId server = kInvalidConnId;
  uint64_t sent = 0, got = 0;
  bool bad = false;
  sim.on_event = [&](int side, const TcpEvent& ev) {
    if (side == 1 && ev.type == TcpEventType::kAccepted) server = ev.conn;
  };
  sim.on_step = [&] {
    while (sent < kTotal) {
      uint8_t buf[4096];
      const size_t n = std::min<uint64_t>(sizeof(buf), kTotal - sent);
      for (size_t i = 0; i < n; ++i) buf[i] = Byte(sent + i);
      const size_t w = sim.a().Send(*id, absl::MakeConstSpan(buf, n), sim.now).bytes;
      sent += w;
      if (w < n) break;
    }
    if (server == kInvalidConnId) return;
    TcpReadView v = sim.b().Peek(server);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint8_t x = i < v.first.size() ? v.first[i] : v.second[i - v.first.size()];
      if (x != Byte(got + i)) bad = true;
    }
    got += v.size();
    (void)sim.b().Consume(server, v.size(), sim.now);
  };
  const uint64_t t0 = sim.now;
  Result r;
  r.done = sim.RunUntil([&] { return got == kTotal || bad; }, 120 * kSec) && !bad;
  r.sim_ns = sim.now - t0;
  const TcpCounters& k = sim.a().counters();
  r.rtx_bytes = k.retransmitted_bytes;
  r.rto = k.rto_expirations;
  r.sack_recoveries = k.sack_recoveries;
  r.sack_rtx = k.sack_retransmits;
  r.fast = k.fast_retransmits;
  r.dropped_bytes = dropped_bytes;
  EXPECT_EQ(sim.a().Info(*id)->sack, sack);
  EXPECT_EQ(seen.size(), drops.size());
  return r;
}

TEST(TcpSackTest, SeveralLossesInOneWindowCostLessWithSack) {
  const std::set<uint32_t> drops = {30000, 36000, 42000, 48000, 54000};
  Result with = RunWithDrops(true, drops);
  Result without = RunWithDrops(false, drops);
  ASSERT_TRUE(with.done);
  ASSERT_TRUE(without.done);
  std::printf("sack: rtx_bytes %lu rto %lu recov %lu sack_rtx %lu time %.3f s\n", with.rtx_bytes,
              with.rto, with.sack_recoveries, with.sack_rtx, with.sim_ns / 1e9);
  std::printf("newreno: rtx_bytes %lu rto %lu fast %lu time %.3f s\n", without.rtx_bytes,
              without.rto, without.fast, without.sim_ns / 1e9);
  EXPECT_EQ(with.sack_recoveries, 1u);
  EXPECT_EQ(with.rto, 0u);
  EXPECT_GE(with.sack_rtx, drops.size());
  EXPECT_EQ(with.rtx_bytes, with.dropped_bytes);  // exactly the lost segments, once each
  EXPECT_EQ(without.sack_recoveries, 0u);
  EXPECT_LT(with.sim_ns, without.sim_ns);  // NewReno repairs one hole per round trip
  EXPECT_LE(with.rtx_bytes, without.rtx_bytes);
}

}  // namespace
}  // namespace ix::net::tcp::testing

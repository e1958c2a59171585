// Randomized robustness test: seeded random segments (valid, nonsensical and corrupt) and random
// application calls against one engine. Nothing may crash (run it under ASan/UBSan too), every
// emitted segment must be well formed, and connection invariants must hold throughout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_seq.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

void CheckInvariants(const TcpEngine& e, const std::vector<ConnId>& ids, const TcpConfig& cfg) {
  ASSERT_LE(e.connections_in_use(), cfg.max_connections);
  for (ConnId id : ids) {
    auto i = e.Info(id);
    if (!i) continue;
    ASSERT_TRUE(SeqLeq(i->snd_una, i->snd_nxt)) << i->snd_una << " " << i->snd_nxt;
    ASSERT_TRUE(SeqLeq(i->snd_nxt, i->snd_max)) << i->snd_nxt << " " << i->snd_max;
    ASSERT_LE(i->recv_queued + i->rcv_wnd, cfg.recv_buffer_bytes);
    ASSERT_LE(i->send_queued, cfg.send_buffer_bytes);
    ASSERT_LE(i->ooo_ranges, cfg.max_ooo_ranges);
    ASSERT_GE(i->cwnd, 1u);
  }
}

TEST(TcpFuzzTest, RandomSegmentsAndCallsKeepInvariants) {
  const char* env = std::getenv("IX_TCP_FUZZ_STEPS");
  const int steps = env != nullptr ? std::atoi(env) : 60000;
  TcpConfig cfg = SimpleConfig();
  cfg.max_connections = 32;
  cfg.timestamps = true;
  cfg.window_scaling = true;
  cfg.delayed_ack_ns = 40 * kMs;
  cfg.keepalive = true;
  cfg.keepalive_idle_ns = 2 * kSec;
  cfg.challenge_acks_per_second = 50;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  const char* seed_env = std::getenv("IX_TCP_FUZZ_SEED");
  std::mt19937_64 r(seed_env != nullptr ? std::strtoull(seed_env, nullptr, 10) : 12345);
  std::mt19937_64 rs(r() ^ 0x5ac4);
  std::vector<ConnId> ids;
  auto pick_port = [&]() -> uint16_t { return static_cast<uint16_t>(40000 + r() % 6); };
  auto near = [&](uint32_t base) -> uint32_t {
    switch (r() % 4) {
      case 0:
        return base;
      case 1:
        return base + static_cast<uint32_t>(r() % 3000);
      case 2:
        return base - static_cast<uint32_t>(r() % 3000);
      default:
        return static_cast<uint32_t>(r());
    }
  };
  // What the engine last sent to each peer port: plausible answers are built from it.
  struct Last {
    bool valid = false;
    uint32_t seq = 0, ack = 0, len = 0;
    uint8_t flags = 0;
  } last[6];
  uint32_t ts_clock = 1;
  for (int step = 0; step < steps; ++step) {
    for (const CapturedSeg& s : b.out.Take()) {  // Capture() checked each one parses
      if (s.dst_port >= 40000 && s.dst_port < 40006) {
        last[s.dst_port - 40000] = {true, s.seq, s.ack, s.SeqLen(), s.flags};
      }
    }
    const uint64_t op = r() % 100;
    if (op < 75) {  // a segment from the peer
      const uint16_t port = pick_port();
      const Last& l = last[port - 40000];
      SegSpec s{.src_port = port, .dst_port = static_cast<uint16_t>(r() % 16 == 0 ? 81 : 80)};
      if (l.valid && r() % 10 < 7) {  // plausible: answers what the engine sent
        s.seq = r() % 4 ? l.ack : near(l.ack);
        s.ack = r() % 3 == 0 ? l.seq : r() % 4 ? l.seq + l.len : near(l.seq + l.len);
        s.flags = kTcpAck;
        if ((l.flags & kTcpSyn) && !(l.flags & kTcpAck)) {
          s.flags = kTcpSyn | kTcpAck;  // answer an active open
          s.seq = static_cast<uint32_t>(r());
        }
        if (r() % 3 == 0) s.flags |= kTcpPsh;
        if (r() % 15 == 0) s.flags |= kTcpFin;
        if (r() % 100 == 0) s.flags = kTcpRst;
        if (r() % 100 == 0) s.flags = kTcpSyn;
      } else {  // anything
        s.flags = static_cast<uint8_t>(r());
        s.seq = static_cast<uint32_t>(r());
        s.ack = static_cast<uint32_t>(r());
      }
      s.window = static_cast<uint16_t>(r() % 4 == 0 ? r() % 2000 : 65535 - r() % 100);
      if (r() % 3 == 0) s.options = MssOpt(static_cast<uint16_t>(r()));
      if (r() % 2) {
        s.options.has_timestamps = true;
        s.options.ts_val = r() % 50 == 0 ? static_cast<uint32_t>(r()) : ++ts_clock;
        s.options.ts_ecr = static_cast<uint32_t>(r());
      }
      // SACK from a separate generator, so the other draws stay as they were.
      if ((s.flags & kTcpSyn) && rs() % 2) s.options.sack_permitted = true;
      if (!(s.flags & kTcpSyn) && l.valid && rs() % 3 == 0) {
        s.options.sack_count = static_cast<uint8_t>(1 + rs() % 4);
        for (uint8_t j = 0; j < s.options.sack_count; ++j) {
          const uint32_t left = rs() % 4 ? l.seq + static_cast<uint32_t>(rs() % 6000) - 1000
                                         : static_cast<uint32_t>(rs());
          s.options.sack[j] = {left, left + static_cast<uint32_t>(rs() % 4000) - 200};
        }
      }
      if (r() % 5 == 0) {
        s.options.has_wscale = true;
        s.options.wscale = static_cast<uint8_t>(r() % 20);
      }
      if (!(s.flags & kTcpSyn) && r() % 2 == 0) {
        s.payload = Bytes(r() % 2000, static_cast<uint8_t>(r()));
      }
      auto wire = BuildWire(s);
      if (r() % 20 == 0) wire[r() % wire.size()] ^= static_cast<uint8_t>(1 + r() % 255);
      if (r() % 30 == 0) wire.resize(r() % wire.size());
      b.engine->Receive(kIpB, kIpA, wire, b.now);
    } else if (op < 80) {
      b.AdvanceBy(r() % (300 * kMs));
    } else if (op < 82) {
      auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, pick_port());
      if (id.ok()) ids.push_back(*id);
    } else if (!ids.empty()) {  // an application call on a known or stale handle
      const ConnId id = ids[r() % ids.size()];
      switch (r() % 6) {
        case 0:
          (void)b.engine->Send(id, Bytes(r() % 20000), b.now);
          break;
        case 1: {
          std::vector<uint8_t> buf(r() % 5000);
          (void)b.engine->Read(id, absl::MakeSpan(buf), b.now);
          break;
        }
        case 2:
          (void)b.engine->Shutdown(id, b.now);
          break;
        case 3:
          (void)b.engine->Close(id, b.now);
          break;
        case 4:
          (void)b.engine->Abort(id, b.now);
          break;
        default:
          (void)b.engine->Consume(id, r() % 100, b.now);
          break;
      }
    }
    for (const TcpEvent& ev : b.Events()) {
      if (ev.type == TcpEventType::kAccepted) ids.push_back(ev.conn);
    }
    CheckInvariants(*b.engine, ids, cfg);
    if (::testing::Test::HasFatalFailure()) return;
    if (ids.size() > 200) {  // forget stale handles (live ones are never dropped)
      std::erase_if(ids, [&](ConnId id) { return !b.engine->Info(id).has_value(); });
    }
  }
  // Everything drains: release all handles and let the timers run out.
  for (ConnId id : ids) (void)b.engine->Abort(id, b.now);
  for (int i = 0; i < 10000 && b.AdvanceToDeadline(1000 * kSec); ++i) {
  }
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);
  const TcpCounters& k = b.engine->counters();
  EXPECT_GT(k.rx_bad_checksum, 0u);
  EXPECT_GT(k.passive_opens, 0u);
  EXPECT_GT(k.challenge_acks, 0u);
  if (std::getenv("IX_TCP_FUZZ_VERBOSE")) {
    std::fprintf(stderr,
                 "rx %lu opens %lu/%lu est-data %lu ooo %lu rst %lu/%lu chal %lu fin-rtx %lu rto "
                 "%lu fr %lu zwp %lu zwa %lu ka %lu paws %lu cookies %lu/%lu\n",
                 k.rx_segments, k.passive_opens, k.active_opens, k.tx_data_segments,
                 k.rx_ooo_segments, k.rx_rst_accepted, k.rx_rst_ignored, k.challenge_acks,
                 k.retransmits, k.rto_expirations, k.fast_retransmits, k.zero_window_probes,
                 k.zero_window_aborts, k.keepalive_probes, k.rx_paws_rejected, k.syn_cookies_sent,
                 k.syn_cookies_accepted);
  }
}

}  // namespace
}  // namespace ix::net::tcp::testing

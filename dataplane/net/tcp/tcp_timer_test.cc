// Timer and congestion-control tests with hand-written segments against one engine: RTO with
// backoff and Karn, SYN retransmission, NewReno fast retransmit, persist probes and their limit,
// receiver zero window, delayed ACKs, keepalive, RFC 7323 options and PAWS, MSS, Nagle.
#include <algorithm>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

// An ACK from the peer of everything up to `ack` with the given window.
SegSpec PeerAck(const Open& o, uint32_t ack, uint16_t window = 65535) {
  return {.seq = o.peer_nxt, .ack = ack, .flags = kTcpAck, .window = window};
}

TEST(TcpTimerTest, RetransmissionBacksOffExponentiallyThenGivesUp) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_retransmits = 4;
  Bench b(cfg);
  Open o = OpenPassive(b, 40000, MssOpt(), 10 * kMs);
  EXPECT_EQ(b.engine->Info(o.id)->rto_ns, cfg.min_rto_ns);  // 10 ms RTT is below the minimum
  ASSERT_EQ(b.engine->Send(o.id, Bytes(100), b.now).bytes, 100u);
  ASSERT_EQ(b.out.Take().size(), 1u);
  EXPECT_EQ(b.engine->Info(o.id)->next_deadline_ns, b.now + 200 * kMs);
  uint64_t last = b.now;
  std::vector<uint64_t> gaps;
  while (b.AdvanceToDeadline()) {
    auto segs = b.out.Take();
    if (segs.empty()) break;
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_EQ(segs[0].seq, o.our_nxt);
    EXPECT_EQ(segs[0].payload, Bytes(100));
    gaps.push_back(b.now - last);
    last = b.now;
  }
  const std::vector<uint64_t> want = {200 * kMs, 400 * kMs, 800 * kMs, 1600 * kMs};
  EXPECT_EQ(gaps, want);
  EXPECT_EQ(b.now - last, 3200 * kMs);  // the fifth expiry ends the connection
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].error, TcpError::kTimedOut);
  EXPECT_EQ(b.engine->counters().rto_expirations, 5u);
  EXPECT_EQ(b.engine->counters().retransmits, 4u);
}

TEST(TcpTimerTest, TimeoutCollapsesCwndAndKarnSkipsRetransmittedSamples) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(1000), 50 * kMs);
  const uint64_t srtt = b.engine->Info(o.id)->srtt_ns;
  EXPECT_EQ(srtt, 50 * kMs);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10000), b.now).bytes, 10000u);
  EXPECT_EQ(b.out.Take().size(), 10u);  // initial window: 10 segments
  ASSERT_TRUE(b.AdvanceToDeadline());
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);  // cwnd is one segment after a timeout
  EXPECT_EQ(segs[0].seq, o.our_nxt);
  auto info = b.engine->Info(o.id);
  EXPECT_EQ(info->cwnd, 1000u);
  EXPECT_EQ(info->ssthresh, 5000u);
  // The ACK for the retransmission gives no RTT sample (Karn); slow start resends the next two.
  b.AdvanceBy(300 * kMs);
  b.Inject(PeerAck(o, o.our_nxt + 1000));
  info = b.engine->Info(o.id);
  EXPECT_EQ(info->srtt_ns, srtt);
  EXPECT_EQ(info->cwnd, 2000u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].seq, o.our_nxt + 1000);
  EXPECT_EQ(segs[1].seq, o.our_nxt + 2000);
}

TEST(TcpTimerTest, SynRetransmissionsThenTimeout) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_syn_retransmits = 3;
  Bench b(cfg);
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  uint64_t start = b.now;
  std::vector<uint64_t> at;
  while (b.AdvanceToDeadline()) {
    auto segs = b.out.Take();
    if (segs.empty()) break;
    EXPECT_EQ(segs[0].flags, kTcpSyn);
    EXPECT_EQ(segs[0].seq, iss);
    at.push_back(b.now - start);
  }
  EXPECT_EQ(at, (std::vector<uint64_t>{1 * kSec, 3 * kSec, 7 * kSec}));
  EXPECT_EQ(b.now - start, 15 * kSec);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].error, TcpError::kTimedOut);
}

TEST(TcpTimerTest, HalfOpenConnectionTimesOutAndFreesBacklog) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_syn_retransmits = 2;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Listen(80, 1).ok());
  b.Inject({.seq = 1, .flags = kTcpSyn});
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  ASSERT_EQ(b.out.Take().size(), 1u);
  int synacks = 0;
  while (b.AdvanceToDeadline()) {
    for (const auto& s : b.out.Take()) synacks += s.Has(kTcpSyn | kTcpAck);
  }
  EXPECT_EQ(synacks, 2);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_TRUE(b.Events().empty());
  // The backlog slot is free again: a new SYN gets state, not a cookie.
  b.Inject({.src_port = 40001, .seq = 1, .flags = kTcpSyn});
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  EXPECT_EQ(b.engine->counters().syn_cookies_sent, 0u);
}

TEST(TcpTimerTest, FastRetransmitOnThreeDupAcksAndNewRenoRecovery) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10000), b.now).bytes, 10000u);
  ASSERT_EQ(b.out.Take().size(), 10u);
  const uint32_t base = o.our_nxt;
  // Segment 1 was lost; segments 2.. produce duplicate ACKs.
  b.Inject(PeerAck(o, base));
  b.Inject(PeerAck(o, base));
  EXPECT_TRUE(b.out.Take().empty());
  b.Inject(PeerAck(o, base));
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq, base);
  EXPECT_EQ(segs[0].payload.size(), 1000u);
  EXPECT_EQ(b.engine->counters().fast_retransmits, 1u);
  auto info = b.engine->Info(o.id);
  EXPECT_TRUE(info->in_fast_recovery);
  EXPECT_EQ(info->ssthresh, 5000u);
  EXPECT_EQ(info->cwnd, 8000u);
  // More duplicates inflate cwnd; new data goes out once cwnd exceeds the flight.
  ASSERT_EQ(b.engine->Send(o.id, Bytes(5000), b.now).bytes, 5000u);
  EXPECT_TRUE(b.out.Take().empty());
  for (int i = 0; i < 3; ++i) b.Inject(PeerAck(o, base));
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq, base + 10000);
  // Partial ACK (segments 1-3; 4 was lost too): resend segment 4 at once, stay in recovery.
  b.Inject(PeerAck(o, base + 3000));
  segs = b.out.Take();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].seq, base + 3000);
  EXPECT_TRUE(b.engine->Info(o.id)->in_fast_recovery);
  // Full ACK (everything sent before recovery began): leave recovery with cwnd <= ssthresh.
  b.Inject(PeerAck(o, base + 10000));
  info = b.engine->Info(o.id);
  EXPECT_FALSE(info->in_fast_recovery);
  EXPECT_LE(info->cwnd, 5000u);
  EXPECT_EQ(b.engine->counters().fast_retransmits, 1u);
  EXPECT_EQ(b.engine->counters().rto_expirations, 0u);
}

TEST(TcpTimerTest, DupAcksWithDataOrWindowChangeDoNotCount) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(1000));
  ASSERT_EQ(b.engine->Send(o.id, Bytes(5000), b.now).bytes, 5000u);
  b.out.Take();
  for (int i = 0; i < 3; ++i) b.Inject(PeerAck(o, o.our_nxt, static_cast<uint16_t>(60000 + i)));
  EXPECT_EQ(b.engine->counters().fast_retransmits, 0u);
  EXPECT_EQ(b.engine->counters().rx_dup_acks, 0u);
}

TEST(TcpTimerTest, ZeroWindowIsProbedWithBackoffUntilItOpens) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  b.Inject(PeerAck(o, o.our_nxt, 2000));
  ASSERT_EQ(b.engine->Send(o.id, Bytes(5000), b.now).bytes, 5000u);
  EXPECT_EQ(b.out.Take().size(), 2u);
  b.Inject(PeerAck(o, o.our_nxt + 2000, 0));  // all acked, window closed
  EXPECT_TRUE(b.out.Take().empty());
  std::vector<uint64_t> gaps;
  uint64_t last = b.now;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(b.AdvanceToDeadline());
    auto segs = b.out.Take();
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_EQ(segs[0].seq, o.our_nxt + 2000);
    EXPECT_EQ(segs[0].payload.size(), 1u);
    gaps.push_back(b.now - last);
    last = b.now;
    b.Inject(PeerAck(o, o.our_nxt + 2000, 0));  // still closed, probe byte refused
  }
  EXPECT_EQ(gaps, (std::vector<uint64_t>{200 * kMs, 400 * kMs, 800 * kMs, 1600 * kMs}));
  EXPECT_EQ(b.engine->counters().zero_window_probes, 4u);
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);  // answered probes never give up
  // The window opens: the rest flows.
  b.Inject(PeerAck(o, o.our_nxt + 2000, 4000));
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].seq, o.our_nxt + 2000);
  EXPECT_EQ(segs[2].seq + segs[2].payload.size(), o.our_nxt + 5000);
}

TEST(TcpTimerTest, AcceptedProbeByteAdvancesTheStream) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(1000));
  b.Inject(PeerAck(o, o.our_nxt, 1000));
  ASSERT_EQ(b.engine->Send(o.id, Bytes(3000), b.now).bytes, 3000u);
  b.out.Take();
  b.Inject(PeerAck(o, o.our_nxt + 1000, 0));
  ASSERT_TRUE(b.AdvanceToDeadline());
  ASSERT_EQ(b.out.Take().at(0).payload.size(), 1u);
  // The peer took the probe byte and reopened its window.
  b.Inject(PeerAck(o, o.our_nxt + 1001, 5000));
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].seq, o.our_nxt + 1001);
  EXPECT_EQ(segs[0].payload.size() + segs[1].payload.size(), 1999u);
}

// The peer takes 1000 of 3000 queued bytes and closes its window: the persist timer runs from
// here. Returns the sequence number of the first byte the peer has not taken.
uint32_t CloseWindowWithDataQueued(Bench& b, const Open& o) {
  b.Inject(PeerAck(o, o.our_nxt, 1000));
  EXPECT_EQ(b.engine->Send(o.id, Bytes(3000), b.now).bytes, 3000u);
  EXPECT_EQ(b.out.Take().size(), 1u);
  b.Inject(PeerAck(o, o.our_nxt + 1000, 0));
  EXPECT_TRUE(b.out.Take().empty());
  return o.our_nxt + 1000;
}

// Runs timers until the engine sends something (a probe) or the connection is gone. Returns the
// segments sent; an empty result means the connection closed or no timer is left.
std::vector<CapturedSeg> NextProbe(Bench& b, ConnId id) {
  while (b.State(id) != TcpState::kClosed && b.AdvanceToDeadline()) {
    auto segs = b.out.Take();
    if (!segs.empty()) return segs;
  }
  return {};
}

// Expects one zero-window probe: the byte at `seq`, nothing else.
void ExpectProbe(const std::vector<CapturedSeg>& segs, uint32_t seq) {
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq, seq);
  EXPECT_EQ(segs[0].payload.size(), 1u);
  EXPECT_FALSE(segs[0].Has(kTcpRst));
}

TEST(TcpTimerTest, ZeroWindowProbesAnsweredWithAClosedWindowGoOnPastTheLimit) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_retransmits = 3;
  Bench b(cfg);
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  const uint32_t head = CloseWindowWithDataQueued(b, o);
  // Four times the limit, every probe refused by a live peer whose window stays closed.
  for (int i = 0; i < 12; ++i) {
    SCOPED_TRACE(i);
    ASSERT_NO_FATAL_FAILURE(ExpectProbe(NextProbe(b, o.id), head));
    b.Inject(PeerAck(o, head, 0));
  }
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  EXPECT_TRUE(b.Events().empty());
  EXPECT_EQ(b.engine->counters().zero_window_probes, 12u);
  EXPECT_EQ(b.engine->counters().zero_window_aborts, 0u);
  // The limit counts from the last answer: three more probes, then the silent peer is given up.
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(ExpectProbe(NextProbe(b, o.id), head));
  EXPECT_TRUE(NextProbe(b, o.id).empty());
  EXPECT_EQ(b.State(o.id), TcpState::kClosed);
  EXPECT_EQ(b.engine->counters().zero_window_aborts, 1u);
}

TEST(TcpTimerTest, SilentPeerBehindAZeroWindowTimesOutAfterMaxRetransmitsProbes) {
  Bench b;  // the default limit (15, as Linux's tcp_retries2) and RTO bounds
  ASSERT_EQ(b.engine->config().max_retransmits, 15u);
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  const uint32_t head = CloseWindowWithDataQueued(b, o);
  const uint64_t t0 = b.now;
  uint64_t last = b.now;
  uint64_t want_gap = 200 * kMs;  // the minimum RTO, doubling up to the maximum
  for (int i = 0; i < 15; ++i) {
    SCOPED_TRACE(i);
    ASSERT_NO_FATAL_FAILURE(ExpectProbe(NextProbe(b, o.id), head));
    EXPECT_EQ(b.now - last, want_gap);
    last = b.now;
    want_gap = std::min(2 * want_gap, b.engine->config().max_rto_ns);
    EXPECT_TRUE(b.Events().empty());
  }
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  // The next expiry sends nothing and ends the connection as a retransmission timeout does.
  EXPECT_TRUE(NextProbe(b, o.id).empty());
  EXPECT_EQ(b.now - last, 60 * kSec);
  EXPECT_EQ(b.now - t0, 522'200 * kMs);  // 0.2 + 0.4 + ... + 51.2 s, then 7 x 60 s
  EXPECT_EQ(b.State(o.id), TcpState::kClosed);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].error, TcpError::kTimedOut);
  const TcpCounters& k = b.engine->counters();
  EXPECT_EQ(k.zero_window_probes, 15u);
  EXPECT_EQ(k.zero_window_aborts, 1u);
  EXPECT_EQ(k.conn_timeouts, 1u);
  EXPECT_EQ(k.rto_expirations, 0u);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);
  // The slot stays until the app lets go of its handle, as after any kReset.
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_FALSE(b.engine->Info(o.id).has_value());
}

TEST(TcpTimerTest, ReleasedConnectionBehindASilentZeroWindowIsFreed) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_retransmits = 2;
  Bench b(cfg);
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  const uint32_t head = CloseWindowWithDataQueued(b, o);
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);  // FIN waits behind the data
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  int probes = 0;
  for (int i = 0; i < 100 && b.engine->connections_in_use() > 0 && b.AdvanceToDeadline(); ++i) {
    for (const CapturedSeg& s : b.out.Take()) {
      EXPECT_EQ(s.seq, head);
      EXPECT_EQ(s.payload.size(), 1u);
      ++probes;
    }
  }
  EXPECT_EQ(probes, 2);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_EQ(b.engine->counters().zero_window_aborts, 1u);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);
  EXPECT_TRUE(b.Events().empty());  // the app had let go: nobody to tell
}

TEST(TcpTimerTest, WindowThatOpensAfterUnansweredProbesResetsTheProbeCount) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_retransmits = 4;
  Bench b(cfg);
  Open o = OpenPassive(b, 40000, MssOpt(1000), 10 * kMs);
  uint32_t head = CloseWindowWithDataQueued(b, o);
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(ExpectProbe(NextProbe(b, o.id), head));
  // One short of the limit, the peer comes back with room: the rest flows and is acknowledged.
  b.Inject(PeerAck(o, head, 4000));
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].seq, head);
  EXPECT_EQ(segs[1].seq + segs[1].payload.size(), o.our_nxt + 3000);
  b.Inject(PeerAck(o, o.our_nxt + 3000, 1000));
  EXPECT_EQ(b.engine->Info(o.id)->send_queued, 0u);
  // More data, and the window closes again behind the first 1000 bytes of it.
  ASSERT_EQ(b.engine->Send(o.id, Bytes(2000), b.now).bytes, 2000u);
  ASSERT_EQ(b.out.Take().size(), 1u);
  head = o.our_nxt + 4000;
  b.Inject(PeerAck(o, head, 0));
  // The count started again: the full limit of probes before the silent peer is given up.
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    ASSERT_NO_FATAL_FAILURE(ExpectProbe(NextProbe(b, o.id), head));
    EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  }
  EXPECT_TRUE(NextProbe(b, o.id).empty());
  EXPECT_EQ(b.State(o.id), TcpState::kClosed);
  EXPECT_EQ(b.engine->counters().zero_window_probes, 7u);
  EXPECT_EQ(b.engine->counters().zero_window_aborts, 1u);
  auto ev = b.Events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().type, TcpEventType::kReset);
  EXPECT_EQ(ev.back().error, TcpError::kTimedOut);
}

TEST(TcpTimerTest, ReceiverZeroWindowRefusesDataThenSendsWindowUpdate) {
  Bench b;  // 16 KiB receive buffer
  Open o = OpenPassive(b);
  uint32_t seq = o.peer_nxt;
  while (seq - o.peer_nxt < 16384) {
    const uint32_t n = std::min<uint32_t>(1460, 16384 - (seq - o.peer_nxt));
    b.Inject({.seq = seq, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(n)});
    seq += n;
  }
  auto segs = b.out.Take();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.back().window, 0);
  EXPECT_EQ(segs.back().ack, seq);
  // A zero-window probe: acknowledged, not accepted.
  b.Inject({.seq = seq, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(1)});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, seq);
  EXPECT_EQ(segs[0].window, 0);
  // Reading a little does not reopen the window (SWS avoidance); reading more does.
  ASSERT_EQ(b.engine->Consume(o.id, 100, b.now), TcpError::kOk);
  EXPECT_TRUE(b.out.Take().empty());
  ASSERT_EQ(b.engine->Consume(o.id, 8000, b.now), TcpError::kOk);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].window, 8100);
  EXPECT_EQ(b.engine->counters().window_updates, 1u);
}

TEST(TcpTimerTest, DelayedAcks) {
  TcpConfig cfg = SimpleConfig();
  cfg.delayed_ack_ns = 40 * kMs;
  cfg.ack_every_segments = 2;
  Bench b(cfg);
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.engine->NextDeadline(), b.now + 40 * kMs);
  b.AdvanceBy(40 * kMs);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 100);
  EXPECT_EQ(b.engine->counters().delayed_acks, 1u);
  // Every second segment is acknowledged at once.
  b.Inject({.seq = o.peer_nxt + 100, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_TRUE(b.out.Take().empty());
  b.Inject({.seq = o.peer_nxt + 200, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 300);
  // Out-of-order data is acknowledged at once.
  b.Inject({.seq = o.peer_nxt + 400, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_EQ(b.out.Take().size(), 1u);
  // Data we send carries the pending ACK.
  b.Inject({.seq = o.peer_nxt + 300, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  b.out.Take();
  b.Inject({.seq = o.peer_nxt + 500, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_TRUE(b.out.Take().empty());
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10), b.now).bytes, 10u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 600);
  b.AdvanceBy(50 * kMs);
  EXPECT_TRUE(b.out.Take().empty());  // nothing left to acknowledge
}

TEST(TcpTimerTest, KeepaliveProbesThenTimesOut) {
  TcpConfig cfg = SimpleConfig();
  cfg.keepalive = true;
  cfg.keepalive_idle_ns = 10 * kSec;
  cfg.keepalive_interval_ns = 1 * kSec;
  cfg.keepalive_probes = 3;
  Bench b(cfg);
  Open o = OpenPassive(b);
  const uint64_t t0 = b.now;
  // NextDeadline may be early (the heap is lazy), never late: step until the probe appears.
  while (b.out.segs.empty() && b.AdvanceToDeadline()) {
  }
  EXPECT_EQ(b.now - t0, 10 * kSec);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq, o.our_nxt - 1);
  EXPECT_EQ(segs[0].flags, kTcpAck);
  EXPECT_TRUE(segs[0].payload.empty());
  // The peer answers (the probe is old data to it): idle time starts again.
  b.Inject(PeerAck(o, o.our_nxt));
  const uint64_t t1 = b.now;
  std::vector<uint64_t> probes;
  while (b.AdvanceToDeadline()) {
    for (const auto& s : b.out.Take()) {
      EXPECT_EQ(s.seq, o.our_nxt - 1);
      probes.push_back(b.now - t1);
    }
    if (b.State(o.id) == TcpState::kClosed) break;
  }
  EXPECT_EQ(probes, (std::vector<uint64_t>{10 * kSec, 11 * kSec, 12 * kSec}));
  EXPECT_EQ(b.now - t1, 13 * kSec);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].error, TcpError::kTimedOut);
  EXPECT_EQ(b.engine->counters().keepalive_probes, 4u);
}

TEST(TcpTimerTest, KeepaliveIsOffByDefault) {
  Bench b;
  OpenPassive(b);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);
}

TEST(TcpTimerTest, WindowScalingTimestampsRttmAndPaws) {
  TcpConfig cfg = SimpleConfig();
  cfg.window_scaling = true;
  cfg.timestamps = true;
  cfg.recv_buffer_bytes = 1 << 20;
  Bench b(cfg);
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  const CapturedSeg syn = segs[0];
  ASSERT_TRUE(syn.options.has_wscale);
  EXPECT_EQ(syn.options.wscale, 5);
  ASSERT_TRUE(syn.options.has_timestamps);
  EXPECT_EQ(syn.options.ts_ecr, 0u);
  EXPECT_EQ(syn.window, 65535);  // never scaled in a SYN
  TcpOptions o = MssOpt(1460);
  o.has_wscale = true;
  o.wscale = 3;
  o.has_timestamps = true;
  o.ts_val = 5000;
  o.ts_ecr = syn.options.ts_val;
  b.AdvanceBy(20 * kMs);
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss,
            .ack = syn.seq + 1,
            .flags = kTcpSyn | kTcpAck,
            .window = 1000,
            .options = o});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  ASSERT_TRUE(segs[0].options.has_timestamps);
  EXPECT_EQ(segs[0].options.ts_ecr, 5000u);
  EXPECT_EQ(segs[0].window, (1u << 20) >> 5);  // scaled by our shift (2^20 - 0 in use) >> 5
  auto info = b.engine->Info(*id);
  EXPECT_EQ(info->snd_wscale, 3);
  EXPECT_EQ(info->rcv_wscale, 5);
  EXPECT_EQ(info->snd_mss, 1448);
  EXPECT_EQ(info->snd_wnd, 1000u);  // the SYN-ACK's window is not scaled
  EXPECT_EQ(info->srtt_ns, 20 * kMs);
  const Open c{*id, syn.seq, kPeerIss + 1, syn.seq + 1};
  // A later window is scaled.
  TcpOptions ts;
  ts.has_timestamps = true;
  ts.ts_val = 5001;
  ts.ts_ecr = segs[0].options.ts_val;
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = c.peer_nxt,
            .ack = c.our_nxt,
            .flags = kTcpAck,
            .window = 1000,
            .options = ts});
  EXPECT_EQ(b.engine->Info(*id)->snd_wnd, 8000u);
  // RTT from timestamp echoes: send, answer 30 ms later echoing our TSval.
  ASSERT_EQ(b.engine->Send(*id, Bytes(100), b.now).bytes, 100u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  b.AdvanceBy(30 * kMs);
  ts.ts_val = 5002;
  ts.ts_ecr = segs[0].options.ts_val;
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = c.peer_nxt,
            .ack = c.our_nxt + 100,
            .flags = kTcpAck,
            .window = 1000,
            .options = ts,
            .payload = Bytes(10)});
  info = b.engine->Info(*id);
  EXPECT_GT(info->srtt_ns, 20 * kMs);
  EXPECT_LT(info->srtt_ns, 30 * kMs);
  EXPECT_EQ(info->rcv_nxt, c.peer_nxt + 10);
  b.out.Take();
  // PAWS: an older timestamp is refused (and acknowledged) even with a good sequence number.
  ts.ts_val = 4000;
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = c.peer_nxt + 10,
            .ack = c.our_nxt + 100,
            .flags = kTcpAck,
            .window = 1000,
            .options = ts,
            .payload = Bytes(10)});
  EXPECT_EQ(b.engine->counters().rx_paws_rejected, 1u);
  EXPECT_EQ(b.engine->Info(*id)->rcv_nxt, c.peer_nxt + 10);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].options.ts_ecr, 5002u);  // TS.Recent unchanged
  // ...but a pure duplicate ACK reordered behind the segment that set TS.Recent is accepted
  // (Linux's tcp_disordered_ack): no data, no new ACK, no larger window, less than an RTO old.
  SegSpec dup{.src_port = 80,
              .dst_port = 5555,
              .seq = c.peer_nxt + 10,
              .ack = c.our_nxt + 100,
              .flags = kTcpAck,
              .window = 1000,
              .options = ts};
  dup.options.ts_val = 5001;
  b.Inject(dup);
  EXPECT_EQ(b.engine->counters().rx_paws_disordered_acks, 1u);
  EXPECT_EQ(b.engine->counters().rx_paws_rejected, 1u);
  EXPECT_TRUE(b.out.Take().empty()) << "accepted: no ACK in answer";
  // Not when it is far older than an RTO, nor when it would open the window.
  dup.options.ts_val = 5002 - 100'000;
  b.Inject(dup);
  dup.options.ts_val = 5001;
  dup.window = 2000;
  b.Inject(dup);
  EXPECT_EQ(b.engine->counters().rx_paws_disordered_acks, 1u);
  EXPECT_EQ(b.engine->counters().rx_paws_rejected, 3u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[1].options.ts_ecr, 5002u);  // TS.Recent never moved back
  EXPECT_EQ(b.engine->Info(*id)->snd_wnd, 8000u);
}

TEST(TcpTimerTest, PeerMssLimitsSegmentSize) {
  Bench b;
  Open o = OpenPassive(b, 40000, MssOpt(500));
  ASSERT_EQ(b.engine->Send(o.id, Bytes(2000), b.now).bytes, 2000u);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 4u);
  for (const auto& s : segs) EXPECT_EQ(s.payload.size(), 500u);
}

TEST(TcpTimerTest, NagleHoldsSmallSegmentsWhileDataIsInFlight) {
  TcpConfig cfg = SimpleConfig();
  cfg.nagle = true;
  Bench b(cfg);
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10), b.now).bytes, 10u);
  EXPECT_EQ(b.out.Take().size(), 1u);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10), b.now).bytes, 10u);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(10), b.now).bytes, 10u);
  EXPECT_TRUE(b.out.Take().empty());
  b.Inject(PeerAck(o, o.our_nxt + 10));
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].payload.size(), 20u);
}

TEST(TcpTimerTest, SendBufferLimitAndWritableEvent) {
  Bench b;  // 16 KiB send buffer
  Open o = OpenPassive(b, 40000, MssOpt(1000));
  TcpIoResult r = b.engine->Send(o.id, Bytes(20000), b.now);
  EXPECT_EQ(r.error, TcpError::kOk);
  EXPECT_EQ(r.bytes, 16384u);
  EXPECT_EQ(b.engine->SendSpace(o.id), 0u);
  EXPECT_EQ(b.engine->Send(o.id, Bytes(1), b.now).error, TcpError::kWouldBlock);
  b.out.Take();
  EXPECT_TRUE(b.Events().empty());
  b.Inject(PeerAck(o, o.our_nxt + 3000));
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kWritable);
  EXPECT_EQ(b.engine->SendSpace(o.id), 3000u);
}

}  // namespace
}  // namespace ix::net::tcp::testing

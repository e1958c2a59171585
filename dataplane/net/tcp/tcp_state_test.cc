// State-machine tests with hand-written segments against one engine: opens, closes, TIME_WAIT,
// RST rules, RFC 5961 challenge ACKs, listener backlog and SYN cookies.
#include <algorithm>
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

TEST(TcpStateTest, PassiveOpen) {
  Bench b;
  Open o = OpenPassive(b);
  auto info = b.engine->Info(o.id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->tuple.local_port, 80);
  EXPECT_EQ(info->tuple.remote_port, 40000);
  EXPECT_EQ(info->snd_mss, 1460);
  EXPECT_EQ(info->rcv_nxt, kPeerIss + 1);
  EXPECT_EQ(b.engine->counters().passive_opens, 1u);
}

TEST(TcpStateTest, SynAckCarriesOptionsAndRetransmitsForDuplicateSyn) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn, .options = MssOpt(1000)});
  auto s1 = b.out.Take();
  ASSERT_EQ(s1.size(), 1u);
  EXPECT_TRUE(s1[0].options.has_mss);
  EXPECT_EQ(s1[0].options.mss, 1460);
  EXPECT_FALSE(s1[0].options.has_wscale);  // peer did not offer it
  EXPECT_EQ(s1[0].window, 16384);
  // The peer resends its SYN (our SYN-ACK was lost): the same SYN-ACK comes again at once.
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn, .options = MssOpt(1000)});
  auto s2 = b.out.Take();
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_TRUE(s2[0].Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(s2[0].seq, s1[0].seq);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
}

TEST(TcpStateTest, ActiveOpen) {
  Bench b;
  Open o = OpenActive(b, MssOpt(1000));
  auto info = b.engine->Info(o.id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->state, TcpState::kEstablished);
  EXPECT_EQ(info->snd_mss, 1000);
  EXPECT_EQ(info->snd_wnd, 65535u);
  EXPECT_EQ(b.engine->counters().active_opens, 1u);
}

TEST(TcpStateTest, ActiveOpenRefusedByRst) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  // RST without ACK, and RST with an unacceptable ACK: ignored (RFC 9293 3.10.7.3).
  b.Inject({.src_port = 80, .dst_port = 5555, .seq = 0, .flags = kTcpRst});
  b.Inject(
      {.src_port = 80, .dst_port = 5555, .seq = 0, .ack = iss + 7, .flags = kTcpRst | kTcpAck});
  EXPECT_EQ(b.State(*id), TcpState::kSynSent);
  EXPECT_TRUE(b.out.Take().empty());
  b.Inject(
      {.src_port = 80, .dst_port = 5555, .seq = 0, .ack = iss + 1, .flags = kTcpRst | kTcpAck});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].error, TcpError::kConnectionRefused);
  EXPECT_EQ(b.State(*id), TcpState::kClosed);
  EXPECT_EQ(b.engine->Close(*id, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, SynSentAnswersBadAckWithRst) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  b.Inject({.src_port = 80, .dst_port = 5555, .seq = 77, .ack = iss + 100, .flags = kTcpAck});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(segs[0].seq, iss + 100);
  EXPECT_EQ(b.State(*id), TcpState::kSynSent);
}

TEST(TcpStateTest, SimultaneousOpen) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  // The peer's SYN crosses ours.
  b.Inject(
      {.src_port = 80, .dst_port = 5555, .seq = kPeerIss, .flags = kTcpSyn, .options = MssOpt()});
  EXPECT_EQ(b.State(*id), TcpState::kSynReceived);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(segs[0].seq, iss);
  EXPECT_EQ(segs[0].ack, kPeerIss + 1);
  // The peer's SYN-ACK (its SYN again, now acknowledging ours).
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss,
            .ack = iss + 1,
            .flags = kTcpSyn | kTcpAck,
            .options = MssOpt()});
  EXPECT_EQ(b.State(*id), TcpState::kEstablished);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kConnected);
}

TEST(TcpStateTest, InOrderDataBothWays) {
  Bench b;
  Open o = OpenPassive(b);
  const auto data = Bytes(1000);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck | kTcpPsh, .payload = data});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 1000);
  EXPECT_EQ(segs[0].window, 16384 - 1000);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReadable);
  std::vector<uint8_t> got(4000);
  TcpIoResult r = b.engine->Read(o.id, absl::MakeSpan(got), b.now);
  EXPECT_EQ(r.error, TcpError::kOk);
  ASSERT_EQ(r.bytes, 1000u);
  got.resize(r.bytes);
  EXPECT_EQ(got, data);
  EXPECT_EQ(b.engine->Read(o.id, absl::MakeSpan(got), b.now).error, TcpError::kWouldBlock);

  const auto reply = Bytes(3000, 9);
  TcpIoResult s = b.engine->Send(o.id, reply, b.now);
  EXPECT_EQ(s.bytes, 3000u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 3u);  // 1460 + 1460 + 80
  std::vector<uint8_t> sent;
  for (const auto& sg : segs) {
    EXPECT_EQ(sg.seq, o.our_nxt + sent.size());
    sent.insert(sent.end(), sg.payload.begin(), sg.payload.end());
  }
  EXPECT_EQ(sent, reply);
  EXPECT_TRUE(segs[2].Has(kTcpPsh));
  EXPECT_EQ(b.engine->Info(o.id)->send_queued, 3000u);
  b.Inject({.seq = o.peer_nxt + 1000, .ack = o.our_nxt + 3000, .flags = kTcpAck});
  EXPECT_EQ(b.engine->Info(o.id)->send_queued, 0u);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);  // nothing outstanding
}

TEST(TcpStateTest, OutOfOrderSegmentsAreReassembled) {
  Bench b;
  Open o = OpenPassive(b);
  const auto data = Bytes(3000);
  auto piece = [&](size_t off, size_t len) {
    return std::vector<uint8_t>(data.begin() + off, data.begin() + off + len);
  };
  // Segments 3 and 2 first (with an overlap), then 1.
  b.Inject(
      {.seq = o.peer_nxt + 2000, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(2000, 1000)});
  b.Inject(
      {.seq = o.peer_nxt + 900, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(900, 1200)});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);  // immediate duplicate ACKs
  for (const auto& s : segs) EXPECT_EQ(s.ack, o.peer_nxt);
  EXPECT_TRUE(b.Events().empty());
  EXPECT_EQ(b.engine->Info(o.id)->ooo_ranges, 1u);  // merged
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(0, 1000)});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 3000);
  std::vector<uint8_t> got(5000);
  TcpIoResult r = b.engine->Read(o.id, absl::MakeSpan(got), b.now);
  got.resize(r.bytes);
  EXPECT_EQ(got, data);
  EXPECT_EQ(b.engine->counters().rx_ooo_segments, 2u);
}

TEST(TcpStateTest, ReassemblyRangesAreBounded) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_ooo_ranges = 2;
  Bench b(cfg);
  Open o = OpenPassive(b);
  for (uint32_t k = 1; k <= 3; ++k) {
    b.Inject(
        {.seq = o.peer_nxt + k * 200, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  }
  EXPECT_EQ(b.engine->Info(o.id)->ooo_ranges, 2u);
  EXPECT_EQ(b.engine->counters().rx_ooo_dropped, 1u);
  // Filling the first holes delivers what was kept, up to the dropped range.
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(200)});
  b.Inject({.seq = o.peer_nxt + 300, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_EQ(b.engine->Info(o.id)->rcv_nxt, o.peer_nxt + 500);
}

TEST(TcpStateTest, UnacceptableSegmentsGetAnAckAndAreDropped) {
  Bench b;
  Open o = OpenPassive(b);
  // Entirely old data (a retransmission of what we have).
  b.Inject({.seq = o.peer_nxt - 1, .ack = o.our_nxt, .flags = kTcpAck, .payload = {}});
  // Beyond the window.
  b.Inject({.seq = o.peer_nxt + 20000, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(10)});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  for (const auto& s : segs) {
    EXPECT_EQ(s.flags, kTcpAck);
    EXPECT_EQ(s.ack, o.peer_nxt);
  }
  EXPECT_EQ(b.engine->counters().rx_out_of_window, 2u);
  EXPECT_TRUE(b.Events().empty());
  // A segment straddling the left edge delivers only its new part.
  auto data = Bytes(100);
  b.Inject({.seq = o.peer_nxt - 50, .ack = o.our_nxt, .flags = kTcpAck, .payload = data});
  TcpReadView v = b.engine->Peek(o.id);
  ASSERT_EQ(v.size(), 50u);
  EXPECT_TRUE(std::equal(v.first.begin(), v.first.end(), data.begin() + 50));
}

TEST(TcpStateTest, PassiveCloseThroughCloseWaitAndLastAck) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck | kTcpFin});
  EXPECT_EQ(b.State(o.id), TcpState::kCloseWait);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 1);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kPeerClosed);
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(b.engine->Read(o.id, absl::MakeSpan(buf), b.now).error, TcpError::kEof);
  // We may still send in CLOSE_WAIT.
  EXPECT_EQ(b.engine->Send(o.id, Bytes(10), b.now).bytes, 10u);
  EXPECT_EQ(b.out.Take().size(), 1u);
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin | kTcpAck));
  EXPECT_EQ(segs[0].seq, o.our_nxt + 10);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  // The handle is released: calls on it fail.
  EXPECT_EQ(b.engine->Send(o.id, Bytes(1), b.now).error, TcpError::kInvalidConn);
  b.Inject({.seq = o.peer_nxt + 1, .ack = o.our_nxt + 11, .flags = kTcpAck});
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_FALSE(b.engine->Info(o.id).has_value());
}

TEST(TcpStateTest, ActiveCloseThroughFinWaitAndTimeWait) {
  Bench b;
  Open o = OpenPassive(b);
  EXPECT_EQ(b.engine->Shutdown(o.id, b.now), TcpError::kOk);
  EXPECT_EQ(b.State(o.id), TcpState::kFinWait1);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin));
  EXPECT_EQ(b.engine->Send(o.id, Bytes(1), b.now).error, TcpError::kBadState);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 1, .flags = kTcpAck});
  EXPECT_EQ(b.State(o.id), TcpState::kFinWait2);
  // Data still flows towards us in FIN_WAIT_2.
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 1, .flags = kTcpAck, .payload = Bytes(5)});
  EXPECT_EQ(b.engine->Peek(o.id).size(), 5u);
  b.Inject({.seq = o.peer_nxt + 5, .ack = o.our_nxt + 1, .flags = kTcpAck | kTcpFin});
  EXPECT_EQ(b.State(o.id), TcpState::kTimeWait);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs.back().ack, o.peer_nxt + 6);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReadable);
  EXPECT_EQ(ev[1].type, TcpEventType::kPeerClosed);
  EXPECT_EQ(ev[2].type, TcpEventType::kClosed);
  ASSERT_EQ(b.engine->Consume(o.id, 5, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);  // TIME_WAIT lingers
  // A retransmitted FIN is acknowledged and restarts the 2*MSL timer.
  b.AdvanceBy(1 * kSec);
  b.Inject({.seq = o.peer_nxt + 5, .ack = o.our_nxt + 1, .flags = kTcpAck | kTcpFin});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 6);
  b.AdvanceBy(1500 * kMs);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  b.AdvanceBy(600 * kMs);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  // Afterwards the tuple is unknown: a segment gets a RST.
  b.Inject({.seq = o.peer_nxt + 6, .ack = o.our_nxt + 1, .flags = kTcpAck});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
}

TEST(TcpStateTest, FinAndAckTogetherGoStraightToTimeWait) {
  Bench b;
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  b.out.Take();
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 1, .flags = kTcpAck | kTcpFin});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 1);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  b.AdvanceBy(2 * kSec);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, SimultaneousCloseGoesThroughClosing) {
  Bench b;
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Shutdown(o.id, b.now), TcpError::kOk);
  b.out.Take();
  // The peer's FIN does not acknowledge ours: CLOSING.
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck | kTcpFin});
  EXPECT_EQ(b.State(o.id), TcpState::kClosing);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 1);
  b.Inject({.seq = o.peer_nxt + 1, .ack = o.our_nxt + 1, .flags = kTcpAck});
  EXPECT_EQ(b.State(o.id), TcpState::kTimeWait);
  b.AdvanceBy(2 * kSec);
  EXPECT_EQ(b.State(o.id), TcpState::kClosed);
  auto ev = b.Events();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev.back().type, TcpEventType::kClosed);
}

TEST(TcpStateTest, OrphanedFinWait2TimesOut) {
  Bench b;
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 1, .flags = kTcpAck});
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  b.AdvanceBy(5 * kSec);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, ExactRstResetsConnection) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .flags = kTcpRst});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].error, TcpError::kConnectionReset);
  EXPECT_EQ(b.engine->Send(o.id, Bytes(1), b.now).error, TcpError::kConnectionReset);
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, InWindowRstGetsChallengeAckOutOfWindowRstIsIgnored) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt + 100, .flags = kTcpRst});
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpAck);
  EXPECT_EQ(segs[0].seq, o.our_nxt);
  EXPECT_EQ(segs[0].ack, o.peer_nxt);
  EXPECT_EQ(b.engine->counters().challenge_acks, 1u);
  b.Inject({.seq = o.peer_nxt + 100000, .flags = kTcpRst});
  b.Inject({.seq = o.peer_nxt - 1, .flags = kTcpRst});
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  // The genuine peer, told by the challenge ACK, resets with the exact sequence number.
  b.Inject({.seq = segs[0].ack, .flags = kTcpRst});
  EXPECT_EQ(b.State(o.id), TcpState::kClosed);
}

TEST(TcpStateTest, SynInSynchronizedStateGetsChallengeAck) {
  Bench b;
  Open o = OpenPassive(b);
  for (uint32_t seq : {o.peer_nxt, o.peer_nxt + 5000, 12345u}) {
    b.Inject({.seq = seq, .flags = kTcpSyn, .options = MssOpt()});
    auto segs = b.out.Take();
    ASSERT_EQ(segs.size(), 1u) << seq;
    EXPECT_EQ(segs[0].flags, kTcpAck);
    EXPECT_EQ(segs[0].ack, o.peer_nxt);
  }
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  EXPECT_GE(b.engine->counters().rx_syn_in_window, 2u);
}

TEST(TcpStateTest, ChallengeAcksAreRateLimited) {
  TcpConfig cfg = SimpleConfig();
  cfg.challenge_acks_per_second = 3;
  Bench b(cfg);
  Open o = OpenPassive(b);
  for (int i = 0; i < 10; ++i) b.Inject({.seq = o.peer_nxt + 10 + i, .flags = kTcpRst});
  EXPECT_EQ(b.out.Take().size(), 3u);
  EXPECT_EQ(b.engine->counters().challenge_acks, 3u);
  EXPECT_EQ(b.engine->counters().challenge_acks_suppressed, 7u);
  b.AdvanceBy(1 * kSec);
  b.Inject({.seq = o.peer_nxt + 10, .flags = kTcpRst});
  EXPECT_EQ(b.out.Take().size(), 1u);
}

TEST(TcpStateTest, AckOfUnsentDataIsChallengedAndDropped) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 500, .flags = kTcpAck, .payload = Bytes(10)});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, o.peer_nxt);  // the data was not taken
  EXPECT_EQ(b.engine->Peek(o.id).size(), 0u);
  EXPECT_EQ(b.engine->counters().rx_ack_too_new, 1u);
  // Far too old an ACK (RFC 5961 5.2) is dropped the same way.
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt - 200000, .flags = kTcpAck, .payload = Bytes(10)});
  EXPECT_EQ(b.engine->counters().rx_ack_too_old, 1u);
  EXPECT_EQ(b.engine->Peek(o.id).size(), 0u);
}

TEST(TcpStateTest, SegmentsWithoutConnectionGetRst) {
  Bench b;
  // SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  b.Inject({.dst_port = 81, .seq = 500, .flags = kTcpSyn});
  // ACK with data: <SEQ=SEG.ACK><CTL=RST>.
  b.Inject({.dst_port = 81, .seq = 500, .ack = 9000, .flags = kTcpAck, .payload = Bytes(3)});
  // FIN without ACK.
  b.Inject({.dst_port = 81, .seq = 700, .flags = kTcpFin});
  // RST: never answered.
  b.Inject({.dst_port = 81, .seq = 500, .flags = kTcpRst});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(segs[0].seq, 0u);
  EXPECT_EQ(segs[0].ack, 501u);
  EXPECT_EQ(segs[0].src_port, 81);
  EXPECT_EQ(segs[0].dst_port, 40000);
  EXPECT_EQ(segs[1].flags, kTcpRst);
  EXPECT_EQ(segs[1].seq, 9000u);
  EXPECT_EQ(segs[2].ack, 701u);
  EXPECT_EQ(b.engine->counters().rx_no_connection, 4u);
  EXPECT_EQ(b.engine->counters().tx_rst, 3u);
}

TEST(TcpStateTest, ListenerAnswersStrayAckWithRstAndIgnoresRst) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = 5, .ack = 777, .flags = kTcpAck});
  b.Inject({.seq = 5, .flags = kTcpRst});
  b.Inject({.seq = 5, .flags = kTcpFin});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(segs[0].seq, 777u);
  EXPECT_EQ(b.engine->counters().rx_listen_dropped, 1u);
}

TEST(TcpStateTest, RstInSynReceivedDropsHalfOpenConnection) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn});
  ASSERT_EQ(b.out.Take().size(), 1u);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  b.Inject({.seq = kPeerIss + 1, .flags = kTcpRst});
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_TRUE(b.Events().empty());
}

TEST(TcpStateTest, BadAckInSynReceivedGetsRst) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn});
  const uint32_t iss = b.out.Take().at(0).seq;
  b.Inject({.seq = kPeerIss + 1, .ack = iss + 50, .flags = kTcpAck});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(segs[0].seq, iss + 50);
}

TEST(TcpStateTest, BacklogLimitDropsSynsWithoutCookies) {
  TcpConfig cfg = SimpleConfig();
  cfg.syn_cookies = false;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Listen(80, 2).ok());
  for (uint16_t p = 0; p < 3; ++p)
    b.Inject({.src_port = uint16_t(41000 + p), .seq = 1, .flags = kTcpSyn});
  EXPECT_EQ(b.out.Take().size(), 2u);
  EXPECT_EQ(b.engine->counters().backlog_drops, 1u);
  EXPECT_EQ(b.engine->connections_in_use(), 2u);
}

TEST(TcpStateTest, SynCookiesWhenBacklogIsFull) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 1).ok());
  b.Inject({.src_port = 41000, .seq = 1, .flags = kTcpSyn, .options = MssOpt()});
  ASSERT_EQ(b.out.Take().size(), 1u);
  ASSERT_EQ(b.engine->connections_in_use(), 1u);
  // Backlog full: the next SYN is answered statelessly.
  b.Inject({.src_port = 41001, .seq = 5000, .flags = kTcpSyn, .options = MssOpt(1400)});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(segs[0].ack, 5001u);
  EXPECT_EQ(segs[0].options.mss, 1400);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  EXPECT_EQ(b.engine->counters().syn_cookies_sent, 1u);
  const uint32_t cookie = segs[0].seq;
  // A forged ACK (wrong cookie) is refused with a RST.
  b.Inject({.src_port = 41001, .seq = 5001, .ack = cookie + 2, .flags = kTcpAck});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(b.engine->counters().syn_cookies_rejected, 1u);
  // The genuine ACK, carrying data, creates the connection.
  b.AdvanceBy(100 * kMs);
  const auto data = Bytes(100);
  b.Inject({.src_port = 41001,
            .seq = 5001,
            .ack = cookie + 1,
            .flags = kTcpAck | kTcpPsh,
            .payload = data});
  EXPECT_EQ(b.engine->counters().syn_cookies_accepted, 1u);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
  EXPECT_EQ(ev[1].type, TcpEventType::kReadable);
  auto info = b.engine->Info(ev[0].conn);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->state, TcpState::kEstablished);
  EXPECT_EQ(info->snd_mss, 1400);
  EXPECT_EQ(info->rcv_nxt, 5101u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].ack, 5101u);
  EXPECT_EQ(segs[0].seq, cookie + 1);
  // And it works both ways.
  EXPECT_EQ(b.engine->Send(ev[0].conn, Bytes(10), b.now).bytes, 10u);
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq, cookie + 1);
}

TEST(TcpStateTest, SynCookieRestoresWindowScaleFromTimestamp) {
  TcpConfig cfg = SimpleConfig();
  cfg.timestamps = true;
  cfg.window_scaling = true;
  cfg.recv_buffer_bytes = 1 << 20;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Listen(80, 1).ok());
  TcpOptions o = MssOpt();
  o.has_wscale = true;
  o.wscale = 9;
  o.has_timestamps = true;
  o.ts_val = 100;
  b.Inject({.src_port = 41000, .seq = 1, .flags = kTcpSyn, .options = o});
  b.Inject({.src_port = 41001, .seq = 1, .flags = kTcpSyn, .options = o});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  const CapturedSeg& c = segs[1];
  ASSERT_TRUE(c.options.has_timestamps);
  ASSERT_TRUE(c.options.has_wscale);
  EXPECT_EQ(c.options.wscale, 5);  // 1 MiB buffer: 2^20 >> 5 < 65536
  TcpOptions ack_opts;
  ack_opts.has_timestamps = true;
  ack_opts.ts_val = 101;
  ack_opts.ts_ecr = c.options.ts_val;
  b.Inject({.src_port = 41001,
            .seq = 2,
            .ack = c.seq + 1,
            .flags = kTcpAck,
            .window = 10,
            .options = ack_opts});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  auto info = b.engine->Info(ev[0].conn);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->snd_wscale, 9);
  EXPECT_EQ(info->rcv_wscale, 5);
  EXPECT_EQ(info->snd_wnd, 10u << 9);
  EXPECT_TRUE(info->timestamps);
  EXPECT_EQ(info->snd_mss, 1460 - 12);
}

TEST(TcpStateTest, CookieAckIsRefusedWhenNoCookiesWereSent) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = 1, .ack = 12345, .flags = kTcpAck});
  EXPECT_EQ(b.out.Take().at(0).flags, kTcpRst);
  EXPECT_EQ(b.engine->counters().syn_cookies_accepted, 0u);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, NewSynReopensTimeWait) {
  Bench b;
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 1, .flags = kTcpAck | kTcpFin});
  ASSERT_EQ(b.engine->connections_in_use(), 1u);
  b.out.Take();
  // An old SYN (not beyond rcv_nxt) is answered with an ACK; a newer one opens a new connection.
  b.Inject({.seq = o.peer_nxt - 10, .flags = kTcpSyn});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpAck);
  b.Inject({.seq = o.peer_nxt + 100000, .flags = kTcpSyn});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(segs[0].ack, o.peer_nxt + 100001);
  EXPECT_EQ(b.engine->counters().time_wait_reused, 1u);
}

TEST(TcpStateTest, CloseWithUnreadDataSendsRst) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(10)});
  b.out.Take();
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpRst));
  EXPECT_EQ(segs[0].seq, o.our_nxt);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpStateTest, AbortSendsRstAndStaleHandlesAreRejected) {
  Bench b;
  Open o = OpenPassive(b);
  EXPECT_EQ(b.engine->Abort(o.id, b.now), TcpError::kOk);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpRst));
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_EQ(b.engine->Abort(o.id, b.now), TcpError::kInvalidConn);
  // The slot is reused by the next connection; the old handle must not reach it.
  Open o2 = OpenPassive(b, 40001);
  EXPECT_EQ(o2.id & 0xffffff, o.id & 0xffffff);
  EXPECT_NE(o2.id, o.id);
  EXPECT_EQ(b.engine->Send(o.id, Bytes(1), b.now).error, TcpError::kInvalidConn);
  EXPECT_EQ(b.engine->Close(o.id, b.now), TcpError::kInvalidConn);
  EXPECT_EQ(b.State(o2.id), TcpState::kEstablished);
  EXPECT_EQ(b.engine->Send(kInvalidConnId, Bytes(1), b.now).error, TcpError::kInvalidConn);
  EXPECT_EQ(b.engine->Consume(o2.id, 1, b.now), TcpError::kBadState);  // nothing to consume
}

TEST(TcpStateTest, MalformedSegmentsAreCountedAndIgnored) {
  Bench b;
  Open o = OpenPassive(b);
  auto wire =
      BuildWire({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(8)});
  wire[25] ^= 1;
  b.InjectRaw(wire);
  b.InjectRaw(absl::MakeConstSpan(wire).first(10));
  EXPECT_EQ(b.engine->counters().rx_bad_checksum, 1u);
  EXPECT_EQ(b.engine->counters().rx_too_short, 1u);
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.engine->Peek(o.id).size(), 0u);
}

TEST(TcpStateTest, ListenAndConnectErrors) {
  Bench b;
  EXPECT_TRUE(b.engine->Listen(80, 1).ok());
  EXPECT_FALSE(b.engine->Listen(80, 1).ok());
  EXPECT_FALSE(b.engine->Listen(0, 1).ok());
  EXPECT_FALSE(b.engine->Connect(kIpA, kIpB, 0, b.now).ok());
  auto c1 = b.engine->Connect(kIpA, kIpB, 80, b.now, 6000);
  ASSERT_TRUE(c1.ok());
  EXPECT_FALSE(b.engine->Connect(kIpA, kIpB, 80, b.now, 6000).ok());  // same 4-tuple
  // Ephemeral ports: distinct, in range.
  auto e1 = b.engine->Connect(kIpA, kIpB, 80, b.now);
  auto e2 = b.engine->Connect(kIpA, kIpB, 80, b.now);
  ASSERT_TRUE(e1.ok() && e2.ok());
  auto p1 = b.engine->Info(*e1)->tuple.local_port;
  auto p2 = b.engine->Info(*e2)->tuple.local_port;
  EXPECT_NE(p1, p2);
  EXPECT_GE(p1, 49152);
  EXPECT_GE(p2, 49152);
  EXPECT_TRUE(b.engine->Unlisten(80, b.now).ok());
  EXPECT_FALSE(b.engine->Unlisten(80, b.now).ok());
}

TEST(TcpStateTest, ConnectionTableFull) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_connections = 2;
  cfg.syn_cookies = false;
  Bench b(cfg);
  ASSERT_TRUE(b.engine->Connect(kIpA, kIpB, 80, b.now).ok());
  ASSERT_TRUE(b.engine->Connect(kIpA, kIpB, 80, b.now).ok());
  EXPECT_FALSE(b.engine->Connect(kIpA, kIpB, 80, b.now).ok());
  ASSERT_TRUE(b.engine->Listen(90, 8).ok());
  b.out.Take();
  b.Inject({.dst_port = 90, .seq = 1, .flags = kTcpSyn});
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.engine->counters().table_full_drops, 2u);
}

}  // namespace
}  // namespace ix::net::tcp::testing

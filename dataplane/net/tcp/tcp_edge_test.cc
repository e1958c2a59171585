// Edge cases with hand-written segments: sequence wraparound, out-of-order FIN, closing during
// the handshake, FIN retransmission, data on the handshake ACK, event polling, Unlisten, SYN
// cookies with a full connection table.
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

TEST(TcpEdgeTest, SequenceNumbersWrapAround) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  const uint32_t peer_iss = 0xfffffc00u;  // the peer's data crosses 2^32
  b.Inject({.seq = peer_iss, .flags = kTcpSyn, .options = MssOpt()});
  const uint32_t iss = b.out.Take().at(0).seq;
  b.Inject({.seq = peer_iss + 1, .ack = iss + 1, .flags = kTcpAck});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  const ConnId id = ev[0].conn;
  const auto data = Bytes(3000);
  // Out of order across the wrap, then the first piece.
  b.Inject({.seq = peer_iss + 1 + 1500,
            .ack = iss + 1,
            .flags = kTcpAck,
            .payload = std::vector<uint8_t>(data.begin() + 1500, data.end())});
  b.Inject({.seq = peer_iss + 1,
            .ack = iss + 1,
            .flags = kTcpAck,
            .payload = std::vector<uint8_t>(data.begin(), data.begin() + 1500)});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[1].ack, peer_iss + 1 + 3000);  // == 0x000007b9
  std::vector<uint8_t> got(4000);
  got.resize(b.engine->Read(id, absl::MakeSpan(got), b.now).bytes);
  EXPECT_EQ(got, data);
}

TEST(TcpEdgeTest, FinBeforeMissingDataWaitsForIt) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt + 100,
            .ack = o.our_nxt,
            .flags = kTcpAck | kTcpFin,
            .payload = Bytes(50, 1)});
  EXPECT_EQ(b.State(o.id), TcpState::kEstablished);
  EXPECT_TRUE(b.Events().empty());
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = Bytes(100)});
  EXPECT_EQ(b.State(o.id), TcpState::kCloseWait);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[1].ack, o.peer_nxt + 151);
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReadable);
  EXPECT_EQ(ev[1].type, TcpEventType::kPeerClosed);
  EXPECT_EQ(b.engine->Peek(o.id).size(), 150u);
}

TEST(TcpEdgeTest, CloseDuringConnectDeletesQuietly) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  b.out.Take();
  EXPECT_EQ(b.engine->Close(*id, b.now), TcpError::kOk);
  EXPECT_TRUE(b.out.Take().empty());
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline);
}

TEST(TcpEdgeTest, ShutdownDuringConnectSendsDataAndFinAfterHandshake) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  ASSERT_EQ(b.engine->Send(*id, Bytes(10), b.now).bytes, 10u);
  ASSERT_EQ(b.engine->Shutdown(*id, b.now), TcpError::kOk);
  EXPECT_TRUE(b.out.Take().empty());  // nothing before the handshake
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss,
            .ack = iss + 1,
            .flags = kTcpSyn | kTcpAck,
            .options = MssOpt()});
  EXPECT_EQ(b.State(*id), TcpState::kFinWait1);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin | kTcpAck));
  EXPECT_EQ(segs[0].payload, Bytes(10));
  EXPECT_EQ(segs[0].seq, iss + 1);
}

TEST(TcpEdgeTest, CloseDuringSimultaneousOpenFinishesWithoutTheApp) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  const uint32_t iss = b.out.Take().at(0).seq;
  b.Inject({.src_port = 80, .dst_port = 5555, .seq = kPeerIss, .flags = kTcpSyn});
  ASSERT_EQ(b.State(*id), TcpState::kSynReceived);
  b.out.Take();
  EXPECT_EQ(b.engine->Close(*id, b.now), TcpError::kOk);
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss,
            .ack = iss + 1,
            .flags = kTcpSyn | kTcpAck});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin | kTcpAck));
  EXPECT_TRUE(b.Events().empty());  // the handle was released: no kConnected
  EXPECT_EQ(b.engine->Send(*id, Bytes(1), b.now).error, TcpError::kInvalidConn);
  b.Inject({.src_port = 80,
            .dst_port = 5555,
            .seq = kPeerIss + 1,
            .ack = iss + 2,
            .flags = kTcpAck | kTcpFin});
  EXPECT_EQ(b.engine->connections_in_use(), 1u);  // TIME_WAIT
  b.AdvanceBy(2 * kSec);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpEdgeTest, LostFinIsRetransmitted) {
  Bench b;
  Open o = OpenPassive(b);
  ASSERT_EQ(b.engine->Send(o.id, Bytes(100), b.now).bytes, 100u);
  ASSERT_EQ(b.engine->Shutdown(o.id, b.now), TcpError::kOk);
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 2u);  // data, then the FIN (all data was queued before it)
  EXPECT_TRUE(segs[1].Has(kTcpFin));
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 100, .flags = kTcpAck});  // FIN lost
  EXPECT_EQ(b.State(o.id), TcpState::kFinWait1);
  ASSERT_TRUE(b.AdvanceToDeadline());
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin));
  EXPECT_EQ(segs[0].seq, o.our_nxt + 100);
  EXPECT_TRUE(segs[0].payload.empty());
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt + 101, .flags = kTcpAck});
  EXPECT_EQ(b.State(o.id), TcpState::kFinWait2);
}

TEST(TcpEdgeTest, LastAckRetransmitsFinAndClosesOnItsAck) {
  Bench b;
  Open o = OpenPassive(b);
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck | kTcpFin});
  ASSERT_EQ(b.engine->Close(o.id, b.now), TcpError::kOk);
  b.out.Take();
  ASSERT_TRUE(b.AdvanceToDeadline());
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpFin));
  b.Inject({.seq = o.peer_nxt + 1, .ack = o.our_nxt + 1, .flags = kTcpAck});
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
}

TEST(TcpEdgeTest, DataOnTheHandshakeAckIsDelivered) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn, .options = MssOpt()});
  const uint32_t iss = b.out.Take().at(0).seq;
  b.Inject({.seq = kPeerIss + 1,
            .ack = iss + 1,
            .flags = kTcpAck | kTcpPsh | kTcpFin,
            .payload = Bytes(20)});
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
  EXPECT_EQ(ev[1].type, TcpEventType::kReadable);
  EXPECT_EQ(ev[2].type, TcpEventType::kPeerClosed);
  EXPECT_EQ(b.State(ev[0].conn), TcpState::kCloseWait);
  EXPECT_EQ(b.engine->Peek(ev[0].conn).size(), 20u);
}

TEST(TcpEdgeTest, EventsArePolledInOrderThroughASmallSpan) {
  Bench b;
  Open a = OpenPassive(b, 40000);
  Open c = OpenPassive(b, 40001);
  b.Inject({.src_port = 40000,
            .seq = a.peer_nxt,
            .ack = a.our_nxt,
            .flags = kTcpAck | kTcpFin,
            .payload = Bytes(5)});
  b.Inject({.src_port = 40001, .seq = c.peer_nxt, .flags = kTcpRst});
  // Repeated data on the first connection does not add a second event.
  b.Inject({.src_port = 40000,
            .seq = a.peer_nxt,
            .ack = a.our_nxt,
            .flags = kTcpAck,
            .payload = Bytes(5)});
  std::vector<TcpEvent> got;
  TcpEvent one[1];
  while (b.engine->PollEvents(absl::MakeSpan(one)) == 1) got.push_back(one[0]);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].conn, a.id);
  EXPECT_EQ(got[0].type, TcpEventType::kReadable);
  EXPECT_EQ(got[1].conn, a.id);
  EXPECT_EQ(got[1].type, TcpEventType::kPeerClosed);
  EXPECT_EQ(got[2].conn, c.id);
  EXPECT_EQ(got[2].type, TcpEventType::kReset);
  // A released handle's pending events are dropped.
  b.Inject({.src_port = 40000, .seq = a.peer_nxt, .ack = a.our_nxt, .flags = kTcpAck});
  ASSERT_EQ(b.engine->Consume(a.id, 5, b.now), TcpError::kOk);
  EXPECT_EQ(b.engine->Close(c.id, b.now), TcpError::kOk);
  EXPECT_TRUE(b.Events().empty());
}

TEST(TcpEdgeTest, UnlistenResetsHalfOpenConnections) {
  Bench b;
  ASSERT_TRUE(b.engine->Listen(80, 4).ok());
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn});
  const uint32_t iss = b.out.Take().at(0).seq;
  ASSERT_TRUE(b.engine->Unlisten(80, b.now).ok());
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].Has(kTcpRst));
  EXPECT_EQ(segs[0].seq, iss + 1);
  EXPECT_EQ(b.engine->connections_in_use(), 0u);
  // The port is closed now.
  b.Inject({.seq = kPeerIss, .flags = kTcpSyn});
  EXPECT_EQ(b.out.Take().at(0).flags, kTcpRst | kTcpAck);
}

TEST(TcpEdgeTest, DuplicateAndOverlappingDataIsDeliveredOnce) {
  Bench b;
  Open o = OpenPassive(b);
  const auto data = Bytes(300);
  auto piece = [&](size_t off, size_t len) {
    return std::vector<uint8_t>(data.begin() + off, data.begin() + off + len);
  };
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(0, 100)});
  b.Inject({.seq = o.peer_nxt, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(0, 100)});
  b.Inject({.seq = o.peer_nxt + 50, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(50, 150)});
  b.Inject(
      {.seq = o.peer_nxt + 250, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(250, 50)});
  b.Inject(
      {.seq = o.peer_nxt + 220, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(220, 50)});
  b.Inject(
      {.seq = o.peer_nxt + 150, .ack = o.our_nxt, .flags = kTcpAck, .payload = piece(150, 100)});
  std::vector<uint8_t> got(1000);
  got.resize(b.engine->Read(o.id, absl::MakeSpan(got), b.now).bytes);
  EXPECT_EQ(got, data);
}

// A table of one slot, held by an established connection; a second client (port 41000, ISN 5000)
// gets a cookie SYN-ACK. Returns the cookie (our ISN for that client).
uint32_t FillTableAndGetCookie(Bench& b, Open* held) {
  *held = OpenPassive(b);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  b.Inject({.src_port = 41000, .seq = 5000, .flags = kTcpSyn, .options = MssOpt()});
  auto segs = b.out.Take();
  EXPECT_EQ(segs.size(), 1u);
  if (segs.empty()) return 0;
  EXPECT_TRUE(segs[0].Has(kTcpSyn | kTcpAck));
  EXPECT_EQ(segs[0].ack, 5001u);
  EXPECT_EQ(b.engine->counters().syn_cookies_sent, 1u);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  return segs[0].seq;
}

TcpConfig OneSlotConfig() {
  TcpConfig cfg = SimpleConfig();
  cfg.max_connections = 1;
  return cfg;
}

TEST(TcpEdgeTest, CookieAckWithTableStillFullGetsRst) {
  Bench b(OneSlotConfig());
  Open held;
  const uint32_t cookie = FillTableAndGetCookie(b, &held);
  b.AdvanceBy(10 * kMs);
  // The client's connect() has succeeded; its ACK (and later data) must be refused visibly.
  b.Inject({.src_port = 41000, .seq = 5001, .ack = cookie + 1, .flags = kTcpAck});
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(segs[0].dst_port, 41000);
  EXPECT_EQ(segs[0].seq, cookie + 1);
  const TcpCounters& k = b.engine->counters();
  EXPECT_EQ(k.cookie_table_full_resets, 1u);
  EXPECT_EQ(k.syn_cookies_accepted, 0u);
  EXPECT_EQ(k.syn_cookies_rejected, 0u);
  EXPECT_EQ(b.engine->connections_in_use(), 1u);
  EXPECT_TRUE(b.Events().empty());  // no kAccepted
  b.Inject({.src_port = 41000,
            .seq = 5001,
            .ack = cookie + 1,
            .flags = kTcpAck | kTcpPsh,
            .payload = Bytes(20)});
  segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].flags, kTcpRst);
  EXPECT_EQ(k.cookie_table_full_resets, 2u);
  EXPECT_TRUE(b.Events().empty());
  EXPECT_EQ(b.State(held.id), TcpState::kEstablished);  // the holder is untouched
}

TEST(TcpEdgeTest, CookieAckAfterASlotFreesIsServed) {
  Bench b(OneSlotConfig());
  Open held;
  const uint32_t cookie = FillTableAndGetCookie(b, &held);
  ASSERT_EQ(b.engine->Abort(held.id, b.now), TcpError::kOk);
  b.out.Take();
  ASSERT_EQ(b.engine->connections_in_use(), 0u);
  b.AdvanceBy(10 * kMs);
  const auto request = Bytes(100, 7);
  b.Inject({.src_port = 41000,
            .seq = 5001,
            .ack = cookie + 1,
            .flags = kTcpAck | kTcpPsh,
            .payload = request});
  EXPECT_EQ(b.engine->counters().cookie_table_full_resets, 0u);
  EXPECT_EQ(b.engine->counters().syn_cookies_accepted, 1u);
  auto ev = b.Events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
  const ConnId id = ev[0].conn;
  EXPECT_EQ(b.State(id), TcpState::kEstablished);
  std::vector<uint8_t> got(1000);
  got.resize(b.engine->Read(id, absl::MakeSpan(got), b.now).bytes);
  EXPECT_EQ(got, request);
  // And the reply reaches the client.
  b.out.Take();
  const auto reply = Bytes(50, 9);
  ASSERT_EQ(b.engine->Send(id, reply, b.now).bytes, reply.size());
  auto segs = b.out.Take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].dst_port, 41000);
  EXPECT_EQ(segs[0].seq, cookie + 1);
  EXPECT_EQ(segs[0].ack, 5001u + request.size());
  EXPECT_EQ(segs[0].payload, reply);
}

TEST(TcpEdgeTest, SynWithRoomInTheTableGetsNoCookie) {
  TcpConfig cfg = SimpleConfig();
  cfg.max_connections = 2;
  Bench b(cfg);
  Open first = OpenPassive(b);
  Open second = OpenPassive(b, 41000);
  EXPECT_EQ(b.State(first.id), TcpState::kEstablished);
  EXPECT_EQ(b.State(second.id), TcpState::kEstablished);
  EXPECT_EQ(b.engine->connections_in_use(), 2u);
  const TcpCounters& k = b.engine->counters();
  EXPECT_EQ(k.syn_cookies_sent, 0u);
  EXPECT_EQ(k.cookie_table_full_resets, 0u);
  EXPECT_EQ(k.table_full_drops, 0u);
  EXPECT_EQ(k.tx_rst, 0u);
}

}  // namespace
}  // namespace ix::net::tcp::testing

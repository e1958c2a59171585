// Unit tests of TcpEngine::HandleIcmpError (tcp_icmp.cc): RFC 1191 MSS reduction, RFC 5927
// forgery checks, connects ended by unreachables, soft errors.
#include <vector>

#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_test_util.h"
#include "dataplane/net/wire.h"
#include "gtest/gtest.h"

namespace ix::net::tcp::testing {
namespace {

constexpr uint8_t kUnreach = 3;
constexpr uint8_t kTimeExceeded = 11;

// The 8 quoted bytes of a segment we sent: our port, the peer's port, our sequence number.
std::vector<uint8_t> Quote(uint16_t local_port, uint16_t remote_port, uint32_t seq) {
  std::vector<uint8_t> q(8);
  net::StoreBe16(q.data(), local_port);
  net::StoreBe16(q.data() + 2, remote_port);
  net::StoreBe32(q.data() + 4, seq);
  return q;
}

// An established connection (passive, peer port 40000, MSS 1460) with `n` bytes in flight.
struct Loaded {
  Bench b;
  Open o;
  explicit Loaded(size_t n = 8000) {
    o = OpenPassive(b);
    b.out.Take();
    const auto data = Bytes(n);
    EXPECT_EQ(b.engine->Send(o.id, data, b.now).bytes, n);
    b.out.Take();
  }
  void Icmp(uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu) {
    const auto q = Quote(80, 40000, seq);
    b.engine->HandleIcmpError(kIpA, kIpB, q.data(), type, code, mtu, b.now);
  }
};

TEST(TcpIcmp, FragNeededLowersMssAndResendsSmallerSegments) {
  Loaded l;
  ASSERT_EQ(l.b.engine->Info(l.o.id)->snd_mss, 1460);
  const uint32_t una = l.b.engine->Info(l.o.id)->snd_una;
  l.Icmp(una, kUnreach, 4, 1000);
  const auto info = l.b.engine->Info(l.o.id);
  EXPECT_EQ(info->snd_mss, 1000 - 40);
  EXPECT_EQ(info->state, TcpState::kEstablished);
  EXPECT_EQ(l.b.engine->counters().icmp_pmtu_reductions, 1u);
  auto segs = l.b.out.Take();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].seq, una) << "resent from SND.UNA at once";
  for (const auto& s : segs) EXPECT_LE(s.payload.size(), 960u);
  EXPECT_EQ(segs[0].payload.size(), 960u);
  // A larger MTU later never raises it again; below the floor, 552 is used.
  l.Icmp(una, kUnreach, 4, 1400);
  EXPECT_EQ(l.b.engine->Info(l.o.id)->snd_mss, 960);
  EXPECT_EQ(l.b.engine->counters().icmp_pmtu_ignored, 1u);
  l.Icmp(una, kUnreach, 4, 100);
  EXPECT_EQ(l.b.engine->Info(l.o.id)->snd_mss, 552 - 40);
  l.Icmp(una, kUnreach, 4, 0);  // pre-RFC 1191 router: ignored
  EXPECT_EQ(l.b.engine->Info(l.o.id)->snd_mss, 552 - 40);
  EXPECT_EQ(l.b.engine->counters().icmp_pmtu_ignored, 2u);
  // New data goes out in the new size too.
  l.b.out.Take();
  l.b.Inject({.seq = l.o.peer_nxt, .ack = l.o.our_nxt + 8000, .flags = kTcpAck});
  (void)l.b.engine->Send(l.o.id, Bytes(3000), l.b.now);
  segs = l.b.out.Take();
  ASSERT_FALSE(segs.empty());
  for (const auto& s : segs) EXPECT_LE(s.payload.size(), 512u);
}

TEST(TcpIcmp, FragNeededWithTimestampsDeductsTheOption) {
  TcpConfig cfg = SimpleConfig();
  cfg.timestamps = true;
  Bench b(cfg);
  TcpOptions opts = MssOpt();
  opts.has_timestamps = true;
  opts.ts_val = 5;
  Open o = OpenPassive(b, 40000, opts);
  ASSERT_EQ(b.engine->Info(o.id)->snd_mss, 1460 - 12);
  (void)b.engine->Send(o.id, Bytes(4000), b.now);
  const auto q = Quote(80, 40000, o.our_nxt + 100);
  b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kUnreach, 4, 1200, b.now);
  EXPECT_EQ(b.engine->Info(o.id)->snd_mss, 1200 - 40 - 12);
}

TEST(TcpIcmp, OutOfWindowSequenceIsIgnoredAndCounted) {
  Loaded l;
  const auto before = *l.b.engine->Info(l.o.id);
  const uint32_t una = before.snd_una;
  for (uint32_t seq : {una - 1, una - 100000, before.snd_max, before.snd_max + 5, una + 0x80000000u}) {
    l.Icmp(seq, kUnreach, 4, 576);
    l.Icmp(seq, kUnreach, 3, 0);
    l.Icmp(seq, kTimeExceeded, 0, 0);
  }
  const auto after = *l.b.engine->Info(l.o.id);
  EXPECT_EQ(after.snd_mss, 1460);
  EXPECT_EQ(after.state, TcpState::kEstablished);
  EXPECT_EQ(after.snd_nxt, before.snd_nxt);
  EXPECT_EQ(l.b.engine->counters().icmp_out_of_window, 15u);
  EXPECT_EQ(l.b.engine->counters().icmp_errors_rx, 15u);
  EXPECT_EQ(l.b.engine->counters().icmp_pmtu_reductions, 0u);
  EXPECT_TRUE(l.b.out.Take().empty());
  EXPECT_TRUE(l.b.Events().empty());
}

TEST(TcpIcmp, UnknownConnectionIsCounted) {
  Loaded l;
  const uint32_t una = l.b.engine->Info(l.o.id)->snd_una;
  auto q = Quote(80, 40001, una);  // other peer port
  l.b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kUnreach, 4, 576, l.b.now);
  q = Quote(80, 40000, una);
  l.b.engine->HandleIcmpError(kIpA, kIpB + 1, q.data(), kUnreach, 4, 576, l.b.now);
  EXPECT_EQ(l.b.engine->counters().icmp_no_connection, 2u);
  EXPECT_EQ(l.b.engine->Info(l.o.id)->snd_mss, 1460);
}

TEST(TcpIcmp, EstablishedConnectionSurvivesUnreachables) {
  Loaded l;
  const uint32_t una = l.b.engine->Info(l.o.id)->snd_una;
  for (uint8_t code : {0, 1, 2, 3, 9, 10, 13}) l.Icmp(una, kUnreach, code, 0);
  l.Icmp(una, kTimeExceeded, 0, 0);
  EXPECT_EQ(l.b.engine->Info(l.o.id)->state, TcpState::kEstablished);
  EXPECT_EQ(l.b.engine->counters().icmp_soft_errors, 8u);
  EXPECT_EQ(l.b.engine->counters().icmp_connect_aborts, 0u);
  EXPECT_TRUE(l.b.Events().empty());
}

// Each hard code ends a connect with its own error.
TEST(TcpIcmp, UnreachableEndsAConnectInSynSent) {
  const struct {
    uint8_t code;
    TcpError error;
  } cases[] = {{3, TcpError::kPortUnreachable}, {2, TcpError::kPortUnreachable},
               {0, TcpError::kNetUnreachable},  {1, TcpError::kHostUnreachable},
               {9, TcpError::kAdminProhibited}, {10, TcpError::kAdminProhibited},
               {13, TcpError::kAdminProhibited}};
  for (const auto& c : cases) {
    Bench b;
    auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
    ASSERT_TRUE(id.ok());
    auto syn = b.out.Take();
    ASSERT_EQ(syn.size(), 1u);
    // Wrong sequence first (a forger's guess): nothing happens.
    auto q = Quote(5555, 80, syn[0].seq + 1);
    b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kUnreach, c.code, 0, b.now);
    EXPECT_EQ(b.State(*id), TcpState::kSynSent);
    EXPECT_EQ(b.engine->counters().icmp_out_of_window, 1u);
    q = Quote(5555, 80, syn[0].seq);
    b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kUnreach, c.code, 0, b.now);
    auto ev = b.Events();
    ASSERT_EQ(ev.size(), 1u) << int{c.code};
    EXPECT_EQ(ev[0].type, TcpEventType::kReset);
    EXPECT_EQ(ev[0].error, c.error) << int{c.code} << " " << TcpErrorName(ev[0].error);
    EXPECT_EQ(b.State(*id), TcpState::kClosed);
    EXPECT_EQ(b.engine->counters().icmp_connect_aborts, 1u);
    EXPECT_EQ(b.engine->NextDeadline(), kNoDeadline) << "no SYN retransmission left";
    EXPECT_EQ(b.engine->Close(*id, b.now), TcpError::kOk);
    EXPECT_EQ(b.engine->connections_in_use(), 0u);
  }
}

TEST(TcpIcmp, TimeExceededInSynSentIsSoft) {
  Bench b;
  auto id = b.engine->Connect(kIpA, kIpB, 80, b.now, 5555);
  ASSERT_TRUE(id.ok());
  auto syn = b.out.Take();
  ASSERT_EQ(syn.size(), 1u);
  const auto q = Quote(5555, 80, syn[0].seq);
  b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kTimeExceeded, 0, 0, b.now);
  b.engine->HandleIcmpError(kIpA, kIpB, q.data(), kUnreach, 4, 576, b.now);  // no data yet
  EXPECT_EQ(b.State(*id), TcpState::kSynSent);
  EXPECT_EQ(b.engine->counters().icmp_soft_errors, 1u);
  EXPECT_EQ(b.engine->counters().icmp_pmtu_ignored, 1u);
  EXPECT_TRUE(b.Events().empty());
  // The connect times out later; the app learns why.
  while (b.State(*id) == TcpState::kSynSent && b.AdvanceToDeadline()) {
  }
  auto ev = b.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].error, TcpError::kHostUnreachable) << TcpErrorName(ev[0].error);
}

TEST(TcpIcmp, ErrorNamesAreWords) {
  EXPECT_STREQ(TcpErrorName(TcpError::kNetUnreachable), "net_unreachable");
  EXPECT_STREQ(TcpErrorName(TcpError::kHostUnreachable), "host_unreachable");
  EXPECT_STREQ(TcpErrorName(TcpError::kPortUnreachable), "port_unreachable");
  EXPECT_STREQ(TcpErrorName(TcpError::kAdminProhibited), "admin_prohibited");
}

}  // namespace
}  // namespace ix::net::tcp::testing

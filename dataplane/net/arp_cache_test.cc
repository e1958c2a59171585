// Unit tests for ArpCache: learning, answering, expiry, the pending queue (flush, bounds,
// retries, give-up) and flooding, all with deterministic time.
#include <cstring>
#include <vector>

#include "dataplane/net/arp.h"
#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::kIpA;
using testing::kIpB;
using testing::kMacA;
using testing::kMacB;

constexpr uint64_t kSec = 1'000'000'000;
constexpr Ipv4Address kIpC = 0x0a000003;
const MacAddress kMacC{{0x02, 0, 0, 0, 0, 0x0c}};

uint64_t Total(const NetCounters& c) {
  uint64_t total = 0;
  ForEachNetCounter(c, [&](absl::string_view, uint64_t v) { total += v; });
  return total;
}

class ArpCacheTest : public ::testing::Test {
 protected:
  ArpCacheConfig Config() {
    ArpCacheConfig c;
    c.our_mac = kMacA;
    c.our_ip = kIpA;
    c.capacity = 8;
    c.max_unresolved = 4;
    c.pending_frames = 6;
    c.max_pending_per_dest = 3;
    c.max_frame_len = 128;
    c.entry_timeout_ns = 60 * kSec;
    c.retry_interval_ns = 1 * kSec;
    c.max_requests = 3;
    return c;
  }
  ArpCache Make(const ArpCacheConfig& config) {
    auto cache = ArpCache::Create(config, &counters_);
    if (!cache.ok()) abort();
    return *std::move(cache);
  }
  // A frame for `dst_ip` with a zero destination MAC and a recognisable payload byte.
  static std::vector<uint8_t> Frame(uint8_t tag, size_t len = 60) {
    std::vector<uint8_t> f(len, tag);
    (void)BuildEthernetHeader(absl::MakeSpan(f), MacAddress{}, kMacA, kEtherTypeIpv4);
    return f;
  }
  // Feeds a request or reply from (mac, ip) about `target` into the cache.
  size_t Feed(ArpCache& cache, uint16_t op, const MacAddress& mac, Ipv4Address ip,
              Ipv4Address target, uint64_t now_ns) {
    const ArpPacket p{.op = op, .sender_mac = mac, .sender_ip = ip, .target_ip = target};
    return cache.Input(p, now_ns, absl::MakeSpan(reply_));
  }

  NetCounters counters_;
  std::vector<uint8_t> reply_ = std::vector<uint8_t>(kArpFrameLen);
};

TEST_F(ArpCacheTest, CreateRejectsBadConfig) {
  const auto bad = [&](auto change) {
    ArpCacheConfig c = Config();
    change(c);
    return !ArpCache::Create(c, &counters_).ok();
  };
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.capacity = 0; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.capacity = 70000; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.max_unresolved = 9; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.pending_frames = 0; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.max_pending_per_dest = 7; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.max_frame_len = 13; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.max_requests = 0; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.max_requests = 256; }));
  EXPECT_TRUE(bad([](ArpCacheConfig& c) { c.retry_interval_ns = 0; }));
  EXPECT_FALSE(bad([](ArpCacheConfig&) {}));
  EXPECT_FALSE(ArpCache::Create(Config(), nullptr).ok());
}

TEST_F(ArpCacheTest, AnswersRequestForOurIpAndLearnsSender) {
  ArpCache cache = Make(Config());
  const size_t n = Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 5 * kSec);
  ASSERT_EQ(n, kArpFrameLen);
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(reply_, &eth), Drop::kNone);
  EXPECT_EQ(eth.dst, kMacB);
  EXPECT_EQ(eth.src, kMacA);
  EXPECT_EQ(eth.ethertype, kEtherTypeArp);
  ArpPacket rep;
  ASSERT_EQ(ParseArp(eth.payload, &rep), Drop::kNone);
  EXPECT_EQ(rep, (ArpPacket{.op = kArpOpReply,
                            .sender_mac = kMacA,
                            .sender_ip = kIpA,
                            .target_mac = kMacB,
                            .target_ip = kIpB}));
  EXPECT_EQ(cache.Lookup(kIpB, 5 * kSec), kMacB);
  EXPECT_EQ(Total(counters_), 0u);
}

TEST_F(ArpCacheTest, AnswersProbeWithoutLearning) {
  ArpCache cache = Make(Config());
  ASSERT_EQ(Feed(cache, kArpOpRequest, kMacB, 0, kIpA, 0), kArpFrameLen);
  ArpPacket rep;
  ASSERT_EQ(ParseArp(absl::MakeConstSpan(reply_).subspan(kEthHeaderLen), &rep), Drop::kNone);
  EXPECT_EQ(rep.target_ip, 0u);
  EXPECT_EQ(rep.target_mac, kMacB);
  EXPECT_EQ(cache.entries(), 0u);
}

TEST_F(ArpCacheTest, RequestForAnotherHostIsNotLearned) {
  ArpCache cache = Make(Config());
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpC, 0), 0u);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(counters_.arp_not_for_us, 1u);
  EXPECT_EQ(Total(counters_), 1u);
}

TEST_F(ArpCacheTest, UnsolicitedReplyIsNotLearnedButKnownEntryIsUpdated) {
  ArpCache cache = Make(Config());
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 0), 0u);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(counters_.arp_unsolicited, 1u);
  // Gratuitous announcement (sender == target) for an unknown IP: not learned either.
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpB, 0), 0u);
  EXPECT_EQ(counters_.arp_not_for_us, 1u);
  // Learn B, then B announces a new MAC: the entry follows, no drop counted.
  ASSERT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 0), kArpFrameLen);
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacC, kIpB, kIpB, 1 * kSec), 0u);
  EXPECT_EQ(cache.Lookup(kIpB, 1 * kSec), kMacC);
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpB, 2 * kSec), 0u);
  EXPECT_EQ(cache.Lookup(kIpB, 2 * kSec), kMacB);
  EXPECT_EQ(Total(counters_), 2u);
}

TEST_F(ArpCacheTest, SomeoneClaimingOurIpIsCounted) {
  ArpCache cache = Make(Config());
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpA, kIpA, 0), 0u);
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacB, kIpA, kIpB, 0), 0u);
  EXPECT_EQ(counters_.arp_ip_conflict, 2u);
  EXPECT_EQ(cache.entries(), 0u);
}

TEST_F(ArpCacheTest, NoRoomForReply) {
  ArpCache cache = Make(Config());
  std::vector<uint8_t> small(kArpFrameLen - 1);
  const ArpPacket p{.op = kArpOpRequest, .sender_mac = kMacB, .sender_ip = kIpB, .target_ip = kIpA};
  EXPECT_EQ(cache.Input(p, 0, absl::MakeSpan(small)), 0u);
  EXPECT_EQ(counters_.arp_no_room, 1u);
}

TEST_F(ArpCacheTest, EntriesExpire) {
  ArpCache cache = Make(Config());
  ASSERT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 10 * kSec), kArpFrameLen);
  EXPECT_EQ(cache.Lookup(kIpB, 70 * kSec - 1), kMacB);
  EXPECT_EQ(cache.Lookup(kIpB, 70 * kSec), std::nullopt);
  // Refreshed by a later request: lives 60 s from then.
  ASSERT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 50 * kSec), kArpFrameLen);
  EXPECT_EQ(cache.Lookup(kIpB, 109 * kSec), kMacB);
  Ipv4Address targets[4];
  EXPECT_EQ(cache.Poll(109 * kSec, targets), 0u);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.Poll(110 * kSec, targets), 0u);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(Total(counters_), 0u);
}

TEST_F(ArpCacheTest, MissQueuesThenReplyFlushesInOrder) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  const auto f1 = Frame(0x11), f2 = Frame(0x22, 100), f3 = Frame(0x33, 14);
  EXPECT_EQ(cache.Resolve(kIpB, f1, 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(cache.Resolve(kIpB, f2, 1, &mac), ArpResolve::kQueued);
  EXPECT_EQ(cache.Resolve(kIpB, f3, 2, &mac), ArpResolve::kQueued);
  EXPECT_EQ(cache.queued_frames(), 3u);
  EXPECT_EQ(cache.unresolved(), 1u);
  EXPECT_FALSE(cache.HasReady());
  EXPECT_EQ(cache.Lookup(kIpB, 2), std::nullopt);

  // The request the caller sends.
  std::vector<uint8_t> req(kArpFrameLen);
  ASSERT_EQ(cache.BuildRequest(kIpB, absl::MakeSpan(req)), kArpFrameLen);
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(req, &eth), Drop::kNone);
  EXPECT_TRUE(eth.dst.IsBroadcast());
  ArpPacket p;
  ASSERT_EQ(ParseArp(eth.payload, &p), Drop::kNone);
  EXPECT_EQ(
      p,
      (ArpPacket{.op = kArpOpRequest, .sender_mac = kMacA, .sender_ip = kIpA, .target_ip = kIpB}));

  // The reply releases the frames, oldest first, each with kMacB as destination.
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 3), 0u);
  EXPECT_TRUE(cache.HasReady());
  EXPECT_EQ(cache.unresolved(), 0u);
  std::vector<uint8_t> out(128);
  for (const auto* f : {&f1, &f2, &f3}) {
    const size_t n = cache.TakeReady(absl::MakeSpan(out));
    ASSERT_EQ(n, f->size());
    std::vector<uint8_t> want = *f;
    kMacB.CopyTo(want.data());
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), want);
  }
  EXPECT_EQ(cache.TakeReady(absl::MakeSpan(out)), 0u);
  EXPECT_FALSE(cache.HasReady());
  EXPECT_EQ(cache.queued_frames(), 0u);
  // Now a hit, and the frame is not copied.
  EXPECT_EQ(cache.Resolve(kIpB, f1, 4, &mac), ArpResolve::kHit);
  EXPECT_EQ(mac, kMacB);
  EXPECT_EQ(cache.queued_frames(), 0u);
  EXPECT_EQ(Total(counters_), 0u);
}

TEST_F(ArpCacheTest, SeveralDestinationsFlushInReplyOrder) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpB, Frame(0xb1), 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(cache.Resolve(kIpC, Frame(0xc1), 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(0xb2), 0, &mac), ArpResolve::kQueued);
  EXPECT_EQ(cache.Resolve(kIpC, Frame(0xc2), 0, &mac), ArpResolve::kQueued);
  // Both replies arrive before the caller drains anything.
  ASSERT_EQ(Feed(cache, kArpOpReply, kMacC, kIpC, kIpA, 1), 0u);
  ASSERT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 1), 0u);
  std::vector<uint8_t> out(128);
  for (auto [tag, dst] : {std::pair{0xc1, kMacC}, std::pair{0xc2, kMacC}, std::pair{0xb1, kMacB},
                          std::pair{0xb2, kMacB}}) {
    ASSERT_EQ(cache.TakeReady(absl::MakeSpan(out)), 60u);
    EXPECT_EQ(out[59], tag);
    EXPECT_EQ(MacAddress::FromBytes(out.data()), dst);
  }
  EXPECT_EQ(cache.TakeReady(absl::MakeSpan(out)), 0u);
  EXPECT_EQ(cache.queued_frames(), 0u);
  // Every slot is free again: a full pool's worth can be queued.
  for (int i = 0; i < 3; ++i) (void)cache.Resolve(0x0a000004, Frame(1), 2, &mac);
  for (int i = 0; i < 3; ++i) (void)cache.Resolve(0x0a000005, Frame(1), 2, &mac);
  EXPECT_EQ(cache.queued_frames(), 6u);
  EXPECT_EQ(Total(counters_), 0u);
}

TEST_F(ArpCacheTest, RequestFromPendingDestinationAlsoFlushes) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 1), kArpFrameLen);
  std::vector<uint8_t> out(128);
  EXPECT_EQ(cache.TakeReady(absl::MakeSpan(out)), 60u);
  EXPECT_EQ(MacAddress::FromBytes(out.data()), kMacB);
}

TEST_F(ArpCacheTest, PerDestinationQueueIsBounded) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(2), 0, &mac), ArpResolve::kQueued);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(3), 0, &mac), ArpResolve::kQueued);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(4), 0, &mac), ArpResolve::kDropped);
  EXPECT_EQ(counters_.arp_queue_full, 1u);
  EXPECT_EQ(cache.queued_frames(), 3u);
  // The queued ones are the first three.
  ASSERT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 1), 0u);
  std::vector<uint8_t> out(128);
  for (uint8_t tag : {1, 2, 3}) {
    ASSERT_EQ(cache.TakeReady(absl::MakeSpan(out)), 60u);
    EXPECT_EQ(out[59], tag);
  }
  EXPECT_EQ(cache.TakeReady(absl::MakeSpan(out)), 0u);
}

TEST_F(ArpCacheTest, SharedFramePoolIsBounded) {
  ArpCache cache = Make(Config());  // 6 slots, 3 per destination
  MacAddress mac;
  for (Ipv4Address ip : {kIpB, kIpC}) {
    for (int i = 0; i < 3; ++i) (void)cache.Resolve(ip, Frame(1), 0, &mac);
  }
  EXPECT_EQ(cache.queued_frames(), 6u);
  EXPECT_EQ(cache.Resolve(0x0a000004, Frame(1), 0, &mac), ArpResolve::kDropped);
  EXPECT_EQ(counters_.arp_queue_full, 1u);
  EXPECT_EQ(cache.unresolved(), 2u);  // no entry was made for the dropped frame
}

TEST_F(ArpCacheTest, BadFrameSizes) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1, 13), 0, &mac), ArpResolve::kDropped);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1, 129), 0, &mac), ArpResolve::kDropped);
  EXPECT_EQ(counters_.arp_bad_frame_size, 2u);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1, 128), 0, &mac), ArpResolve::kQueuedSendRequest);
}

TEST_F(ArpCacheTest, RetriesThenGivesUpAndCountsEveryFrame) {
  ArpCache cache = Make(Config());  // retry every 1 s, 3 requests
  MacAddress mac;
  ASSERT_EQ(cache.Resolve(kIpB, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);  // request 1
  ASSERT_EQ(cache.Resolve(kIpB, Frame(2), 0, &mac), ArpResolve::kQueued);
  Ipv4Address targets[4];
  EXPECT_EQ(cache.Poll(kSec - 1, targets), 0u);
  ASSERT_EQ(cache.Poll(kSec, targets), 1u);  // request 2
  EXPECT_EQ(targets[0], kIpB);
  EXPECT_EQ(cache.Poll(kSec + 1, targets), 0u);
  ASSERT_EQ(cache.Poll(2 * kSec, targets), 1u);  // request 3
  EXPECT_EQ(cache.queued_frames(), 2u);
  EXPECT_EQ(Total(counters_), 0u);
  EXPECT_EQ(cache.Poll(3 * kSec - 1, targets), 0u);
  EXPECT_EQ(cache.Poll(3 * kSec, targets), 0u);  // no answer to 3 requests: give up
  EXPECT_EQ(counters_.arp_resolve_failed, 2u);
  EXPECT_EQ(Total(counters_), 2u);
  EXPECT_EQ(cache.queued_frames(), 0u);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.unresolved(), 0u);
  // A late reply is unsolicited now, and the next frame starts over.
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 3 * kSec), 0u);
  EXPECT_EQ(counters_.arp_unsolicited, 1u);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(3), 4 * kSec, &mac), ArpResolve::kQueuedSendRequest);
}

TEST_F(ArpCacheTest, PollKeepsDueTargetsThatDidNotFit) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  for (Ipv4Address ip : {kIpB, kIpC, Ipv4Address{0x0a000004}}) {
    ASSERT_EQ(cache.Resolve(ip, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);
  }
  Ipv4Address one[1];
  ASSERT_EQ(cache.Poll(kSec, one), 1u);
  const Ipv4Address first = one[0];
  ASSERT_EQ(cache.Poll(kSec, one), 1u);
  EXPECT_NE(one[0], first);
  ASSERT_EQ(cache.Poll(kSec, one), 1u);
  EXPECT_EQ(cache.Poll(kSec, one), 0u);  // all three sent their second request
  EXPECT_EQ(cache.Poll(kSec, {}), 0u);
}

TEST_F(ArpCacheTest, ExpiredEntryResolvesAgain) {
  ArpCache cache = Make(Config());
  ASSERT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 0), kArpFrameLen);
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1), 60 * kSec - 1, &mac), ArpResolve::kHit);
  EXPECT_EQ(cache.Resolve(kIpB, Frame(1), 60 * kSec, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(cache.unresolved(), 1u);
  EXPECT_EQ(cache.entries(), 1u);
}

TEST_F(ArpCacheTest, BroadcastAndMulticastNeedNoEntry) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  EXPECT_EQ(cache.Resolve(kIpv4Broadcast, Frame(1), 0, &mac), ArpResolve::kHit);
  EXPECT_TRUE(mac.IsBroadcast());
  EXPECT_EQ(cache.Resolve(0xeffffffb /* 239.255.255.251 */, Frame(1), 0, &mac), ArpResolve::kHit);
  EXPECT_EQ(FormatMacAddress(mac), "01:00:5e:7f:ff:fb");
  EXPECT_EQ(cache.Resolve(0xe00000fb /* 224.0.0.251 */, Frame(1), 0, &mac), ArpResolve::kHit);
  EXPECT_EQ(FormatMacAddress(mac), "01:00:5e:00:00:fb");
  EXPECT_EQ(cache.entries(), 0u);
}

TEST_F(ArpCacheTest, UnresolvedEntriesAreBounded) {
  ArpCacheConfig config = Config();
  config.pending_frames = 64;
  ArpCache cache = Make(config);  // at most 4 unresolved
  MacAddress mac;
  int requests = 0;
  int dropped = 0;
  for (Ipv4Address ip = 0x0a000100; ip < 0x0a000100 + 100; ++ip) {
    const ArpResolve r = cache.Resolve(ip, Frame(1), 0, &mac);
    requests += r == ArpResolve::kQueuedSendRequest;
    dropped += r == ArpResolve::kDropped;
  }
  EXPECT_EQ(requests, 4);
  EXPECT_EQ(dropped, 96);
  EXPECT_EQ(counters_.arp_cache_full, 96u);
  EXPECT_EQ(cache.unresolved(), 4u);
  EXPECT_EQ(cache.queued_frames(), 4u);
}

TEST_F(ArpCacheTest, FloodOfRequestsCannotGrowTheTable) {
  ArpCache cache = Make(Config());  // capacity 8
  // A pending destination that must survive the flood.
  MacAddress mac;
  ASSERT_EQ(cache.Resolve(kIpC, Frame(7), 0, &mac), ArpResolve::kQueuedSendRequest);
  size_t replies = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    const MacAddress m{{0x02, 0x11, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 0, 1}};
    replies += Feed(cache, kArpOpRequest, m, 0x0b000000 + i, kIpA, i) != 0;
    ASSERT_LE(cache.entries(), 8u);
  }
  EXPECT_EQ(replies, 10000u);  // every request for us is still answered
  EXPECT_EQ(cache.entries(), 8u);
  EXPECT_EQ(cache.unresolved(), 1u);
  EXPECT_EQ(cache.queued_frames(), 1u);
  EXPECT_EQ(Total(counters_), 0u);  // eviction is not a drop
  // The newest learned sender is there, the oldest was evicted.
  EXPECT_TRUE(cache.Lookup(0x0b000000 + 9999, 10000).has_value());
  EXPECT_FALSE(cache.Lookup(0x0b000000, 10000).has_value());
  // The pending destination still resolves.
  EXPECT_EQ(Feed(cache, kArpOpReply, kMacC, kIpC, kIpA, 10001), 0u);
  std::vector<uint8_t> out(128);
  ASSERT_EQ(cache.TakeReady(absl::MakeSpan(out)), 60u);
  EXPECT_EQ(MacAddress::FromBytes(out.data()), kMacC);
}

TEST_F(ArpCacheTest, FullOfUnresolvedEntriesStillAnswers) {
  ArpCacheConfig config = Config();
  config.capacity = 2;
  config.max_unresolved = 2;
  ArpCache cache = Make(config);
  MacAddress mac;
  ASSERT_EQ(cache.Resolve(kIpC, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);
  ASSERT_EQ(cache.Resolve(0x0a000004, Frame(1), 0, &mac), ArpResolve::kQueuedSendRequest);
  EXPECT_EQ(Feed(cache, kArpOpRequest, kMacB, kIpB, kIpA, 0), kArpFrameLen);
  EXPECT_EQ(counters_.arp_cache_full, 1u);
  EXPECT_FALSE(cache.Lookup(kIpB, 0).has_value());
}

TEST_F(ArpCacheTest, TakeReadyDropsWhatDoesNotFit) {
  ArpCache cache = Make(Config());
  MacAddress mac;
  ASSERT_EQ(cache.Resolve(kIpB, Frame(1, 100), 0, &mac), ArpResolve::kQueuedSendRequest);
  ASSERT_EQ(cache.Resolve(kIpB, Frame(2, 50), 0, &mac), ArpResolve::kQueued);
  ASSERT_EQ(Feed(cache, kArpOpReply, kMacB, kIpB, kIpA, 1), 0u);
  std::vector<uint8_t> out(60);
  EXPECT_EQ(cache.TakeReady(absl::MakeSpan(out)), 50u);  // the 100-byte frame was dropped
  EXPECT_EQ(out[49], 2);
  EXPECT_EQ(counters_.arp_no_room, 1u);
  EXPECT_EQ(cache.queued_frames(), 0u);
}

TEST_F(ArpCacheTest, EveryDroppedFrameCountsExactlyOnce) {
  // Random operations with deterministic time: frames in == sent + queued + counted drops.
  ArpCacheConfig config = Config();
  ArpCache cache = Make(config);
  uint64_t rng = 42;
  auto next = [&rng] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(rng >> 33);
  };
  uint64_t frames_in = 0, frames_out = 0, hits = 0;
  std::vector<uint8_t> out(128);
  Ipv4Address targets[8];
  uint64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    now += next() % (kSec / 4);
    const Ipv4Address ip = 0x0a000010 + next() % 12;
    const NetCounters before = counters_;
    switch (next() % 4) {
      case 0:
      case 1: {
        MacAddress mac;
        ++frames_in;
        const ArpResolve r = cache.Resolve(ip, Frame(1, 14 + next() % 120), now, &mac);
        if (r == ArpResolve::kHit) ++hits;
        if (r == ArpResolve::kDropped) {
          ASSERT_EQ(Total(counters_), Total(before) + 1);
        }
        break;
      }
      case 2: {
        const MacAddress m{{0x02, 0x22, 0, 0, 0, static_cast<uint8_t>(ip)}};
        (void)Feed(cache, next() % 2 ? kArpOpReply : kArpOpRequest, m, ip, next() % 2 ? kIpA : kIpB,
                   now);
        ASSERT_LE(Total(counters_), Total(before) + 1);
        break;
      }
      case 3:
        (void)cache.Poll(now, targets);
        break;
    }
    while (size_t n = cache.TakeReady(absl::MakeSpan(out))) frames_out += n > 0;
    ASSERT_LE(cache.entries(), config.capacity);
    ASSERT_LE(cache.queued_frames(), config.pending_frames);
  }
  const uint64_t frame_drops = counters_.arp_queue_full + counters_.arp_cache_full +
                               counters_.arp_resolve_failed + counters_.arp_bad_frame_size;
  // With max_unresolved < capacity, Input always finds an evictable entry, so every
  // arp_cache_full here is a frame.
  EXPECT_EQ(frames_in, hits + frames_out + cache.queued_frames() + frame_drops);
  EXPECT_GT(hits, 0u);
  EXPECT_GT(frames_out, 0u);
  EXPECT_GT(counters_.arp_resolve_failed, 0u);
}

}  // namespace
}  // namespace ix::net

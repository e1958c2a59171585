// Feeds 100k random and mutated frames through every parser and handler of the net layers and
// checks that none reads or writes outside its span: each frame sits in an exactly-sized
// std::vector (caught by AddressSanitizer in the _asan build of this test) and, in every build,
// right before and right after a PROT_NONE guard page (caught as a crash without a sanitizer).
// Every returned view must also lie inside its input. Seed: IX_NET_RANDOM_SEED (default fixed).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "dataplane/net/arp.h"
#include "dataplane/net/checksum.h"
#include "dataplane/net/ethernet.h"
#include "dataplane/net/icmp.h"
#include "dataplane/net/ipv4.h"
#include "dataplane/net/test_frames.h"
#include "dataplane/net/test_receive.h"
#include "dataplane/net/udp.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;

constexpr size_t kFrames = 100000;
constexpr size_t kMaxFrame = 4096;

// Two pages of room between two PROT_NONE pages.
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    room_ = 2 * page_;
    void* p = mmap(nullptr, room_ + 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) abort();
    base_ = static_cast<uint8_t*>(p);
    if (mprotect(base_, page_, PROT_NONE) != 0) abort();
    if (mprotect(base_ + page_ + room_, page_, PROT_NONE) != 0) abort();
  }
  ~GuardedBuffer() { munmap(base_, room_ + 2 * page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // A copy of `b` whose last byte is right before the back guard page.
  absl::Span<uint8_t> AtEnd(absl::Span<const uint8_t> b) { return Place(room_ - b.size(), b); }
  // A copy of `b` whose first byte is right after the front guard page.
  absl::Span<uint8_t> AtStart(absl::Span<const uint8_t> b) { return Place(0, b); }

 private:
  absl::Span<uint8_t> Place(size_t offset, absl::Span<const uint8_t> b) {
    if (b.size() > room_) abort();
    uint8_t* p = base_ + page_ + offset;
    if (!b.empty()) std::memcpy(p, b.data(), b.size());
    return absl::MakeSpan(p, b.size());
  }
  size_t page_ = 0;
  size_t room_ = 0;
  uint8_t* base_ = nullptr;
};

template <typename T>
bool Inside(absl::Span<const T> view, absl::Span<const uint8_t> in) {
  if (view.empty()) return true;
  const auto* b = reinterpret_cast<const uint8_t*>(view.data());
  return b >= in.data() && b + view.size() <= in.data() + in.size();
}

// Reads every byte of a view so that a view past its buffer faults or is reported.
uint32_t Touch(absl::Span<const uint8_t> v) {
  uint32_t s = 0;
  for (const uint8_t& x : v) s += *static_cast<const volatile uint8_t*>(&x);
  return s;
}

uint64_t Total(const NetCounters& c) {
  uint64_t total = 0;
  ForEachNetCounter(c, [&](absl::string_view, uint64_t v) { total += v; });
  return total;
}

class RandomFrames {
 public:
  explicit RandomFrames(uint64_t seed) : rng_(seed) {
    const uint8_t data[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    seeds_.push_back(testing::MakeUdpFrame(absl::MakeConstSpan(data, 11)));
    seeds_.push_back(testing::MakeUdpFrame({}));
    seeds_.push_back(testing::MakeEchoFrame(absl::MakeConstSpan(data, 40)));
    seeds_.push_back(testing::MakeEchoFrame(absl::MakeConstSpan(data, 3)));
    seeds_.push_back(
        testing::MakeArpFrame(kArpOpRequest, testing::kMacB, testing::kIpB, testing::kIpA));
    seeds_.push_back(testing::MakeArpFrame(kArpOpReply, testing::kMacB, testing::kIpB,
                                           testing::kIpA, testing::kMacA));
    seeds_.push_back(testing::MakeIpv4Frame(testing::kMacB, testing::kMacA, testing::kIpB,
                                            testing::kIpA, kIpProtoTcp,
                                            absl::MakeConstSpan(data, 20)));
    // A VLAN-tagged UDP frame and a frame with IP options.
    std::vector<uint8_t> tagged = seeds_[0];
    const std::vector<uint8_t> tag = Hex("8100 0064");
    tagged.insert(tagged.begin() + 12, tag.begin(), tag.end());
    seeds_.push_back(tagged);
    std::vector<uint8_t> options = seeds_[2];
    const std::vector<uint8_t> nops = Hex("01010100");
    options.insert(options.begin() + kEthHeaderLen + kIpv4HeaderLen, nops.begin(), nops.end());
    options[kEthHeaderLen] = 0x46;
    options[kEthHeaderLen + 3] += 4;
    testing::RefreshIpv4Checksum(absl::MakeSpan(options).subspan(kEthHeaderLen));
    seeds_.push_back(options);
    std::vector<uint8_t> padded = seeds_[4];
    padded.resize(60, 0);
    seeds_.push_back(padded);
  }

  std::vector<uint8_t> Next() {
    const uint32_t kind = Below(10);
    if (kind == 0) {  // pure noise
      std::vector<uint8_t> f(Below(120));
      for (auto& b : f) b = Byte();
      return f;
    }
    std::vector<uint8_t> f = seeds_[Below(seeds_.size())];
    const uint32_t mutations = 1 + Below(4);
    for (uint32_t m = 0; m < mutations; ++m) Mutate(f);
    // Often repair the IPv4 header checksum (and sometimes the L4 one) so deeper code runs.
    if (Below(2) == 0) Repair(f);
    return f;
  }

 private:
  uint32_t Below(size_t n) { return static_cast<uint32_t>(rng_() % n); }
  uint8_t Byte() { return static_cast<uint8_t>(rng_()); }

  void Mutate(std::vector<uint8_t>& f) {
    // Offsets that steer parsing: ethertype/VLAN, IHL, total length, flags, TTL, protocol,
    // UDP length, ICMP type, ARP header.
    static constexpr size_t kHot[] = {12, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 26, 38, 39};
    switch (Below(7)) {
      case 0:
        if (!f.empty()) f[Below(f.size())] ^= static_cast<uint8_t>(1u << Below(8));
        break;
      case 1:
        if (!f.empty()) f[Below(f.size())] = Byte();
        break;
      case 2:
        f.resize(Below(f.size() + 1));
        break;
      case 3:
        for (uint32_t n = Below(64); n > 0 && f.size() < kMaxFrame; --n) f.push_back(Byte());
        break;
      case 4: {
        const size_t at = kHot[Below(std::size(kHot))];
        if (at < f.size()) f[at] = Below(3) == 0 ? 0 : (Below(2) ? 0xff : Byte());
        break;
      }
      case 5: {  // small changes to a length field
        const size_t at = Below(2) ? 16 : 38;
        if (at + 1 < f.size()) {
          const int delta = static_cast<int>(Below(41)) - 20;
          const uint16_t v = static_cast<uint16_t>(((f[at] << 8) | f[at + 1]) + delta);
          f[at] = static_cast<uint8_t>(v >> 8);
          f[at + 1] = static_cast<uint8_t>(v);
        }
        break;
      }
      case 6:  // IHL
        if (f.size() > 14) f[14] = static_cast<uint8_t>(0x40 | Below(16));
        break;
    }
  }

  void Repair(std::vector<uint8_t>& f) {
    if (f.size() < kEthHeaderLen + kIpv4HeaderLen) return;
    absl::Span<uint8_t> ip = absl::MakeSpan(f).subspan(kEthHeaderLen);
    testing::RefreshIpv4Checksum(ip);
    const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    const size_t total = (size_t{ip[2]} << 8) | ip[3];
    if (ihl < 20 || total < ihl || total > ip.size() || Below(2) == 0) return;
    absl::Span<uint8_t> l4 = ip.subspan(ihl, total - ihl);
    if (ip[9] == kIpProtoIcmp && l4.size() >= 8) {
      l4[2] = l4[3] = 0;
      const uint16_t c = InternetChecksum(l4);
      std::memcpy(&l4[2], &c, 2);
    } else if (ip[9] == kIpProtoUdp && l4.size() >= 8) {
      const uint32_t src =
          (uint32_t{ip[12]} << 24) | (uint32_t{ip[13]} << 16) | (ip[14] << 8) | ip[15];
      const uint32_t dst =
          (uint32_t{ip[16]} << 24) | (uint32_t{ip[17]} << 16) | (ip[18] << 8) | ip[19];
      const size_t ulen = (size_t{l4[4]} << 8) | l4[5];
      if (ulen < 8 || ulen > l4.size()) return;
      (void)WriteUdpHeader(l4.first(ulen), src, dst, static_cast<uint16_t>((l4[0] << 8) | l4[1]),
                           static_cast<uint16_t>((l4[2] << 8) | l4[3]));
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::vector<uint8_t>> seeds_;
};

// Results per parser, to check that the random frames reach every branch.
struct Seen {
  std::map<Drop, uint64_t> eth, arp, ip, icmp, udp, rx;
};

class Harness {
 public:
  explicit Harness(uint64_t seed)
      : rng_(seed ^ 0x9e3779b97f4a7c15ull), rx_(testing::kMacA, testing::kIpA, 5678) {}

  // Runs every parser on `in`, which the caller placed at a checked position.
  void RunAll(absl::Span<const uint8_t> in, uint64_t now_ns, Seen* seen) {
    EthernetFrame eth;
    const Drop de = ParseEthernet(in, &eth);
    ++seen->eth[de];
    absl::Span<const uint8_t> l3 = in;  // parse the raw bytes as every layer, too
    if (de == Drop::kNone) {
      ASSERT_TRUE(Inside(eth.payload, in));
      sink_ += Touch(eth.payload);
      l3 = eth.payload;
    }
    ArpPacket arp;
    const Drop da = ParseArp(l3, &arp);
    ++seen->arp[da];
    Ipv4Packet ip;
    Drop di = ParseIpv4(l3, &ip);
    if (di == Drop::kNone && ip.IsFragment()) di = Drop::kIpFragment;  // not a whole datagram
    ++seen->ip[di];
    absl::Span<const uint8_t> l4 = l3;
    Ipv4Address src = testing::kIpB, dst = testing::kIpA;
    if (di == Drop::kNone) {
      ASSERT_TRUE(Inside(ip.header, in));
      ASSERT_TRUE(Inside(ip.options, in));
      ASSERT_TRUE(Inside(ip.payload, in));
      sink_ += Touch(ip.header) + Touch(ip.options) + Touch(ip.payload);
      l4 = ip.payload;
      src = ip.src;
      dst = ip.dst;
      // The echo responder, with an exactly-sized output buffer of a random size.
      std::vector<uint8_t> out(rng_() % 200);
      size_t len = 0;
      if (AnswerIcmp(ip, eth.src, testing::kMacA, ip.dst, &ids_, absl::MakeSpan(out), &len) ==
          Drop::kNone) {
        ASSERT_LE(len, out.size());
        ASSERT_EQ(len, kEthHeaderLen + kIpv4HeaderLen + ip.payload.size());
      }
    }
    IcmpMessage icmp;
    const Drop dc = ParseIcmp(l4, &icmp);
    ++seen->icmp[dc];
    if (dc == Drop::kNone) {
      ASSERT_TRUE(Inside(icmp.data, in));
      ASSERT_TRUE(Inside(icmp.message, in));
      sink_ += Touch(icmp.message);
    }
    UdpDatagram udp;
    const Drop du = ParseUdp(l4, src, dst, &udp);
    ++seen->udp[du];
    if (du == Drop::kNone) {
      ASSERT_TRUE(Inside(udp.payload, in));
      sink_ += Touch(udp.payload);
    }
    // The whole receive path, ARP cache included: a dropped frame counts exactly one counter;
    // an accepted one at most one (the ARP cache counts what it ignores itself).
    const uint64_t before = Total(rx_.counters);
    const Drop dr = rx_.Receive(in, now_ns);
    ++seen->rx[dr];
    const uint64_t delta = Total(rx_.counters) - before;
    if (dr != Drop::kNone) {
      ASSERT_EQ(delta, 1u) << DropName(dr);
    }
    ASSERT_LE(delta, 1u);
    ASSERT_TRUE(Inside(rx_.delivered, in));
    ASSERT_LE(rx_.tx_len, rx_.tx.size());
    sink_ += Touch(rx_.delivered);
    // The transmit side of the cache with this frame as an outgoing one.
    MacAddress mac;
    const uint64_t before_resolve = Total(rx_.counters);
    const ArpResolve r =
        rx_.arp().Resolve(testing::kIpB + static_cast<uint32_t>(rng_() % 4), in, now_ns, &mac);
    ASSERT_EQ(Total(rx_.counters) - before_resolve, r == ArpResolve::kDropped ? 1u : 0u);
    if (rng_() % 8 == 0) {
      Ipv4Address targets[4];
      (void)rx_.arp().Poll(now_ns, targets);
    }
    std::vector<uint8_t> out(rng_() % 1600);
    while (rx_.arp().TakeReady(absl::MakeSpan(out)) != 0) {
    }
  }

  uint32_t sink() const { return sink_; }

 private:
  std::mt19937_64 rng_;
  testing::TestReceiver rx_;
  Ipv4IdCounter ids_;
  uint32_t sink_ = 0;
};

uint64_t Seed() {
  const char* env = std::getenv("IX_NET_RANDOM_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 0x1c0ffee;
}

TEST(ParseRandomTest, HundredThousandFramesStayInsideTheirSpans) {
  const uint64_t seed = Seed();
  std::printf("IX_NET_RANDOM_SEED=%#llx\n", static_cast<unsigned long long>(seed));
  RandomFrames frames(seed);
  Harness harness(seed);
  GuardedBuffer guard;
  Seen seen;
  for (size_t i = 0; i < kFrames; ++i) {
    const std::vector<uint8_t> f = frames.Next();
    const uint64_t now_ns = i * 10'000'000;                // 10 ms per frame: ARP timers fire
    const std::vector<uint8_t> exact(f.begin(), f.end());  // heap block of exactly f.size()
    ASSERT_NO_FATAL_FAILURE(harness.RunAll(exact, now_ns, &seen)) << "frame " << i;
    ASSERT_NO_FATAL_FAILURE(harness.RunAll(guard.AtEnd(f), now_ns, &seen)) << "frame " << i;
    ASSERT_NO_FATAL_FAILURE(harness.RunAll(guard.AtStart(f), now_ns, &seen)) << "frame " << i;
  }
  std::printf("sink %u\n", harness.sink());
  // The mutations must reach every parser's accept path and every one of its drops; otherwise
  // this test proves little.
  for (Drop d :
       {Drop::kNone, Drop::kEthTruncated, Drop::kEthNotEthernetII, Drop::kEthStackedVlan}) {
    EXPECT_GT(seen.eth[d], 0u) << DropName(d);
  }
  for (Drop d : {Drop::kNone, Drop::kArpTruncated, Drop::kArpBadHardware, Drop::kArpBadProtocol,
                 Drop::kArpBadOpcode, Drop::kArpBadSender}) {
    EXPECT_GT(seen.arp[d], 0u) << DropName(d);
  }
  for (Drop d : {Drop::kNone, Drop::kIpTruncated, Drop::kIpBadVersion, Drop::kIpBadIhl,
                 Drop::kIpBadLength, Drop::kIpBadChecksum, Drop::kIpFragment, Drop::kIpTtlZero}) {
    EXPECT_GT(seen.ip[d], 0u) << DropName(d);
  }
  for (Drop d : {Drop::kNone, Drop::kIcmpTruncated, Drop::kIcmpBadChecksum}) {
    EXPECT_GT(seen.icmp[d], 0u) << DropName(d);
  }
  for (Drop d : {Drop::kNone, Drop::kUdpTruncated, Drop::kUdpBadLength, Drop::kUdpBadChecksum}) {
    EXPECT_GT(seen.udp[d], 0u) << DropName(d);
  }
  for (Drop d : {Drop::kNone, Drop::kEthOtherHost, Drop::kIpOtherHost, Drop::kIcmpOtherType,
                 Drop::kUdpNoListener}) {
    EXPECT_GT(seen.rx[d], 0u) << DropName(d);
  }
}

// The guard pages really catch a one-byte overread (so the test above can fail).
TEST(ParseRandomDeathTest, GuardPageCatchesOverread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  GuardedBuffer guard;
  const std::vector<uint8_t> f(20, 0x45);
  const absl::Span<const uint8_t> end = guard.AtEnd(f);
  const absl::Span<const uint8_t> start = guard.AtStart(f);
  EXPECT_EQ(Touch(end) + Touch(start), 2u * 20 * 0x45);
  EXPECT_DEATH({ Touch(absl::MakeConstSpan(end.data(), end.size() + 1)); }, "");
  EXPECT_DEATH({ Touch(absl::MakeConstSpan(start.data() - 1, start.size())); }, "");
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer is really on in this build and catches a one-byte overread of a vector.
TEST(ParseRandomDeathTest, AddressSanitizerCatchesOverread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<uint8_t> f(33, 1);
  EXPECT_DEATH({ Touch(absl::MakeConstSpan(f.data(), f.size() + 1)); }, "heap-buffer-overflow");
}
#endif

}  // namespace
}  // namespace ix::net

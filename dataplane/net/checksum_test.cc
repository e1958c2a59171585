// Unit tests for checksum.h: RFC 1071 examples, partial sums, odd lengths, the pseudo-header.
#include "dataplane/net/checksum.h"

#include <arpa/inet.h>

#include <cstdint>
#include <random>
#include <vector>

#include "dataplane/net/test_frames.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;

// A slow reference: fold after every word, as RFC 1071 describes it.
uint16_t ReferenceChecksum(const std::vector<uint8_t>& b) {
  uint32_t sum = 0;
  for (size_t i = 0; i < b.size(); i += 2) {
    uint32_t w = uint32_t{b[i]} << 8;
    if (i + 1 < b.size()) w |= b[i + 1];
    sum += w;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2.
  const std::vector<uint8_t> b = Hex("0001f203f4f5f6f7");
  EXPECT_EQ(ChecksumPartial(b), 0x2ddf0u);
  EXPECT_EQ(ntohs(InternetChecksum(b)), 0x220d);
}

TEST(ChecksumTest, KnownIpv4HeaderVerifiesToZero) {
  // A commonly quoted IPv4 header with checksum 0xb861.
  std::vector<uint8_t> h = Hex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(ntohs(InternetChecksum(h)), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  EXPECT_EQ(InternetChecksum(h), 0);
}

TEST(ChecksumTest, ResultIsNetworkOrderForMemcpy) {
  const std::vector<uint8_t> b = Hex("0001f203f4f5f6f7");
  const uint16_t c = InternetChecksum(b);
  uint8_t bytes[2];
  std::memcpy(bytes, &c, 2);
  EXPECT_EQ(bytes[0], 0x22);
  EXPECT_EQ(bytes[1], 0x0d);
}

TEST(ChecksumTest, OddLengthPadsWithZero) {
  EXPECT_EQ(ChecksumPartial(Hex("ab")), 0xab00u);
  EXPECT_EQ(ChecksumPartial(Hex("0102ab")), 0x0102u + 0xab00u);
  EXPECT_EQ(ChecksumPartial({}), 0u);
  EXPECT_EQ(ntohs(InternetChecksum({})), 0xffff);
}

TEST(ChecksumTest, MatchesReferenceOnRandomBuffersAndSplits) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 500; ++iter) {
    std::vector<uint8_t> b(rng() % 3000);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    ASSERT_EQ(ntohs(InternetChecksum(b)), ReferenceChecksum(b)) << "size " << b.size();
    // A partial sum carried across an even split gives the same result.
    const size_t split = b.empty() ? 0 : (rng() % b.size()) & ~size_t{1};
    const absl::Span<const uint8_t> all(b);
    const uint32_t first = ChecksumPartial(all.first(split));
    ASSERT_EQ(ChecksumFold(ChecksumPartial(all.subspan(split), first)), InternetChecksum(b));
  }
}

TEST(ChecksumTest, AllOnesDoesNotOverflow) {
  const std::vector<uint8_t> b(65536, 0xff);
  EXPECT_EQ(ntohs(InternetChecksum(b)), ReferenceChecksum(b));
  // Carry an almost-full 32-bit partial sum into a big buffer.
  EXPECT_EQ(ChecksumFold(ChecksumPartial(b, 0xfffffff0u)),
            ChecksumFold(ChecksumPartial(Hex("fffffff0"), ChecksumPartial(b))));
}

TEST(ChecksumTest, PseudoHeaderMatchesExplicitBytes) {
  // src 10.200.0.2, dst 10.200.0.1, zero, proto 17, length 17.
  const std::vector<uint8_t> pseudo = Hex("0ac80002 0ac80001 0011 0011");
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum(0x0ac80002, 0x0ac80001, 17, 17)),
            ChecksumFold(ChecksumPartial(pseudo)));
  // With all-ones addresses the 32-bit sum must still fold right.
  const std::vector<uint8_t> big = Hex("ffffffff ffffffff 00ff ffff");
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum(0xffffffff, 0xffffffff, 255, 0xffff)),
            ChecksumFold(ChecksumPartial(big)));
}

TEST(ChecksumTest, StoredChecksumFoldsToZeroAndCorruptionIsSeen) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<uint8_t> b(2 + 2 * (rng() % 100));
    for (size_t i = 2; i < b.size(); ++i) b[i] = static_cast<uint8_t>(rng());
    const uint16_t c = InternetChecksum(b);
    std::memcpy(b.data(), &c, 2);
    ASSERT_EQ(InternetChecksum(b), 0);
    b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));  // one bit flip
    ASSERT_NE(InternetChecksum(b), 0);
  }
}

}  // namespace
}  // namespace ix::net

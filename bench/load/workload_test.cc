// Tests for ix-load workloads and distributions: memcache request formatting, response parsing
// (complete, partial at every byte, errors, garbage), echo verification, size and key sampling.
#include "bench/load/workload.h"

#include <map>

#include "gtest/gtest.h"

namespace ix::load {
namespace {

std::unique_ptr<MemcacheWorkload> Memcache(double get_ratio = 0.5, uint64_t keys = 100,
                                           uint32_t key_size = 8,
                                           const std::string& value = "10",
                                           const std::string& key_dist = "uniform") {
  MemcacheOptions o;
  o.get_ratio = get_ratio;
  o.num_keys = keys;
  o.key_size = key_size;
  o.value_size = *SizeDist::Parse(value);
  o.key_dist = *KeyDist::Parse(key_dist, keys);
  auto w = MemcacheWorkload::Create(o);
  EXPECT_TRUE(w.ok()) << w.status();
  return std::move(*w);
}

Request Get(uint64_t key) { return {.key = key, .op = Op::kGet}; }
Request Set(uint64_t key, uint32_t size) { return {.key = key, .size = size, .op = Op::kSet}; }

// The value memcached would return for key k with n bytes.
std::string Value(uint64_t k, size_t n) {
  std::string v;
  for (size_t j = 0; j < n; ++j) v += MemcacheWorkload::ValueByte(k, j);
  return v;
}

TEST(MemcacheFormatTest, KeysGetsAndSets) {
  EXPECT_EQ(MemcacheWorkload::KeyName(42, 8), "k0000042");
  EXPECT_EQ(MemcacheWorkload::KeyName(0, 2), "k0");
  EXPECT_EQ(MemcacheWorkload::FormatGet("k0000042"), "get k0000042\r\n");
  const std::string set = MemcacheWorkload::FormatSet("k0000003", 3, 5);
  EXPECT_EQ(set, "set k0000003 0 0 5\r\n" + Value(3, 5) + "\r\n");
}

TEST(MemcacheFormatTest, NextProducesTheMixAndMatchingBytes) {
  auto w = Memcache(0.75, 50, 6, "uniform:3:9");
  Rng rng(1);
  size_t gets = 0, n = 4000;
  for (size_t i = 0; i < n; ++i) {
    Request r;
    std::string out;
    w->Next(rng, &r, &out);
    ASSERT_LT(r.key, 50u);
    const std::string key = MemcacheWorkload::KeyName(r.key, 6);
    if (r.op == Op::kGet) {
      ++gets;
      ASSERT_EQ(out, "get " + key + "\r\n");
    } else {
      ASSERT_EQ(r.op, Op::kSet);
      ASSERT_GE(r.size, 3u);
      ASSERT_LE(r.size, 9u);
      ASSERT_EQ(out, MemcacheWorkload::FormatSet(key, r.key, r.size));
    }
  }
  EXPECT_NEAR(static_cast<double>(gets) / n, 0.75, 0.03);
}

TEST(MemcacheFormatTest, RejectsBadOptions) {
  MemcacheOptions o;
  o.num_keys = 1000;
  o.key_dist = *KeyDist::Parse("uniform", 1000);
  o.key_size = 3;  // "k" + 3 digits needs 4
  EXPECT_FALSE(MemcacheWorkload::Create(o).ok());
  o.key_size = 251;
  EXPECT_FALSE(MemcacheWorkload::Create(o).ok());
  o.key_size = 4;
  EXPECT_TRUE(MemcacheWorkload::Create(o).ok());
  o.get_ratio = 1.5;
  EXPECT_FALSE(MemcacheWorkload::Create(o).ok());
}

TEST(MemcacheParseTest, StoredAndSetErrors) {
  auto w = Memcache();
  ParseResult r = w->Parse(Set(1, 10), "STORED\r\n");
  EXPECT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.consumed, 8u);
  for (const char* line : {"NOT_STORED\r\n", "SERVER_ERROR out of memory\r\n", "ERROR\r\n",
                           "CLIENT_ERROR bad data chunk\r\n", "EXISTS\r\n"}) {
    r = w->Parse(Set(1, 10), line);
    EXPECT_EQ(r.status, ParseStatus::kDone) << line;
    EXPECT_EQ(r.outcome, Outcome::kServerError) << line;
    EXPECT_EQ(r.consumed, strlen(line));
  }
  EXPECT_EQ(w->Parse(Set(1, 10), "HELLO\r\n").status, ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Set(1, 10), "STOR").status, ParseStatus::kNeedMore);
  EXPECT_EQ(w->Parse(Set(1, 10), std::string(5000, 'x')).status, ParseStatus::kProtocolError);
}

TEST(MemcacheParseTest, MissIsEnd) {
  auto w = Memcache();
  ParseResult r = w->Parse(Get(7), "END\r\nSTORED\r\n");
  EXPECT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.outcome, Outcome::kMiss);
  EXPECT_EQ(r.consumed, 5u);  // stops at the end of its own response
}

TEST(MemcacheParseTest, HitVerifiesKeyAndValue) {
  auto w = Memcache();
  const std::string key = MemcacheWorkload::KeyName(7, 8);
  const std::string resp = "VALUE " + key + " 0 12\r\n" + Value(7, 12) + "\r\nEND\r\n";
  ParseResult r = w->Parse(Get(7), resp + "END\r\n");
  EXPECT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.outcome, Outcome::kHit);
  EXPECT_EQ(r.consumed, resp.size());
  // With a CAS field (gets) too.
  const std::string cas = "VALUE " + key + " 5 3 991\r\n" + Value(7, 3) + "\r\nEND\r\n";
  EXPECT_EQ(w->Parse(Get(7), cas).outcome, Outcome::kHit);
  // Wrong bytes or another key: complete but bad.
  std::string bad = resp;
  bad[bad.find("\r\n") + 2] ^= 1;
  r = w->Parse(Get(7), bad);
  EXPECT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.outcome, Outcome::kBadData);
  EXPECT_EQ(r.consumed, resp.size());
  EXPECT_EQ(w->Parse(Get(8), resp).outcome, Outcome::kBadData);
  // Broken framing.
  EXPECT_EQ(w->Parse(Get(7), "VALUE " + key + " 0 12\r\n" + Value(7, 12) + "\r\nENX\r\n").status,
            ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Get(7), "VALUE " + key + " 0 12\r\n" + Value(7, 12) + "XX").status,
            ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Get(7), "VALUE " + key + " 0 abc\r\n").status,
            ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Get(7), "VALUE " + key + "\r\n").status, ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Get(7), "STORED\r\n").status, ParseStatus::kProtocolError);
  EXPECT_EQ(w->Parse(Get(7), "SERVER_ERROR busy\r\n").outcome, Outcome::kServerError);
}

TEST(MemcacheParseTest, EveryPartialPrefixNeedsMore) {
  auto w = Memcache();
  const std::string key = MemcacheWorkload::KeyName(3, 8);
  const std::string hit = "VALUE " + key + " 0 20\r\n" + Value(3, 20) + "\r\nEND\r\n";
  struct Case {
    Request req;
    std::string bytes;
    Outcome outcome;
  };
  for (const Case& c : {Case{Get(3), hit, Outcome::kHit}, Case{Get(3), "END\r\n", Outcome::kMiss},
                        Case{Set(3, 4), "STORED\r\n", Outcome::kOk}}) {
    for (size_t n = 0; n < c.bytes.size(); ++n) {
      ASSERT_EQ(w->Parse(c.req, c.bytes.substr(0, n)).status, ParseStatus::kNeedMore)
          << c.bytes << " prefix " << n;
    }
    const ParseResult r = w->Parse(c.req, c.bytes);
    EXPECT_EQ(r.status, ParseStatus::kDone);
    EXPECT_EQ(r.outcome, c.outcome);
    EXPECT_EQ(r.consumed, c.bytes.size());
  }
}

TEST(MemcacheParseTest, StreamOfPipelinedResponsesInPieces) {
  // Three responses in a row, delivered in 3-byte pieces, parsed as a connection would.
  auto w = Memcache();
  const std::string k1 = MemcacheWorkload::KeyName(1, 8);
  const std::string stream = "STORED\r\nVALUE " + k1 + " 0 4\r\n" + Value(1, 4) +
                             "\r\nEND\r\nEND\r\n";
  std::vector<Request> reqs = {Set(1, 4), Get(1), Get(2)};
  std::vector<Outcome> got;
  std::string buf;
  size_t next = 0;
  for (size_t i = 0; i < stream.size(); i += 3) {
    buf += stream.substr(i, 3);
    while (next < reqs.size()) {
      const ParseResult r = w->Parse(reqs[next], buf);
      ASSERT_NE(r.status, ParseStatus::kProtocolError);
      if (r.status == ParseStatus::kNeedMore) break;
      got.push_back(r.outcome);
      buf.erase(0, r.consumed);
      ++next;
    }
  }
  EXPECT_EQ(got, (std::vector<Outcome>{Outcome::kOk, Outcome::kHit, Outcome::kMiss}));
  EXPECT_TRUE(buf.empty());
}

TEST(EchoWorkloadTest, FormatsAndVerifies) {
  EchoWorkload w({*SizeDist::Parse("uniform:1:100")});
  Rng rng(3);
  Request a, b;
  std::string out;
  w.Next(rng, &a, &out);
  w.Next(rng, &b, &out);
  ASSERT_EQ(out.size(), a.size + b.size);
  EXPECT_NE(a.key, b.key);
  for (size_t n = 0; n < a.size; ++n) {
    ASSERT_EQ(w.Parse(a, absl::string_view(out).substr(0, n)).status, ParseStatus::kNeedMore);
  }
  ParseResult r = w.Parse(a, out);
  EXPECT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.consumed, a.size);
  r = w.Parse(b, absl::string_view(out).substr(a.size));
  EXPECT_EQ(r.outcome, Outcome::kOk);
  // The second payload parsed as the first one's reply does not verify (different sequence).
  std::string swapped = out.substr(a.size) + out.substr(0, a.size);
  if (b.size >= a.size) {
    EXPECT_EQ(w.Parse(a, swapped).outcome, Outcome::kBadData);
  }
}

TEST(SizeDistTest, ParsesAndSamplesInRange) {
  Rng rng(9);
  EXPECT_EQ(SizeDist::Parse("64")->Sample(rng), 64u);
  EXPECT_EQ(SizeDist::Parse("fixed:7")->Sample(rng), 7u);
  auto u = *SizeDist::Parse("uniform:10:20");
  std::map<uint32_t, int> seen;
  for (int i = 0; i < 5000; ++i) seen[u.Sample(rng)]++;
  EXPECT_EQ(seen.begin()->first, 10u);
  EXPECT_EQ(seen.rbegin()->first, 20u);
  EXPECT_EQ(seen.size(), 11u);
  auto e = *SizeDist::Parse("exp:300");
  double sum = 0;
  for (int i = 0; i < 20000; ++i) sum += e.Sample(rng);
  EXPECT_NEAR(sum / 20000, 300, 15);
  auto nd = *SizeDist::Parse("normal:500:50");
  sum = 0;
  for (int i = 0; i < 20000; ++i) sum += nd.Sample(rng);
  EXPECT_NEAR(sum / 20000, 500, 3);
  for (const char* bad : {"", "0", "-3", "1.5", "uniform:5", "uniform:9:3", "exp:0", "zipf:1",
                          "fixed:2000000", "abc"}) {
    EXPECT_FALSE(SizeDist::Parse(bad).ok()) << bad;
  }
}

TEST(KeyDistTest, UniformAndZipf) {
  Rng rng(11);
  auto u = *KeyDist::Parse("uniform", 10);
  std::vector<int> hist(10);
  for (int i = 0; i < 50000; ++i) hist[u.Sample(rng)]++;
  for (int c : hist) EXPECT_NEAR(c, 5000, 400);
  // zipf:1 over 100 keys: P(key 0) = 1/H_100 = 0.1928, P(key 1) = half of that.
  auto z = *KeyDist::Parse("zipf:1", 100);
  std::vector<int> zh(100);
  const int n = 100000;
  for (int i = 0; i < n; ++i) zh[z.Sample(rng)]++;
  EXPECT_NEAR(zh[0] / static_cast<double>(n), 0.1928, 0.01);
  EXPECT_NEAR(zh[1] / static_cast<double>(n), 0.0964, 0.006);
  EXPECT_GT(zh[99], 0);
  EXPECT_FALSE(KeyDist::Parse("zipf:0", 10).ok());
  EXPECT_FALSE(KeyDist::Parse("zipf:x", 10).ok());
  EXPECT_FALSE(KeyDist::Parse("pareto", 10).ok());
  EXPECT_FALSE(KeyDist::Parse("uniform", 0).ok());
}

}  // namespace
}  // namespace ix::load

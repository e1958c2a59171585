// Hostile-input tests for KvSession: binary junk, huge lines, bad lengths, random mutations
// of valid traffic. The session must never crash, must keep its memory bounded, and must
// keep serving well-formed commands afterwards unless it closed.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "examples/kv/protocol.h"
#include "gtest/gtest.h"

namespace ix::kv {
namespace {

constexpr uint64_t kT0 = 1'700'000'000;
constexpr size_t kMaxItemBytes = 64 * 1024;
// Line buffer + key buffer + one value buffer + slack.
constexpr size_t kBufferBound = 2 * 4096 + kMaxItemBytes + 1024;

struct Fixture {
  KvStore store{KvStoreOptions{.memory_limit_bytes = 1 << 20, .max_item_bytes = kMaxItemBytes}};
  KvSession session{&store};
  std::string out;
  bool closed = false;
  size_t max_buffered = 0;

  // Feeds `in` in random chunks, draining output like a transport. Returns false on close.
  bool Feed(std::string_view in, std::mt19937_64& rng) {
    std::string pending;
    size_t pos = 0;
    bool more = false;  // the session asked to be called again (output_full)
    for (int guard = 0; guard < 1'000'000 && (pos < in.size() || !pending.empty() || more);
         ++guard) {
      size_t n = std::min<size_t>(1 + rng() % 300, in.size() - pos);
      pending.append(in.substr(pos, n));
      pos += n;
      KvProcessResult r = session.Process(pending, kT0, &out);
      EXPECT_LE(r.consumed, pending.size());
      pending.erase(0, r.consumed);
      max_buffered = std::max(max_buffered, session.buffered_bytes());
      if (out.size() > (8u << 20)) out.clear();
      if (r.close) {
        closed = true;
        return false;
      }
      more = r.output_full;
      if (n == 0 && !more && !pending.empty()) {
        ADD_FAILURE() << "session left input unconsumed without output_full";
        break;
      }
    }
    return true;
  }
};

std::string RandomJunk(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(KvProtocolHostileTest, BinaryJunkNeverCrashesAndStaysBounded) {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    Fixture f;
    f.Feed(RandomJunk(rng, 1 + rng() % 20000), rng);
    EXPECT_LE(f.max_buffered, kBufferBound) << "trial " << trial;
  }
}

TEST(KvProtocolHostileTest, JunkWithNewlinesKeepsTheSessionUsable) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    Fixture f;
    std::string junk = RandomJunk(rng, rng() % 1500);
    for (char& c : junk) {
      if (rng() % 20 == 0) c = '\n';
    }
    // Avoid starting a storage command whose data block would eat the probe below.
    junk += "\r\n";
    if (!f.Feed(junk, rng)) continue;  // closed on a long line: acceptable
    // Any pending data block or swallow (from a junk line that happened to parse as a
    // storage command) is bounded by kMaxItemBytes; flush it with that many CR LFs.
    f.Feed(std::string(kMaxItemBytes + 4, '\n'), rng);
    f.out.clear();
    ASSERT_TRUE(f.Feed("set probe 0 0 2\r\nok\r\nget probe\r\n", rng));
    EXPECT_NE(f.out.find("VALUE probe 0 2\r\nok\r\nEND\r\n"), std::string::npos)
        << "trial " << trial << " out: " << f.out.substr(0, 200);
  }
}

TEST(KvProtocolHostileTest, HugeLinesAndLengths) {
  std::mt19937_64 rng(7);
  {
    Fixture f;
    EXPECT_FALSE(f.Feed(std::string(1 << 20, 'x'), rng));  // no newline in 1 MiB
    EXPECT_LE(f.max_buffered, kBufferBound);
  }
  {
    Fixture f;  // an endless multi-get line stays bounded
    std::string line = "get";
    while (line.size() < (4u << 20)) line += " k" + std::to_string(line.size());
    EXPECT_TRUE(f.Feed(line, rng));
    EXPECT_LE(f.max_buffered, kBufferBound);
    EXPECT_TRUE(f.Feed("\r\nversion\r\n", rng));
    EXPECT_NE(f.out.find("END\r\nVERSION"), std::string::npos);
  }
  for (const char* line :
       {"set k 0 0 -1\r\n", "set k 0 0 -2147483648\r\n", "set k 0 0 99999999999999999999\r\n",
        "set k 0 0 2147483647\r\n", "set k 0 0 4294967295\r\n", "cas k 0 0 1 -1\r\n",
        "set k -1 0 1\r\n", "set k 0 -99999999999 1\r\nx\r\n", "incr k 99999999999999999999\r\n",
        "touch k 99999999999\r\n", "gat 99999999999 k\r\n", "flush_all -5\r\n",
        "get \x7f\r\n", "delete \xff\r\n"}) {
    Fixture f;
    f.Feed(line, rng);
    EXPECT_FALSE(f.closed) << line;
    EXPECT_NE(f.out, "") << line;
    EXPECT_LE(f.max_buffered, kBufferBound) << line;
  }
}

TEST(KvProtocolHostileTest, DataBlockLengthMismatches) {
  std::mt19937_64 rng(3);
  for (int declared = 0; declared < 12; ++declared) {
    for (int actual = 0; actual < 12; ++actual) {
      Fixture f;
      std::string in = "set k 0 0 " + std::to_string(declared) + "\r\n" +
                       std::string(actual, 'd') + "\r\n";
      f.Feed(in, rng);
      f.Feed(std::string(16, '\n'), rng);  // finish any short block
      f.out.clear();
      ASSERT_TRUE(f.Feed("get k\r\n", rng));
      std::string want = declared == actual ? "VALUE k 0 " + std::to_string(declared) + "\r\n" +
                                                  std::string(actual, 'd') + "\r\nEND\r\n"
                                            : "END\r\n";
      EXPECT_EQ(f.out, want) << declared << " vs " << actual;
    }
  }
}

// Valid traffic with random byte flips, insertions and deletions.
TEST(KvProtocolHostileTest, MutatedValidTraffic) {
  std::mt19937_64 rng(2024);
  std::string base;
  for (int i = 0; i < 200; ++i) {
    std::string k = "k" + std::to_string(i % 17);
    switch (i % 6) {
      case 0: base += "set " + k + " 1 0 3\r\nabc\r\n"; break;
      case 1: base += "get " + k + " k1 k2\r\n"; break;
      case 2: base += "incr " + k + " 5\r\n"; break;
      case 3: base += "append " + k + " 0 0 2 noreply\r\nxy\r\n"; break;
      case 4: base += "gets " + k + "\r\n"; break;
      case 5: base += "delete " + k + "\r\n"; break;
    }
  }
  for (int trial = 0; trial < 300; ++trial) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 20);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = static_cast<char>(rng()); break;
        case 1: s.insert(at, 1, static_cast<char>(rng())); break;
        case 2: s.erase(at, 1); break;
      }
    }
    Fixture f;
    f.Feed(s, rng);
    EXPECT_LE(f.max_buffered, kBufferBound);
    EXPECT_LE(f.store.stats().bytes, f.store.options().memory_limit_bytes);
  }
}

}  // namespace
}  // namespace ix::kv

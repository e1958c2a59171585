// Unit tests for KvSession: every command's exact replies, noreply, multi-get, pipelining
// and arbitrary segmentation, expiry with fake time, output backpressure.
#include "examples/kv/protocol.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ix::kv {
namespace {

constexpr uint64_t kT0 = 1'700'000'000;

// Feeds `in` in one piece and returns everything the session wrote.
std::string RunWhole(KvSession& session, std::string_view in, uint64_t now = kT0) {
  std::string out;
  std::string pending(in);
  for (int i = 0; i < 100000; ++i) {
    KvProcessResult r = session.Process(pending, now, &out);
    pending.erase(0, r.consumed);
    if (!r.output_full) break;
  }
  return out;
}

std::string RunFresh(std::string_view in, uint64_t now = kT0) {
  KvStore store;
  KvSession session(&store);
  return RunWhole(session, in, now);
}

// Feeds `in` in chunks of the given sizes (cycled), like a transport would.
std::string RunChunked(KvSession& session, std::string_view in, std::vector<size_t> sizes,
                       uint64_t now = kT0) {
  std::string out;
  std::string pending;
  size_t pos = 0, k = 0;
  while (pos < in.size() || !pending.empty()) {
    size_t n = std::min(sizes[k++ % sizes.size()], in.size() - pos);
    pending.append(in.substr(pos, n));
    pos += n;
    KvProcessResult r = session.Process(pending, now, &out);
    pending.erase(0, r.consumed);
    if (r.close) break;
    if (!r.output_full && n == 0) break;
  }
  return out;
}

TEST(KvProtocolTest, SetGetAndMultiGet) {
  EXPECT_EQ(RunFresh("set a 5 0 3\r\nabc\r\nget a\r\n"),
            "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(RunFresh("get missing\r\n"), "END\r\n");
  EXPECT_EQ(RunFresh("set a 0 0 1\r\n1\r\nset b 1 0 2\r\n22\r\nget a nope b a\r\n"),
            "STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nVALUE b 1 2\r\n22\r\n"
            "VALUE a 0 1\r\n1\r\nEND\r\n");
  // Empty values, binary values containing CR LF, bare LF line endings, extra spaces.
  EXPECT_EQ(RunFresh("set e 0 0 0\r\n\r\nget e\r\n"), "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n");
  EXPECT_EQ(RunFresh(std::string("set b 0 0 4\r\n\r\n\0x\r\nget b\n", 25)),
            std::string("STORED\r\nVALUE b 0 4\r\n\r\n\0x\r\nEND\r\n", 32));
  EXPECT_EQ(RunFresh("set  k  0  0  1 \r\nx\r\nget   k  \r\n"),
            "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
  // Numbers may carry a '+' (strtoul does), not a '-' where unsigned.
  EXPECT_EQ(RunFresh("set k +1 0 +1\r\nx\r\nget k\r\nset j -1 0 1\r\n"),
            "STORED\r\nVALUE k 1 1\r\nx\r\nEND\r\nCLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k 4294967295 0 1\r\nx\r\nget k\r\n"),
            "STORED\r\nVALUE k 4294967295 1\r\nx\r\nEND\r\n");
}

TEST(KvProtocolTest, GetsAndCas) {
  KvStore store;
  KvSession s(&store);
  EXPECT_EQ(RunWhole(s, "set k 0 0 2\r\nv1\r\n"), "STORED\r\n");
  uint64_t cas = store.Get("k", kT0)->cas;
  EXPECT_EQ(RunWhole(s, "gets k\r\n"),
            "VALUE k 0 2 " + std::to_string(cas) + "\r\nv1\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "cas k 0 0 2 " + std::to_string(cas + 1) + "\r\nv2\r\n"),
            "EXISTS\r\n");
  EXPECT_EQ(RunWhole(s, "cas k 3 0 2 " + std::to_string(cas) + "\r\nv2\r\n"), "STORED\r\n");
  EXPECT_EQ(RunWhole(s, "cas nope 0 0 1 1\r\nx\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(RunWhole(s, "get k\r\n"), "VALUE k 3 2\r\nv2\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "cas k 0 0 1 abc\r\nx\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(RunWhole(s, "cas k 0 0 1\r\n"), "ERROR\r\n");
}

TEST(KvProtocolTest, AddReplaceAppendPrepend) {
  EXPECT_EQ(RunFresh("add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 0 0 1\r\nc\r\n"
                "replace z 0 0 1\r\nc\r\nappend k 0 0 2\r\n>>\r\nprepend k 0 0 2\r\n<<\r\n"
                "append z 0 0 1\r\nx\r\nprepend z 0 0 1\r\nx\r\nget k\r\n"),
            "STORED\r\nNOT_STORED\r\nSTORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\n"
            "NOT_STORED\r\nNOT_STORED\r\nVALUE k 0 5\r\n<<c>>\r\nEND\r\n");
}

TEST(KvProtocolTest, DeleteForms) {
  EXPECT_EQ(RunFresh("set k 0 0 1\r\nx\r\ndelete k\r\ndelete k\r\n"),
            "STORED\r\nDELETED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(RunFresh("set k 0 0 1\r\nx\r\ndelete k 0\r\nset k 0 0 1\r\nx\r\ndelete k 0 noreply\r\n"
                "get k\r\n"),
            "STORED\r\nDELETED\r\nSTORED\r\nEND\r\n");
  EXPECT_EQ(RunFresh("delete k 5\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_EQ(RunFresh("delete\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("delete a b c d\r\n"), "ERROR\r\n");
}

TEST(KvProtocolTest, IncrDecr) {
  EXPECT_EQ(RunFresh("incr n 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n"
                "set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\nget n\r\n"),
            "NOT_FOUND\r\nSTORED\r\n15\r\n0\r\nSTORED\r\n1\r\nVALUE n 0 1\r\n1\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set s 0 0 3\r\nabc\r\nincr s 1\r\ndecr s 1\r\n"),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(RunFresh("set n 0 0 1\r\n5\r\nincr n -1\r\nincr n abc\r\nincr n 18446744073709551616\r\n"
                "incr n\r\n"),
            "STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n"
            "CLIENT_ERROR invalid numeric delta argument\r\n"
            "CLIENT_ERROR invalid numeric delta argument\r\nERROR\r\n");
  EXPECT_EQ(RunFresh("set n 0 0 1\r\n5\r\nincr n 18446744073709551615\r\n"), "STORED\r\n4\r\n");
}

TEST(KvProtocolTest, TouchAndGat) {
  KvStore store;
  KvSession s(&store);
  EXPECT_EQ(RunWhole(s, "touch k 10\r\nset k 0 10 1\r\nx\r\ntouch k 100\r\n"),
            "NOT_FOUND\r\nSTORED\r\nTOUCHED\r\n");
  EXPECT_EQ(RunWhole(s, "get k\r\n", kT0 + 50), "VALUE k 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "touch k abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(RunWhole(s, "gat 5 k nope\r\n", kT0 + 50), "VALUE k 0 1\r\nx\r\nEND\r\n");
  uint64_t cas = store.Get("k", kT0 + 50)->cas;
  EXPECT_EQ(RunWhole(s, "gats 5 k\r\n", kT0 + 54),
            "VALUE k 0 1 " + std::to_string(cas) + "\r\nx\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "get k\r\n", kT0 + 59), "END\r\n");
  EXPECT_EQ(RunWhole(s, "gat x k\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(RunWhole(s, "gat 10\r\n"), "END\r\n");
  EXPECT_EQ(RunWhole(s, "gat\r\n"), "ERROR\r\n");
}

TEST(KvProtocolTest, ExptimeSemanticsWithFakeTime) {
  KvStore store;
  KvSession s(&store);
  const std::string abs_exptime = std::to_string(kT0 + 100);
  EXPECT_EQ(RunWhole(s, "set rel 0 30 1\r\nr\r\nset abs 0 " + abs_exptime +
                            " 1\r\na\r\nset neg 0 -1 1\r\nn\r\nset old 0 2592001 1\r\no\r\n"
                            "get rel abs neg old\r\n"),
            "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"
            "VALUE rel 0 1\r\nr\r\nVALUE abs 0 1\r\na\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "get rel abs\r\n", kT0 + 29),
            "VALUE rel 0 1\r\nr\r\nVALUE abs 0 1\r\na\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "get rel abs\r\n", kT0 + 30), "VALUE abs 0 1\r\na\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "get rel abs\r\n", kT0 + 100), "END\r\n");
  // Negative exptime on an existing key: stored and expired at once.
  EXPECT_EQ(RunWhole(s, "set k 0 0 1\r\nx\r\nset k 0 -5 1\r\ny\r\nget k\r\n", kT0 + 100),
            "STORED\r\nSTORED\r\nEND\r\n");
}

TEST(KvProtocolTest, NoreplyOnEveryCommand) {
  KvStore store;
  KvSession s(&store);
  EXPECT_EQ(RunWhole(s, "set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\n2\r\n"
                        "add b 0 0 1 noreply\r\n2\r\nreplace b 0 0 1 noreply\r\n3\r\n"
                        "append b 0 0 1 noreply\r\n4\r\nprepend b 0 0 1 noreply\r\n5\r\n"
                        "incr a 10 noreply\r\ndecr a 1 noreply\r\ntouch a 100 noreply\r\n"
                        "delete zz noreply\r\nflush_all 0 noreply\r\nverbosity 1 noreply\r\n"
                        "set c 0 0 1 noreply\r\n9\r\n"),
            "");
  uint64_t cas = store.Get("c", kT0)->cas;
  EXPECT_EQ(RunWhole(s, "cas c 0 0 1 " + std::to_string(cas) + " noreply\r\n8\r\n"
                        "cas c 0 0 1 1 noreply\r\n7\r\ndelete c noreply\r\ndelete c noreply\r\n"
                        "get c\r\n"),
            "END\r\n");
  // Errors detected after noreply was parsed are suppressed too (memcached does).
  EXPECT_EQ(RunWhole(s, "set k 0 0 1 noreply\r\nxyz\r\nget k\r\n"), "ERROR\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "set k 0 0 2 noreply\r\n12\r\nincr k x noreply\r\nget k\r\n"),
            "VALUE k 0 2\r\n12\r\nEND\r\n");
  // Before flush_all noreply, the effect of all the commands above was real.
  EXPECT_EQ(store.stats().cmd_flush, 1u);
}

TEST(KvProtocolTest, FlushAllForms) {
  KvStore store;
  KvSession s(&store);
  EXPECT_EQ(RunWhole(s, "set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\n"), "STORED\r\nOK\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "set a 0 0 1\r\n1\r\nflush_all 10\r\nget a\r\n"),
            "STORED\r\nOK\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
  EXPECT_EQ(RunWhole(s, "get a\r\n", kT0 + 10), "END\r\n");
  EXPECT_EQ(RunWhole(s, "flush_all x\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(RunWhole(s, "flush_all 1 2 3\r\n"), "ERROR\r\n");
}

TEST(KvProtocolTest, VersionVerbosityStatsQuit) {
  KvStore store;
  KvSession s(&store, KvSessionOptions{.server_start_s = kT0 - 7, .pid = 1234});
  EXPECT_EQ(RunWhole(s, "version\r\n"), "VERSION 1.6.0-ix\r\n");
  EXPECT_EQ(RunWhole(s, "verbosity 1\r\nverbosity\r\nverbosity x\r\n"),
            "OK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n");
  std::string stats = RunWhole(s, "set a 0 0 1\r\n1\r\nget a b\r\nstats\r\n");
  EXPECT_NE(stats.find("STAT pid 1234\r\n"), std::string::npos) << stats;
  EXPECT_NE(stats.find("STAT uptime 7\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT get_hits 1\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT get_misses 1\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT curr_items 1\r\n"), std::string::npos);
  EXPECT_NE(stats.find("STAT curr_connections 1\r\n"), std::string::npos);
  EXPECT_EQ(stats.substr(stats.size() - 5), "END\r\n");
  EXPECT_EQ(RunWhole(s, "stats reset\r\nstats bogus\r\nstats items\r\n"),
            "RESET\r\nERROR\r\nEND\r\n");
  EXPECT_EQ(store.stats().get_hits, 0u);
  EXPECT_EQ(store.stats().curr_items, 1u);
  // quit closes; the rest of the input is ignored.
  std::string out;
  KvProcessResult r = s.Process(std::string_view("version\r\nquit\r\nversion\r\n"), kT0, &out);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(out, "VERSION 1.6.0-ix\r\n");
  EXPECT_TRUE(s.closed());
  out.clear();
  r = s.Process(std::string_view("version\r\n"), kT0, &out);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(out, "");
}

TEST(KvProtocolTest, ErrorsExactlyAsMemcached) {
  EXPECT_EQ(RunFresh("bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("x\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("GET a\r\n"), "ERROR\r\n");  // commands are case-sensitive
  EXPECT_EQ(RunFresh("get\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("set k 0 0\r\n"), "ERROR\r\n");
  EXPECT_EQ(RunFresh("set k 0 0 1 noreply extra\r\n"), "ERROR\r\n");
  const std::string key250(250, 'k'), key251(251, 'k');
  EXPECT_EQ(RunFresh("set " + key250 + " 0 0 1\r\nx\r\nget " + key250 + "\r\n"),
            "STORED\r\nVALUE " + key250 + " 0 1\r\nx\r\nEND\r\n");
  // A rejected command line does not swallow the data block: it is read as a command.
  EXPECT_EQ(RunFresh("set " + key251 + " 0 0 1\r\nx\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(RunFresh("get " + key251 + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k x 0 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k 4294967296 0 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k 0 x 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k 0 0 -1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(RunFresh("set k 0 0 x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  // Bad data chunk: the declared length is read, then the CRLF must follow.
  EXPECT_EQ(RunFresh("set k 0 0 3\r\nabcde\r\nget k\r\n"),
            "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
  // Too little data: the next command's bytes complete the block, the rest is garbage.
  EXPECT_EQ(RunFresh("set k 0 0 5\r\nab\r\nget k\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
}

// memcached's text protocol splits command lines on spaces only and checks nothing in a key but
// its length, so keys may hold control characters, DEL and bytes >= 0x80 (protocol.txt asks
// clients not to send those, but real clients do). memcaslap (libmemcached-tools) starts every
// key with an 8-byte binary prefix, 0x10 0x10 ... per connection: rejecting those keys failed
// all of its sets with "CLIENT_ERROR bad command line format".
TEST(KvProtocolTest, KeysWithControlAndHighBytesAreAcceptedAsByMemcached) {
  const std::string memcaslap_key = std::string(8, '\x10') + "K7V9VKB1-i6Zxdj6wuezhyDZZ3Snv";
  const std::string value(1024, 'v');
  const std::string set = "set " + memcaslap_key + " 0 0 1024\r\n" + value + "\r\n";
  const std::string want_get =
      "VALUE " + memcaslap_key + " 0 1024\r\n" + value + "\r\nEND\r\n";
  EXPECT_EQ(RunFresh(set + "get " + memcaslap_key + "\r\n"), "STORED\r\n" + want_get);
  {  // the same pipelined three times, fed in every segmentation a transport might produce
    KvStore store;
    KvSession s(&store);
    const std::string script = set + set + "get " + memcaslap_key + "\r\n" + set;
    const std::string want = "STORED\r\nSTORED\r\n" + want_get + "STORED\r\n";
    EXPECT_EQ(RunChunked(s, script, {1}), want);
    EXPECT_EQ(RunChunked(s, script, {7, 1, 300}), want);
    EXPECT_EQ(RunChunked(s, script, {1105}), want);  // memcaslap's segment: line + value
  }
  // Every other byte but space, NUL and the line's end: each command that takes a key.
  {
    KvStore store;
    KvSession s(&store);
    EXPECT_EQ(RunWhole(s, "set a\x01" "b 0 0 1\r\nx\r\nget a\x01" "b\r\n"),
              "STORED\r\nVALUE a\x01" "b 0 1\r\nx\r\nEND\r\n");
    std::optional<KvItemView> item = store.Get("a\x01" "b", kT0);
    EXPECT_TRUE(item.has_value());
    const std::string cas = item.has_value() ? std::to_string(item->cas) : "(not stored)";
    EXPECT_EQ(RunWhole(s, "gets a\x01" "b\r\ncas a\x01" "b 0 0 1 " + cas + "\r\ny\r\n"
                          "delete a\x01" "b\r\nget a\x01" "b\r\n"),
              "VALUE a\x01" "b 0 1 " + cas + "\r\nx\r\nEND\r\nSTORED\r\nDELETED\r\nEND\r\n");
  }
  EXPECT_EQ(RunFresh("set a\tb 0 0 1\r\nx\r\nget a\tb\r\nget a\r\n"),
            "STORED\r\nVALUE a\tb 0 1\r\nx\r\nEND\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set \x7f\xff\x80 1 0 1\r\nx\r\nget \x7f\xff\x80\r\n"),
            "STORED\r\nVALUE \x7f\xff\x80 1 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set \x0b\x0c\x1f 0 0 1\r\nx\r\nget \x0b\x0c\x1f\r\n"),
            "STORED\r\nVALUE \x0b\x0c\x1f 0 1\r\nx\r\nEND\r\n");
  // CR inside a key, and a key ending in CR (only the line's last CR is the line end).
  EXPECT_EQ(RunFresh("set a\rb 0 0 1\r\nx\r\nget a\rb\r\n"),
            "STORED\r\nVALUE a\rb 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set k\r 0 0 1\r\nx\r\nget k\r\r\nget k\r\n"),
            "STORED\r\nVALUE k\r 0 1\r\nx\r\nEND\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set \x01 0 0 1\r\nx\r\nincr \x01 1\r\ntouch \x01 10\r\n"
                     "set n\x02 0 0 1\r\n5\r\nincr n\x02 2\r\ndecr n\x02 1\r\ntouch n\x02 5\r\n"
                     "gat 0 n\x02 \x01\r\nadd \x01 0 0 1\r\ny\r\nappend \x01 0 0 1\r\ny\r\n"
                     "get \x01\r\n"),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            "TOUCHED\r\nSTORED\r\n7\r\n6\r\nTOUCHED\r\nVALUE n\x02 0 1\r\n6\r\n"
            "VALUE \x01 0 1\r\nx\r\nEND\r\nNOT_STORED\r\nSTORED\r\nVALUE \x01 0 2\r\nxy\r\nEND\r\n");
  // The 250-byte limit counts these bytes like any others.
  const std::string key250(250, '\x01'), key251(251, '\x01');
  EXPECT_EQ(RunFresh("set " + key250 + " 0 0 1\r\nx\r\nget " + key250 + "\r\n"),
            "STORED\r\nVALUE " + key250 + " 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(RunFresh("set " + key251 + " 0 0 1\r\nx\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  {  // a multi-get too long to buffer, whose keys are streamed, takes them as well
    KvStore store;
    KvSession s(&store);
    EXPECT_EQ(RunWhole(s, "set \x10k 0 0 1\r\nx\r\n"), "STORED\r\n");
    std::string line = "get";
    while (line.size() < 3000) line += " \x10" "a" + std::to_string(line.size());
    line += " \x10k\r\n";
    EXPECT_EQ(RunChunked(s, line, {100}), "VALUE \x10k 0 1\r\nx\r\nEND\r\n");
  }
  // NUL stays refused: memcached's C-string tokenizer would silently cut the line there
  // ("set a\0b 0 0 1" becomes "set a": ERROR); ix-kv says the line is malformed instead.
  EXPECT_EQ(RunFresh(std::string("set a\0b 0 0 1\r\nx\r\n", 18)),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(RunFresh(std::string("get a\0b\r\n", 9)), "CLIENT_ERROR bad command line format\r\n");
}

TEST(KvProtocolTest, TooLargeValueIsSwallowed) {
  KvStore store(KvStoreOptions{.memory_limit_bytes = 64 << 20, .max_item_bytes = 4096});
  KvSession s(&store);
  const std::string big(5000, 'v');
  EXPECT_EQ(RunWhole(s, "set k 0 0 1\r\nx\r\nset k 0 0 5000\r\n" + big + "\r\nget k\r\n"),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n");
  // Swallowed data looking like commands is not executed, even byte by byte.
  const std::string tricky = "set x 0 0 1\r\ny\r\n" + std::string(4990, 'z');
  EXPECT_EQ(RunChunked(s, "set k 0 0 5006\r\n" + tricky + "\r\nget x\r\n", {1}),
            "SERVER_ERROR object too large for cache\r\nEND\r\n");
  EXPECT_LT(s.buffered_bytes(), 4096u);
  // Huge declared lengths are swallowed without being buffered.
  std::string out;
  KvProcessResult r = s.Process(std::string_view("set k 0 0 2147483647\r\n"), kT0, &out);
  EXPECT_EQ(out, "SERVER_ERROR object too large for cache\r\n");
  EXPECT_FALSE(r.close);
  for (int i = 0; i < 100; ++i) r = s.Process(std::string(65536, 'q'), kT0, &out);
  EXPECT_LT(s.buffered_bytes(), 4096u);
}

// A script touching every command; its output must not depend on how it is split.
std::string Script() {
  std::string s;
  s += "set a 1 0 5\r\nhello\r\nset b 2 0 3\r\nwor\r\nappend b 0 0 2\r\nld\r\n";
  s += "get a b c\r\ngets a\r\nadd a 0 0 1\r\nx\r\nreplace c 0 0 1\r\nx\r\n";
  s += "set n 0 0 2\r\n41\r\nincr n 1\r\ndecr n 50\r\nincr n 7 noreply\r\nget n\r\n";
  s += "touch a 100\r\ndelete b\r\ndelete b\r\nbogus command\r\nversion\r\n";
  s += "set bin 0 0 6\r\n\r\n\r\n\r\n\r\nget bin\r\nprepend a 0 0 2\r\n>>\r\nget a\r\n";
  s += "set bad 0 0 2\r\nxyz\r\nverbosity 0\r\nflush_all\r\nget a n bin\r\n";
  for (int i = 0; i < 50; ++i) {
    s += "set key" + std::to_string(i) + " 0 0 " + std::to_string(i) + "\r\n" +
         std::string(i, static_cast<char>('a' + i % 26)) + "\r\n";
  }
  s += "get";
  for (int i = 0; i < 50; ++i) s += " key" + std::to_string(i);
  s += "\r\n";
  return s;
}

TEST(KvProtocolTest, PipelinedAndSegmentedInputGiveTheSameOutput) {
  const std::string script = Script();
  std::string whole;
  {
    KvStore store;
    KvSession s(&store);
    whole = RunWhole(s, script);
  }
  EXPECT_NE(whole.find("VALUE key49 0 49\r\n"), std::string::npos);
  EXPECT_EQ(whole.find("VALUE a"), whole.find("VALUE a 1 5\r\nhello"));
  for (std::vector<size_t> sizes :
       std::vector<std::vector<size_t>>{{1}, {2}, {3}, {7}, {13, 1, 2}, {100}, {4096}}) {
    KvStore store;
    KvSession s(&store);
    EXPECT_EQ(RunChunked(s, script, sizes), whole) << "chunk size " << sizes[0];
    EXPECT_LE(s.buffered_bytes(), 8192u);
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> sizes;
    for (int i = 0; i < 16; ++i) sizes.push_back(1 + rng() % 64);
    KvStore store;
    KvSession s(&store);
    EXPECT_EQ(RunChunked(s, script, sizes), whole) << "trial " << trial;
  }
}

TEST(KvProtocolTest, LongLinesCloseExceptMultiGet) {
  {
    KvStore store;
    KvSession s(&store);
    std::string out;
    KvProcessResult r = s.Process(std::string(3000, 'a'), kT0, &out);
    EXPECT_TRUE(r.close);
    EXPECT_EQ(out, "SERVER_ERROR command line too long\r\n");
  }
  {  // Also when the newline is there, and whatever the segmentation.
    KvStore store;
    KvSession s(&store);
    EXPECT_EQ(RunChunked(s, "set " + std::string(2100, 'k') + " 0 0 1\r\nx\r\n", {5}),
              "SERVER_ERROR command line too long\r\n");
    EXPECT_TRUE(s.closed());
  }
  // A multi-get of 1000 keys (~9 KB line) streams; same result as many small gets.
  KvStore store;
  KvSession s(&store);
  std::string sets, get = "get", expected;
  for (int i = 0; i < 1000; ++i) {
    std::string k = "key" + std::to_string(i);
    if (i % 3 == 0) {
      sets += "set " + k + " 0 0 " + std::to_string(k.size()) + "\r\n" + k + "\r\n";
      expected += "VALUE " + k + " 0 " + std::to_string(k.size()) + "\r\n" + k + "\r\n";
    }
    get += " " + k;
  }
  get += "\r\n";
  expected += "END\r\n";
  RunWhole(s, sets);
  EXPECT_EQ(RunWhole(s, get), expected);
  EXPECT_EQ(RunChunked(s, get, {1}), expected);
  EXPECT_EQ(RunChunked(s, get, {700, 3}), expected);
  EXPECT_LE(s.buffered_bytes(), 3 * 4096u);
  // A too-long key inside a streamed multi-get: error, rest of the line dropped.
  std::string bad = "get key0 " + std::string(3000, 'x') + " key3\r\nget key3\r\n";
  EXPECT_EQ(RunChunked(s, bad, {64}),
            "VALUE key0 0 4\r\nkey0\r\nCLIENT_ERROR bad command line format\r\n"
            "VALUE key3 0 4\r\nkey3\r\nEND\r\n");
  EXPECT_FALSE(s.closed());
}

TEST(KvProtocolTest, OutputBackpressure) {
  KvStore store;
  KvSession s(&store, KvSessionOptions{.output_soft_limit_bytes = 10000});
  const std::string value(4000, 'v');
  std::string in;
  for (int i = 0; i < 5; ++i) {
    in += "set k" + std::to_string(i) + " 0 0 4000\r\n" + value + "\r\n";
  }
  EXPECT_EQ(RunWhole(s, in), "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n");
  std::string query = "get k0 k1 k2 k3 k4\r\nget k0 k1 k2 k3 k4\r\nversion\r\n";
  std::string all, out;
  std::string pending = query;
  int calls = 0;
  size_t max_out = 0;
  while (calls < 100) {
    ++calls;
    KvProcessResult r = s.Process(pending, kT0, &out);
    pending.erase(0, r.consumed);
    max_out = std::max(max_out, out.size());
    all += out;
    out.clear();  // "sent"
    if (!r.output_full) break;
  }
  EXPECT_GT(calls, 3);
  EXPECT_LT(max_out, 10000u + 4100u);  // the limit plus one value
  std::string one;
  for (int i = 0; i < 5; ++i) {
    one += "VALUE k" + std::to_string(i) + " 0 4000\r\n" + value + "\r\n";
  }
  EXPECT_EQ(all, one + "END\r\n" + one + "END\r\nVERSION 1.6.0-ix\r\n");
}

TEST(KvProtocolTest, ConnectionCounters) {
  KvStore store;
  {
    KvSession a(&store);
    KvSession b(&store);
    EXPECT_EQ(store.stats().curr_connections, 2u);
  }
  EXPECT_EQ(store.stats().curr_connections, 0u);
  EXPECT_EQ(store.stats().total_connections, 2u);
}

}  // namespace
}  // namespace ix::kv

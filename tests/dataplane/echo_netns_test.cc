// Integration tests: ix-echo on AF_XDP in namespace A against real Linux peers in namespace B
// (ping, socat, curl, sockperf, a python client with 10,000 connections, hping3). Root only;
// exits 77 (skip) otherwise. Each suite runs as its own meson test (--gtest_filter).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>
#include <memory>
#include <string>
#include <thread>
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/dataplane/echo_netns.h"

namespace ix::testing {
namespace {

std::unique_ptr<EchoNetns> MakeEnv(const EchoNetnsOptions& o) {
  absl::StatusOr<std::unique_ptr<EchoNetns>> env = EchoNetns::Create(o);
  EXPECT_TRUE(env.ok()) << env.status();
  return env.ok() ? *std::move(env) : nullptr;
}

void ExpectCleanStop(EchoNetns* env) {
  EchoCounters final_counters;
  EXPECT_EQ(env->StopEcho(&final_counters), 0) << final_counters.text;
  printf("ix-echo final counters:\n%s", final_counters.text.c_str());
}

// --- a. ping, TCP echo with socat, UDP echo, curl ---------------------------------------------

TEST(Basic, PingIsAnswered) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  CommandResult r = env->RunInB("ping -c 5 -i 0.2 -W 2 " + env->ip_a(), 30);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "5 received")) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_GE(c->Get("stack.icmp_echo_replies"), 5u) << c->text;
  ExpectCleanStop(env.get());
}

TEST(Basic, TcpEchoOfSomeKilobytesComparesEqual) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  const std::string in = env->TempPath("small.in"), out = env->TempPath("small.out");
  CommandResult r = env->RunInB(
      absl::StrFormat("head -c 65536 /dev/urandom > %s && "
                      "socat -t 10 -T 20 STDIO TCP:%s:7 < %s > %s && cmp %s %s && echo SAME",
                      in, env->ip_a(), in, out, in, out),
      40);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "SAME")) << r.output;
  // A second, short exchange with nc on a fresh connection.
  r = env->RunInB(absl::StrFormat("printf 'hello ix\\n' | nc -N -q 5 -w 10 %s 7", env->ip_a()), 30);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hello ix\n");
  unlink(in.c_str());
  unlink(out.c_str());
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("echo.accepted"), 2u) << c->text;
  EXPECT_EQ(c->Get("echo.bytes_echoed"), 65536u + 9) << c->text;
  ExpectCleanStop(env.get());
}

TEST(Basic, UdpEchoOnTheSamePort) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  CommandResult r = env->RunInB(
      absl::StrFormat("printf 'datagram one' | socat -T 3 - UDP:%s:7", env->ip_a()), 20);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "datagram one");
  ExpectCleanStop(env.get());
}

TEST(Basic, CurlFetchesFromHttpMode) {
  auto env = MakeEnv({.mode = "http", .port = 80});
  ASSERT_NE(env, nullptr);
  // Two URLs on one curl: the second reuses the keep-alive connection.
  CommandResult r = env->RunInB(
      absl::StrFormat("curl -sS --max-time 10 -w '%%{http_code} %%{num_connects}\\n' "
                      "http://%s/ http://%s/again",
                      env->ip_a(), env->ip_a()),
      30);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hello from ix\n200 1\nhello from ix\n200 0\n");
  r = env->RunInB(absl::StrFormat("curl -sS --max-time 10 -H 'Connection: close' -i http://%s/",
                                  env->ip_a()),
                  30);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StartsWith(r.output, "HTTP/1.1 200 OK")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "Connection: close")) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("echo.http_requests"), 3u) << c->text;
  EXPECT_EQ(c->Get("echo.accepted"), 2u) << c->text;
  ExpectCleanStop(env.get());
}

// --- ICMP: Linux surfaces our port unreachable as ECONNREFUSED on a connected UDP socket -----

TEST(Icmp, ConnectedUdpSocketToAnUnboundPortSeesConnectionRefused) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  const std::string script = env->TempPath("udp_refused.py");
  {
    std::ofstream f(script);
    f << "import socket, sys\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "s.settimeout(5)\n"
         "s.connect((sys.argv[1], 9))\n"  // ix-echo binds UDP 7 only
         "s.send(b'anyone there?')\n"
         "try:\n"
         "    s.recv(100)\n"
         "    print('DATA')\n"
         "except ConnectionRefusedError:\n"
         "    print('ECONNREFUSED')\n"
         "except socket.timeout:\n"
         "    print('TIMEOUT')\n";
  }
  CommandResult r = env->RunInB("/usr/bin/python3 " + script + " " + env->ip_a(), 20);
  unlink(script.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "ECONNREFUSED\n");
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("stack.icmp_port_unreachable_sent"), 1u) << c->text;
  EXPECT_EQ(c->Get("net.udp_no_listener"), 1u) << c->text;
  // The bound port still echoes.
  r = env->RunInB(absl::StrFormat("printf 'still here' | socat -T 3 - UDP:%s:7", env->ip_a()), 20);
  EXPECT_EQ(r.output, "still here");
  ExpectCleanStop(env.get());
}

// Forged ICMP errors quoting a live connection (random sequence numbers: RFC 5927's check) do
// not disturb it; each is counted.
TEST(Icmp, ForgedErrorsDoNotDisturbALiveConnection) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  const int kForged = 2000;
  CommandResult r = env->RunInB(absl::StrFormat("/usr/bin/python3 %s/icmp_forge.py %s 7 %d %d",
                                                ScriptDir(), env->ip_a(), 4 << 20, kForged),
                                90);
  printf("%s", r.output.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, absl::StrFormat("FORGED %d", kForged))) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  printf("%s", c->text.c_str());
  EXPECT_EQ(c->Get("tcp.icmp_errors_rx"), static_cast<uint64_t>(kForged)) << c->text;
  // About one in ten names no connection; of the rest, a random sequence number falls in the
  // send window (at most 256 KiB of 4 GiB) about once in 16,000.
  EXPECT_GT(c->Get("tcp.icmp_no_connection"), kForged / 20u) << c->text;
  EXPECT_GE(c->Get("tcp.icmp_out_of_window") + c->Get("tcp.icmp_no_connection"),
            kForged - 3u) << c->text;
  EXPECT_EQ(c->Get("tcp.icmp_connect_aborts"), 0u) << c->text;
  EXPECT_EQ(c->Get("echo.accepted"), 1u) << c->text;
  ExpectCleanStop(env.get());
}

// --- IPv4 fragments: Linux's are reassembled; a flood of hostile ones is contained -----------

// Gives namespace B a route to ix with a 576-byte MTU, so Linux fragments what it sends there.
void SmallPathMtu(EchoNetns* env) {
  CommandResult r = env->RunInB(
      absl::StrFormat("ip route replace %s/32 dev %s mtu lock 576", env->ip_a(), env->if_b()), 10);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::string FragmentEcho(EchoNetns* env, int count, int size) {
  return absl::StrFormat("/usr/bin/python3 %s/fragments.py echo %s 7 %d %d", ScriptDir(),
                         env->ip_a(), count, size);
}

TEST(Fragments, LinuxFragmentsAreReassembledAndAFloodIsContained) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  SmallPathMtu(env.get());
  CommandResult r = env->RunInB(FragmentEcho(env.get(), 50, 1400), 60);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "ECHOED 50/50")) << r.output;
  r = env->RunInB("ping -c 3 -i 0.2 -W 2 -M dont -s 1200 " + env->ip_a(), 20);
  EXPECT_TRUE(absl::StrContains(r.output, "3 received")) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("stack.ip_reassembled"), 53u) << c->text;
  EXPECT_EQ(c->Get("stack.ip_fragments"), 50u * 3 + 3u * 3) << c->text;

  // Hostile fragments for 6 s (overlaps, duplicates, oversize datagrams, thousands of datagrams
  // that never complete) while real fragmented datagrams keep coming. Nothing in progress is
  // evicted (ipv4_reasm.h), so the flood may hold the table until its datagrams time out (30 s);
  // the stack must stay within its limits and serve again after that.
  r = env->RunInB(
      absl::StrFormat("/usr/bin/python3 %s/fragments.py flood %s 6 400000 & F=$!\n"
                      "sleep 0.5\n"
                      "%s\n"
                      "wait $F\n",
                      ScriptDir(), env->ip_a(), FragmentEcho(env.get(), 20, 1000)),
      60);
  printf("during the flood:\n%s", r.output.c_str());
  EXPECT_TRUE(absl::StrContains(r.output, "SENT ")) << r.output;
  sleep(31);
  r = env->RunInB(FragmentEcho(env.get(), 50, 1400), 60);
  EXPECT_TRUE(absl::StrContains(r.output, "ECHOED 50/50")) << "after the flood: " << r.output;
  c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  printf("%s", c->text.c_str());
  for (const char* drop : {"net.ip_reasm_overlap", "net.ip_reasm_duplicate", "net.ip_reasm_too_long",
                           "net.ip_reasm_table_full", "net.ip_reasm_timeout"}) {
    EXPECT_GT(c->Get(drop), 0u) << drop << "\n" << c->text;
  }
  EXPECT_LE(c->Get("stack.reasm_datagrams"), 64u) << c->text;
  EXPECT_LE(c->Get("stack.reasm_bytes"), 256u * 1024) << c->text;
  ExpectCleanStop(env.get());
}

TEST(Fragments, ReassemblyOffDropsThemCounted) {
  auto env = MakeEnv({.extra_flags = {"--reasm_datagrams=0"}});
  ASSERT_NE(env, nullptr);
  SmallPathMtu(env.get());
  CommandResult r = env->RunInB(FragmentEcho(env.get(), 3, 1000), 30);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "ECHOED 0/3")) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("net.ip_fragment"), 3u * 2) << c->text;
  EXPECT_EQ(c->Get("stack.ip_reassembled"), 0u) << c->text;
  // Unfragmented datagrams are still echoed.
  r = env->RunInB(FragmentEcho(env.get(), 3, 500), 30);
  EXPECT_TRUE(absl::StrContains(r.output, "ECHOED 3/3")) << r.output;
  ExpectCleanStop(env.get());
}

// CPU time (user + system) of process `pid` in seconds, from /proc/<pid>/stat.
double CpuSeconds(pid_t pid) {
  std::ifstream f(absl::StrFormat("/proc/%d/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
  if (fields.size() < 13) return -1;
  return (strtod(fields[11].c_str(), nullptr) + strtod(fields[12].c_str(), nullptr)) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

TEST(Basic, IdleServerSleepsInsteadOfSpinning) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  const double before = CpuSeconds(env->echo_pid());
  sleep(3);
  const double used = CpuSeconds(env->echo_pid()) - before;
  printf("idle ix-echo used %.3f s of CPU in 3 s\n", used);
  EXPECT_GE(used, 0);
  EXPECT_LT(used, 0.3) << "an idle loop must block in poll(), not spin";
  // And it still answers at once after the sleep.
  CommandResult r = env->RunInB("ping -c 2 -i 0.2 -W 2 " + env->ip_a(), 20);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  ExpectCleanStop(env.get());
}

// --- b. bulk transfer through the echo, clean and over netem ----------------------------------

uint64_t EnvMiB(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v != nullptr ? strtoull(v, nullptr, 10) : fallback;
}

// Sends `mib` MiB of random bytes through socat to the echo and back; compares sha256 sums.
// `impair` are extra ix-echo flags: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not
// set), so the netem-like impairment is done by ix-echo's FaultQueue between its stack and the
// AF_XDP queue (dataplane/core/stack_fault_queue.h); the Linux peer sees the same effects.
// With `sack` set, checks that SACK recovery ran (kUsed: the Linux peer negotiates it) or
// never did (kOff: ix-echo --tcp_sack=false).
enum class Sack { kAny, kUsed, kOff };
void BulkThroughEcho(uint64_t mib, const std::vector<std::string>& impair, int timeout_s,
                     Sack sack = Sack::kAny) {
  auto env = MakeEnv({.extra_flags = impair});
  ASSERT_NE(env, nullptr);
  std::string netem;
  for (const std::string& f : impair) netem += " " + f;
  const std::string in = env->TempPath("bulk.in"), out = env->TempPath("bulk.out");
  CommandResult r = env->RunInB(absl::StrFormat("head -c %dM /dev/urandom > %s", mib, in), 120);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = env->RunInB(absl::StrFormat("socat -b 262144 -t 60 -T 60 STDIO TCP:%s:7 < %s > %s",
                                  env->ip_a(), in, out),
                  timeout_s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const double mib_s = static_cast<double>(mib) / r.seconds;
  printf("bulk %lu MiB each way%s%s: %.1f s, %.1f MiB/s per direction\n", mib,
         netem.empty() ? "" : " with", netem.c_str(), r.seconds, mib_s);
  CommandResult sums = env->RunInB(absl::StrFormat("sha256sum < %s; sha256sum < %s; "
                                                   "stat -c %%s %s",
                                                   in, out, out),
                                   120);
  ASSERT_EQ(sums.exit_code, 0) << sums.output;
  const size_t nl = sums.output.find('\n');
  ASSERT_NE(nl, std::string::npos) << sums.output;
  const std::string first = sums.output.substr(0, nl);
  const std::string rest = sums.output.substr(nl + 1);
  EXPECT_TRUE(absl::StartsWith(rest, first)) << "sha256 differs: " << sums.output;
  unlink(in.c_str());
  unlink(out.c_str());
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("echo.bytes_echoed"), mib << 20) << c->text;
  if (!impair.empty()) {
    EXPECT_GT(c->Get("tcp.retransmits"), 0u) << c->text;
    EXPECT_GT(c->Get("tcp.retransmitted_bytes"), 0u) << c->text;
  }
  if (sack == Sack::kUsed) {
    EXPECT_GT(c->Get("tcp.sack_blocks_rx"), 0u) << c->text;
    EXPECT_GT(c->Get("tcp.sack_blocks_tx"), 0u) << c->text;
    EXPECT_GT(c->Get("tcp.sack_recoveries"), 0u) << c->text;
  } else if (sack == Sack::kOff) {
    EXPECT_EQ(c->Get("tcp.sack_blocks_rx"), 0u) << c->text;
    EXPECT_EQ(c->Get("tcp.sack_blocks_tx"), 0u) << c->text;
    EXPECT_EQ(c->Get("tcp.sack_recoveries"), 0u) << c->text;
  }
  EXPECT_EQ(c->Get("stack.tx_backlog_drops"), 0u) << c->text;
  printf("ix-echo counters:\n%s", c->text.c_str());
  ExpectCleanStop(env.get());
}

TEST(Bulk, TwoHundredFiftySixMiBEachWay) {
  BulkThroughEcho(EnvMiB("IX_BULK_MIB", 256), {}, 200);
}

TEST(BulkNetem, LossReorderDuplicateDelay) {
  BulkThroughEcho(EnvMiB("IX_BULK_NETEM_MIB", 256),
                  {"--impair_rx=loss=1,reorder=5,duplicate=1,delay_us=1000",
                   "--impair_tx=loss=1,duplicate=1"},
                  220, Sack::kUsed);
}

// The same link without SACK (NewReno only), smaller: the log line gives the time to compare.
TEST(BulkNetem, LossReorderDuplicateDelayWithoutSack) {
  BulkThroughEcho(EnvMiB("IX_BULK_NETEM_MIB", 256) / 4,
                  {"--impair_rx=loss=1,reorder=5,duplicate=1,delay_us=1000",
                   "--impair_tx=loss=1,duplicate=1", "--tcp_sack=false"},
                  160, Sack::kOff);
}

// --- c. sockperf against the echo -----------------------------------------------------------

// Returns the number after `key` in `text` (e.g. "avg-latency=" or "Message Rate is "), or -1.
double NumberAfter(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return strtod(text.c_str() + at + key.size(), nullptr);
}

void Sockperf(EchoNetns* env, const std::string& args, const std::string& key) {
  CommandResult r = env->RunInB(
      absl::StrFormat("sockperf %s -i %s -p 7 -t 3 -m 64 2>&1", args, env->ip_a()), 40);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "ERROR")) << r.output;
  const double v = NumberAfter(r.output, key);
  EXPECT_GT(v, 0) << "no '" << key << "' in: " << r.output;
  // The summary lines, for the log.
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (absl::StrContains(line, "Summary") || absl::StrContains(line, "avg-latency") ||
        absl::StrContains(line, "percentile 99.000")) {
      printf("sockperf %s: %s\n", args.c_str(), std::string(line).c_str());
    }
  }
}

TEST(Sockperf, PingPongAndThroughputUdpAndTcp) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  Sockperf(env.get(), "ping-pong", "Latency is ");
  Sockperf(env.get(), "ping-pong --tcp", "Latency is ");
  Sockperf(env.get(), "throughput", "Message Rate is ");
  Sockperf(env.get(), "throughput --tcp", "Message Rate is ");
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_GT(c->Get("echo.udp_echoed"), 1000u) << c->text;
  EXPECT_EQ(c->Get("echo.udp_send_failed"), 0u) << c->text;
  ExpectCleanStop(env.get());
}

// --- d. 10,000 concurrent connections -------------------------------------------------------

TEST(ManyConns, TenThousandOpenEchoAndClose) {
  auto env = MakeEnv({.extra_flags = {"--tcp_buffer_kib=16", "--max_conns=16384", "--rx_ring=8192"}});
  ASSERT_NE(env, nullptr);
  const int kConns = 10000;
  const std::string go = env->TempPath("go");
  unlink(go.c_str());
  CommandResult client;
  std::thread t([&] {
    client = env->RunInB(absl::StrFormat("/usr/bin/python3 %s/many_conns.py %s 7 %d %s",
                                         ScriptDir(), env->ip_a(), kConns, go),
                         200);
  });
  // Wait until the server holds every connection, then let the client go on.
  uint64_t open_max = 0;
  for (int i = 0; i < 240 && open_max < kConns; ++i) {
    absl::StatusOr<EchoCounters> c = env->Counters();
    if (c.ok()) open_max = std::max(open_max, c->Get("open_connections"));
    if (open_max < kConns) usleep(250'000);
  }
  { std::ofstream(go.c_str()) << "go\n"; }
  t.join();
  unlink(go.c_str());
  printf("client: %s", client.output.c_str());
  EXPECT_EQ(client.exit_code, 0) << client.output;
  EXPECT_EQ(open_max, static_cast<uint64_t>(kConns));
  EXPECT_TRUE(absl::StrContains(client.output, absl::StrFormat("ECHOED %d", kConns)));
  // The client closed first, so the server's side ends in LAST_ACK -> CLOSED: no TIME_WAIT here.
  uint64_t left = ~uint64_t{0};
  for (int i = 0; i < 40 && left > 10; ++i) {
    absl::StatusOr<EchoCounters> c = env->Counters();
    ASSERT_TRUE(c.ok()) << c.status();
    left = c->Get("tcp_connections");
    if (left > 10) usleep(250'000);
  }
  EXPECT_LE(left, 10u) << "connections still held by the server";
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("echo.accepted"), static_cast<uint64_t>(kConns)) << c->text;
  EXPECT_EQ(c->Get("open_connections"), 0u) << c->text;
  printf("%s", c->text.c_str());
  ExpectCleanStop(env.get());
}

// --- e. SYN flood while an established connection keeps echoing ------------------------------

// `hping3_rate` is hping3's rate flag; the probe sends every 10 ms for 8 s on one established
// connection and fails if an echo takes longer than limit_ms.
void SynFloodWithProbe(const std::string& hping3_rate, int limit_ms, uint64_t min_syns) {
  auto env = MakeEnv({});
  ASSERT_NE(env, nullptr);
  CommandResult r = env->RunInB(
      absl::StrFormat("hping3 -q -S -p 7 %s %s > /dev/null 2>&1 & HP=$!\n"
                      "sleep 0.5\n"
                      "/usr/bin/python3 %s/latency_probe.py %s 7 8 %d; RC=$?\n"
                      "kill $HP; wait $HP 2>/dev/null\n"
                      "/usr/bin/python3 %s/latency_probe.py %s 7 1 100 || RC=1\n"
                      "exit $RC",
                      hping3_rate, env->ip_a(), ScriptDir(), env->ip_a(), limit_ms, ScriptDir(),
                      env->ip_a()),
      60);
  printf("hping3 %s, probes during then after the flood:\n%s", hping3_rate.c_str(),
         r.output.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  absl::StatusOr<EchoCounters> c = env->Counters();
  ASSERT_TRUE(c.ok()) << c.status();
  printf("syn_cookies_sent %lu passive_opens %lu rx_frames %lu nic.rx_dropped %lu\n",
         c->Get("tcp.syn_cookies_sent"), c->Get("tcp.passive_opens"), c->Get("stack.rx_frames"),
         c->Get("nic.rx_dropped"));
  EXPECT_GT(c->Get("tcp.syn_cookies_sent") + c->Get("tcp.passive_opens"), min_syns) << c->text;
  EXPECT_LT(c->Get("tcp_connections"), 5000u) << "a flood must not fill the table: " << c->text;
  ExpectCleanStop(env.get());
}

// About 10k SYN/s (hping3's timer-driven rate): every echo within 1 s (in practice ~10 ms).
TEST(SynFlood, EstablishedConnectionKeepsGettingEchoes) {
  SynFloodWithProbe("-i u20 -c 2000000", 1000, 20000);
}

// hping3 --flood (~35k SYN/s plus the peer kernel's RSTs to our SYN-ACKs, ~70k frames/s in):
// on this 2-core machine the flood and the veth work charged to our TX system calls saturate
// both cores and the AF_XDP RX ring overflows, so the probe's segments are sometimes lost and
// wait for retransmission timeouts (backing off: 0.2, 0.4, 0.8 s...). Bound: every echo within
// 10 s, and the server answers within 100 ms right after the flood.
TEST(SynFlood, FullFloodDegradesButNeverStalls) {
  SynFloodWithProbe("--flood", 10000, 50000);
}

}  // namespace
}  // namespace ix::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string blocker =
      ix::testing::Blocker({"ping", "socat", "nc", "curl", "sockperf", "hping3", "tc",
                            "/usr/bin/python3", "sha256sum"});
  if (!blocker.empty()) {
    fprintf(stderr, "SKIP: %s\n", blocker.c_str());
    return 77;
  }
  return RUN_ALL_TESTS();
}

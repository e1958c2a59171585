// Integration test of the AF_XDP backend on a real veth pair between two network namespaces:
// an AF_PACKET socket (the Linux device path) on one end sends 10,000 sequenced frames of mixed
// sizes, the AfXdpQueue on the other end echoes them with swapped MACs through TxBurst, and every
// echoed frame is checked byte for byte. Also: several queues, program removal on close, rebind
// right after close, error statuses. Needs root; exits 77 (skip) otherwise.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "dataplane/core/mbuf.h"
#include "dataplane/nic/af_xdp.h"
#include "dataplane/nic/testing/netns.h"
#include "gtest/gtest.h"

namespace ix::nic {
namespace {

using testing::Mac;
using testing::NetnsPair;

constexpr uint16_t kEtherType = 0x88b5;  // IEEE 802 local experimental: the stack ignores it
constexpr int kMinFrame = 60;
constexpr int kMaxFrame = 1514;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Frame layout: dst MAC, src MAC, ethertype, u32 seq (big endian), u8 tag, then pattern bytes.
int FrameSize(uint32_t seq) {
  if (seq == 0) return kMinFrame;
  if (seq == 1) return kMaxFrame;
  return kMinFrame + static_cast<int>((seq * 7919u) % (kMaxFrame - kMinFrame + 1));
}

uint8_t PatternByte(uint32_t seq, int i) { return static_cast<uint8_t>(seq * 31u + i * 7u); }

void BuildFrame(uint8_t* f, uint32_t seq, uint8_t tag, const Mac& dst, const Mac& src) {
  const int len = FrameSize(seq);
  memcpy(f, dst.data(), 6);
  memcpy(f + 6, src.data(), 6);
  f[12] = kEtherType >> 8;
  f[13] = kEtherType & 0xff;
  const uint32_t be = htonl(seq);
  memcpy(f + 14, &be, 4);
  f[18] = tag;
  for (int i = 19; i < len; ++i) f[i] = PatternByte(seq, i);
}

// Checks an echoed frame: MACs swapped, everything else as sent. Returns "" or what is wrong.
std::string CheckEcho(const uint8_t* f, int len, uint32_t* seq_out, const Mac& mac_a,
                      const Mac& mac_b) {
  if (len < 19) return absl::StrFormat("runt frame of %d bytes", len);
  uint32_t be;
  memcpy(&be, f + 14, 4);
  const uint32_t seq = ntohl(be);
  *seq_out = seq;
  if (len != FrameSize(seq))
    return absl::StrFormat("seq %u: length %d, sent %d", seq, len, FrameSize(seq));
  if (memcmp(f, mac_b.data(), 6) != 0 || memcmp(f + 6, mac_a.data(), 6) != 0) {
    return absl::StrFormat("seq %u: MACs not swapped", seq);
  }
  for (int i = 19; i < len; ++i) {
    if (f[i] != PatternByte(seq, i)) return absl::StrFormat("seq %u: byte %d differs", seq, i);
  }
  return "";
}

std::unique_ptr<core::MbufPool> MakePool(const std::string& name) {
  core::MbufPoolOptions o;
  o.num_buffers = 4096;
  o.buffer_size = 2048;
  o.huge_pages = core::HugePagePolicy::kTry;
  o.name = name;
  auto pool = core::MbufPool::Create(o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

// The AF_XDP side: polls its queues, echoes our frames with swapped MACs, frees anything else.
struct Echoer {
  std::vector<AfXdpQueue*> queues;
  std::atomic<bool> stop{false};
  uint64_t echoed = 0;
  uint64_t foreign = 0;    // frames that were not ours (should be none with IPv6 off)
  uint64_t tx_failed = 0;  // frames TxBurst would not take within the retry bound
  std::vector<std::vector<uint32_t>> tags_per_queue;  // tag counts seen on each queue

  void Run(uint64_t max_ns) {
    tags_per_queue.assign(queues.size(), std::vector<uint32_t>(256, 0));
    Packet rx[64];
    Packet tx[64];
    const uint64_t end = NowNs() + max_ns;
    while (!stop.load(std::memory_order_relaxed) && NowNs() < end) {
      for (size_t qi = 0; qi < queues.size(); ++qi) {
        AfXdpQueue* q = queues[qi];
        const int n = q->RxBurst(rx, 64);
        int m = 0;
        for (int i = 0; i < n; ++i) {
          uint8_t* f = PacketData(q->pool(), rx[i]);
          if (rx[i].len >= 19 && f[12] == (kEtherType >> 8) && f[13] == (kEtherType & 0xff)) {
            uint8_t tmp[6];
            memcpy(tmp, f, 6);
            memcpy(f, f + 6, 6);
            memcpy(f + 6, tmp, 6);
            ++tags_per_queue[qi][f[18]];
            tx[m++] = rx[i];
          } else {
            ++foreign;
            q->pool().Free(rx[i].buf);
          }
        }
        int sent = 0;
        for (int tries = 0; sent < m && tries < 10000; ++tries) {
          sent += q->TxBurst(tx + sent, m - sent);
          q->Kick();
          if (sent < m) q->Poll();
        }
        for (int i = sent; i < m; ++i) q->pool().Free(tx[i].buf);
        tx_failed += static_cast<uint64_t>(m - sent);
        echoed += static_cast<uint64_t>(sent);
        q->Poll();
      }
    }
  }
};

// The Linux side: an AF_PACKET socket bound to the peer interface (created in namespace B).
class PacketSocket {
 public:
  static std::unique_ptr<PacketSocket> Open(const NetnsPair& pair, bool qdisc_bypass) {
    auto in_b = pair.EnterB();
    EXPECT_TRUE(in_b.ok()) << in_b.status();
    if (!in_b.ok()) return nullptr;
    auto s = std::make_unique<PacketSocket>();
    s->fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kEtherType));
    EXPECT_GE(s->fd_, 0) << "socket(AF_PACKET): " << strerror(errno);
    const int ifindex = static_cast<int>(if_nametoindex(pair.if_b().c_str()));
    EXPECT_GT(ifindex, 0) << pair.if_b();
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(kEtherType);
    sll.sll_ifindex = ifindex;
    EXPECT_EQ(bind(s->fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)), 0) << strerror(errno);
    const int buf = 16 << 20;
    EXPECT_EQ(setsockopt(s->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)), 0)
        << strerror(errno);
    EXPECT_EQ(setsockopt(s->fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)), 0)
        << strerror(errno);
    if (qdisc_bypass) {
      const int one = 1;
      EXPECT_EQ(setsockopt(s->fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)), 0);
    }
    return s;
  }
  ~PacketSocket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

struct EchoResult {
  int sent = 0;
  int received = 0;
  int duplicates = 0;
  int bad = 0;
  std::string first_error;
  uint64_t elapsed_ns = 0;
};

// Sends `count` frames (seq first..first+count) with at most `window` unanswered, and checks each
// echo. Stops after 2 s without progress or 30 s in all.
EchoResult SendAndCheck(const PacketSocket& sock, const NetnsPair& pair, uint32_t first, int count,
                        int window, uint8_t tag) {
  EchoResult r;
  std::vector<uint8_t> seen(static_cast<size_t>(count), 0);
  uint8_t frame[2048];
  const uint64_t start = NowNs();
  uint64_t last_progress = start;
  int next = 0;
  while (r.received < count) {
    const uint64_t now = NowNs();
    if (now - last_progress > 2'000'000'000ull || now - start > 30'000'000'000ull) break;
    while (next < count && next - r.received < window) {
      const uint32_t seq = first + static_cast<uint32_t>(next);
      BuildFrame(frame, seq, tag, pair.mac_a(), pair.mac_b());
      if (send(sock.fd(), frame, static_cast<size_t>(FrameSize(seq)), MSG_DONTWAIT) < 0) break;
      ++next;
      ++r.sent;
    }
    // Sleep in poll rather than spin: with two CPUs, a spinning sender starves ksoftirqd, which
    // carries the veth traffic once softirqs are deferred, and the round trip collapses.
    pollfd pfd{sock.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 10) <= 0) continue;
    for (;;) {
      sockaddr_ll from{};
      socklen_t from_len = sizeof(from);
      const ssize_t len = recvfrom(sock.fd(), frame, sizeof(frame), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (len < 0) break;
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      uint32_t seq = 0;
      const std::string err =
          CheckEcho(frame, static_cast<int>(len), &seq, pair.mac_a(), pair.mac_b());
      if (!err.empty()) {
        ++r.bad;
        if (r.first_error.empty()) r.first_error = err;
        continue;
      }
      // Another sender's echo (sockets on one interface all see every frame of the ethertype).
      if (seq < first || seq >= first + static_cast<uint32_t>(count)) continue;
      if (seen[seq - first]++) {
        ++r.duplicates;
        continue;
      }
      ++r.received;
      last_progress = NowNs();
    }
  }
  r.elapsed_ns = NowNs() - start;
  return r;
}

AfXdpOptions QueueOptions(const NetnsPair& pair, core::MbufPool* pool, uint32_t queue_id) {
  AfXdpOptions o;
  o.ifname = pair.if_a();
  o.queue_id = queue_id;
  o.pool = pool;
  return o;
}

int IfindexIn(const NetnsPair& pair) {
  auto in_a = pair.EnterA();
  return in_a.ok() ? static_cast<int>(if_nametoindex(pair.if_a().c_str())) : 0;
}

uint32_t ProgIdIn(const NetnsPair& pair, int ifindex) {
  auto in_a = pair.EnterA();
  if (!in_a.ok()) return 0;
  absl::StatusOr<uint32_t> id = AttachedXdpProgramId(ifindex);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : 0;
}

// Runs the echo: the AF_XDP thread lives in namespace A for its whole life (open, poll, close).
struct EchoRun {
  EchoResult result;
  Echoer echoer;
  QueueStats qstats;
  XskKernelStats kstats;
  bool zero_copy = false, huge = false, busy_poll = false, native = false;
  uint32_t pool_in_use_after_close = 0;
  uint32_t prog_after_close = 1;
};

void RunEcho(const NetnsPair& pair, int count, int window, bool busy_poll, EchoRun* run) {
  std::atomic<int> ready{0};  // 1 = open, -1 = failed
  std::thread xdp([&] {
    auto in_a = pair.EnterA();
    if (!in_a.ok()) {
      ADD_FAILURE() << in_a.status();
      ready = -1;
      return;
    }
    auto pool = MakePool("echo");
    if (pool == nullptr) {
      ready = -1;
      return;
    }
    AfXdpOptions o = QueueOptions(pair, pool.get(), 0);
    o.busy_poll = busy_poll;
    auto q = AfXdpQueue::Open(o);
    if (!q.ok()) {
      ADD_FAILURE() << q.status();
      ready = -1;
      return;
    }
    run->zero_copy = (*q)->zero_copy();
    run->native = (*q)->native_xdp();
    run->busy_poll = (*q)->busy_poll();
    run->huge = pool->huge_pages();
    run->echoer.queues = {q->get()};
    ready = 1;
    run->echoer.Run(40'000'000'000ull);
    run->qstats = (*q)->stats();
    auto ks = (*q)->KernelStats();
    EXPECT_TRUE(ks.ok()) << ks.status();
    if (ks.ok()) run->kstats = *ks;
    const int ifindex = (*q)->ifindex();
    q->reset();
    run->pool_in_use_after_close = pool->in_use();
    absl::StatusOr<uint32_t> id = AttachedXdpProgramId(ifindex);
    run->prog_after_close = id.ok() ? *id : 1;
  });
  while (ready == 0) usleep(1000);
  if (ready == 1) {
    auto sock = PacketSocket::Open(pair, /*qdisc_bypass=*/false);
    if (sock != nullptr) run->result = SendAndCheck(*sock, pair, 0, count, window, 0);
    // Let stragglers (there should be none) reach the echoer's counters before it stops.
    usleep(20000);
  }
  run->echoer.stop = true;
  xdp.join();
}

TEST(AfXdpNetns, EchoesTenThousandMixedSizeFrames) {
  auto pair = NetnsPair::Create({.num_queues = 1});
  ASSERT_TRUE(pair.ok()) << pair.status();
  constexpr int kFrames = 10000;
  EchoRun run;
  RunEcho(**pair, kFrames, /*window=*/128, /*busy_poll=*/false, &run);

  const EchoResult& r = run.result;
  EXPECT_EQ(r.sent, kFrames);
  EXPECT_EQ(r.received, kFrames) << "lost " << kFrames - r.received << " frames";
  EXPECT_EQ(r.bad, 0) << r.first_error;
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(run.echoer.echoed, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(run.echoer.foreign, 0u);
  EXPECT_EQ(run.echoer.tx_failed, 0u);
  EXPECT_EQ(run.qstats.rx_packets, kFrames + run.echoer.foreign);
  EXPECT_EQ(run.qstats.tx_packets, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(run.qstats.tx_completed, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(run.qstats.rx_dropped, 0u);
  EXPECT_EQ(run.kstats.rx_dropped, 0u);
  EXPECT_EQ(run.kstats.rx_ring_full, 0u);
  EXPECT_EQ(run.kstats.rx_invalid_descs, 0u);
  EXPECT_EQ(run.kstats.tx_invalid_descs, 0u);
  EXPECT_EQ(run.pool_in_use_after_close, 0u) << "buffers leaked by the queue";
  EXPECT_EQ(run.prog_after_close, 0u) << "XDP program left attached";

  const double secs = static_cast<double>(r.elapsed_ns) / 1e9;
  const std::string summary = absl::StrFormat(
      "AF_XDP echo: %d/%d frames (60-1514 B, window 128) in %.1f ms = %.0f frames/s round trip; "
      "huge pages: %s, zero-copy: %s, %s, need_wakeup on, busy poll off, kicks %llu",
      r.received, kFrames, secs * 1e3, r.received / secs, run.huge ? "yes" : "no",
      run.zero_copy ? "yes" : "no", run.native ? "native XDP" : "generic XDP",
      static_cast<unsigned long long>(run.qstats.kicks));
  printf("%s\n", summary.c_str());
  ::testing::Test::RecordProperty("echo_frames_per_s", static_cast<int>(r.received / secs));
  ::testing::Test::RecordProperty("huge_pages", run.huge ? "yes" : "no");
  ::testing::Test::RecordProperty("zero_copy", run.zero_copy ? "yes" : "no");
}

TEST(AfXdpNetns, EchoWithBusyPolling) {
  auto pair = NetnsPair::Create({.num_queues = 1});
  ASSERT_TRUE(pair.ok()) << pair.status();
  EchoRun run;
  RunEcho(**pair, 2000, /*window=*/64, /*busy_poll=*/true, &run);
  EXPECT_EQ(run.result.received, 2000);
  EXPECT_EQ(run.result.bad, 0) << run.result.first_error;
  EXPECT_EQ(run.pool_in_use_after_close, 0u);
  printf("busy polling %s; %d frames echoed in %.1f ms\n",
         run.busy_poll ? "enabled" : "refused by the kernel (queue ran without it)",
         run.result.received, static_cast<double>(run.result.elapsed_ns) / 1e6);
}

// Two queues (one socket each) on a two-queue veth. Frames sent from CPU k with
// PACKET_QDISC_BYPASS leave on TX queue k, which veth delivers on the peer's RX queue k. Then
// closing queue 0 must leave queue 1 working (the XDP program stays until the last queue closes).
TEST(AfXdpNetns, TwoQueuesEachGetTheirOwnTraffic) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  if (!CPU_ISSET(0, &allowed) || !CPU_ISSET(1, &allowed)) GTEST_SKIP() << "needs CPUs 0 and 1";
  auto pair = NetnsPair::Create({.num_queues = 2});
  ASSERT_TRUE(pair.ok()) << pair.status();
  const int ifindex = IfindexIn(**pair);
  ASSERT_GT(ifindex, 0);

  auto pool0 = MakePool("q0");
  auto pool1 = MakePool("q1");
  ASSERT_NE(pool0, nullptr);
  ASSERT_NE(pool1, nullptr);
  std::unique_ptr<AfXdpQueue> q0, q1;
  {
    auto in_a = (*pair)->EnterA();
    ASSERT_TRUE(in_a.ok()) << in_a.status();
    auto r0 = AfXdpQueue::Open(QueueOptions(**pair, pool0.get(), 0));
    ASSERT_TRUE(r0.ok()) << r0.status();
    auto r1 = AfXdpQueue::Open(QueueOptions(**pair, pool1.get(), 1));
    ASSERT_TRUE(r1.ok()) << r1.status();
    q0 = std::move(*r0);
    q1 = std::move(*r1);
  }
  const uint32_t prog = ProgIdIn(**pair, ifindex);
  EXPECT_NE(prog, 0u);

  // Phase 1: both queues, one sender pinned to each CPU.
  {
    Echoer echoer;
    echoer.queues = {q0.get(), q1.get()};
    std::thread xdp([&] { echoer.Run(30'000'000'000ull); });
    EchoResult results[2];
    std::thread senders[2];
    for (int cpu = 0; cpu < 2; ++cpu) {
      senders[cpu] = std::thread([&, cpu] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
        auto sock = PacketSocket::Open(**pair, /*qdisc_bypass=*/true);
        if (sock == nullptr) return;
        results[cpu] = SendAndCheck(*sock, **pair, 1000000u * static_cast<uint32_t>(cpu + 1), 1000,
                                    32, static_cast<uint8_t>(cpu));
      });
    }
    for (auto& s : senders) s.join();
    echoer.stop = true;
    xdp.join();
    for (int cpu = 0; cpu < 2; ++cpu) {
      EXPECT_EQ(results[cpu].received, 1000) << "from CPU " << cpu;
      EXPECT_EQ(results[cpu].bad, 0) << results[cpu].first_error;
    }
    // Each queue saw exactly the frames of "its" CPU.
    EXPECT_EQ(echoer.tags_per_queue[0][0], 1000u);
    EXPECT_EQ(echoer.tags_per_queue[0][1], 0u);
    EXPECT_EQ(echoer.tags_per_queue[1][1], 1000u);
    EXPECT_EQ(echoer.tags_per_queue[1][0], 0u);
  }

  // Phase 2: close queue 0; queue 1 still gets CPU 1's frames and the program is still there.
  {
    auto in_a = (*pair)->EnterA();
    ASSERT_TRUE(in_a.ok());
    q0.reset();
  }
  EXPECT_EQ(pool0->in_use(), 0u);
  EXPECT_EQ(ProgIdIn(**pair, ifindex), prog);
  {
    Echoer echoer;
    echoer.queues = {q1.get()};
    std::thread xdp([&] { echoer.Run(30'000'000'000ull); });
    EchoResult result;
    std::thread sender([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(1, &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
      auto sock = PacketSocket::Open(**pair, /*qdisc_bypass=*/true);
      if (sock != nullptr) result = SendAndCheck(*sock, **pair, 5000000u, 500, 32, 1);
    });
    sender.join();
    echoer.stop = true;
    xdp.join();
    EXPECT_EQ(result.received, 500);
  }
  {
    auto in_a = (*pair)->EnterA();
    ASSERT_TRUE(in_a.ok());
    q1.reset();
  }
  EXPECT_EQ(pool1->in_use(), 0u);
  EXPECT_EQ(ProgIdIn(**pair, ifindex), 0u) << "program left after the last queue closed";
}

// Close removes the program; an immediate reopen of the same queue succeeds (EBUSY is retried).
TEST(AfXdpNetns, CloseRemovesProgramAndImmediateRebindWorks) {
  auto pair = NetnsPair::Create({.num_queues = 1});
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto in_a = (*pair)->EnterA();
  ASSERT_TRUE(in_a.ok()) << in_a.status();
  const int ifindex = static_cast<int>(if_nametoindex((*pair)->if_a().c_str()));
  ASSERT_EQ(*AttachedXdpProgramId(ifindex), 0u);
  auto pool = MakePool("rebind");
  ASSERT_NE(pool, nullptr);
  for (int round = 0; round < 3; ++round) {
    const uint64_t t0 = NowNs();
    auto q = AfXdpQueue::Open(QueueOptions(**pair, pool.get(), 0));
    ASSERT_TRUE(q.ok()) << "round " << round << ": " << q.status();
    printf("open #%d took %.1f ms\n", round, static_cast<double>(NowNs() - t0) / 1e6);
    EXPECT_NE(*AttachedXdpProgramId(ifindex), 0u);
    EXPECT_GT((*q)->buffers_held(), 0u);
    EXPECT_EQ(pool->in_use(), (*q)->buffers_held());
    q->reset();
    EXPECT_EQ(*AttachedXdpProgramId(ifindex), 0u) << "round " << round;
    EXPECT_EQ(pool->in_use(), 0u);
  }
}

TEST(AfXdpNetns, ErrorsNameTheCallAndErrno) {
  auto pair = NetnsPair::Create({.num_queues = 1});
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto in_a = (*pair)->EnterA();
  ASSERT_TRUE(in_a.ok()) << in_a.status();
  auto pool = MakePool("errors");
  ASSERT_NE(pool, nullptr);

  AfXdpOptions o = QueueOptions(**pair, pool.get(), 0);
  o.ifname = "nosuchif0";
  auto missing = AfXdpQueue::Open(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("if_nametoindex(nosuchif0)"), absl::string_view::npos)
      << missing.status();
  EXPECT_NE(missing.status().message().find("errno"), absl::string_view::npos) << missing.status();

  o = QueueOptions(**pair, pool.get(), 7);  // the veth has one queue
  o.busy_retry_ms = 0;
  auto bad_queue = AfXdpQueue::Open(o);
  ASSERT_FALSE(bad_queue.ok());
  EXPECT_NE(bad_queue.status().message().find("xsk_socket__create"), absl::string_view::npos)
      << bad_queue.status();
  EXPECT_NE(bad_queue.status().message().find("errno"), absl::string_view::npos)
      << bad_queue.status();
  EXPECT_EQ(pool->in_use(), 0u);

  o = QueueOptions(**pair, pool.get(), 0);
  o.copy_mode = XskCopyMode::kZeroCopy;  // veth has no zero-copy support
  auto zc = AfXdpQueue::Open(o);
  if (zc.ok()) {
    EXPECT_TRUE((*zc)->zero_copy());
  } else {
    EXPECT_NE(zc.status().message().find("zero-copy"), absl::string_view::npos) << zc.status();
  }
  if (zc.ok()) zc->reset();  // close inside namespace A
  EXPECT_EQ(*AttachedXdpProgramId(static_cast<int>(if_nametoindex((*pair)->if_a().c_str()))), 0u);

  o = QueueOptions(**pair, pool.get(), 0);
  o.rx_ring_size = 1000;
  EXPECT_EQ(AfXdpQueue::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Reserves 2 MiB huge pages for the run if too few are free, and gives them back afterwards. A
// ledger file /tmp/ixnic-hugepages-<pid> records how many were added, so that a later run can give
// back the pages of a run that was killed before it could.
class HugePageReservation {
 public:
  explicit HugePageReservation(uint64_t want) {
    ReturnPagesOfDeadRuns();
    const uint64_t free_now = core::FreeHugePages2M();
    if (free_now >= want) return;
    const uint64_t total = ReadTotal();
    if (!WriteTotal(total + (want - free_now))) return;
    const uint64_t now_total = ReadTotal();
    added_ = now_total > total ? now_total - total : 0;
    if (added_ == 0) return;
    if (FILE* f = fopen(LedgerPath(getpid()).c_str(), "we")) {
      fprintf(f, "%llu\n", static_cast<unsigned long long>(added_));
      fclose(f);
    }
    printf("reserved %llu huge pages for the test (free now %llu)\n",
           static_cast<unsigned long long>(added_),
           static_cast<unsigned long long>(core::FreeHugePages2M()));
  }
  ~HugePageReservation() {
    if (added_ == 0) return;
    GiveBack(added_);
    unlink(LedgerPath(getpid()).c_str());
  }

 private:
  static std::string LedgerPath(long pid) {
    return absl::StrFormat("/tmp/ixnic-hugepages-%d", pid);
  }
  static void GiveBack(uint64_t pages) {
    const uint64_t total = ReadTotal();
    WriteTotal(total >= pages ? total - pages : 0);
  }
  static void ReturnPagesOfDeadRuns() {
    DIR* d = opendir("/tmp");
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
      long pid = 0;
      if (sscanf(e->d_name, "ixnic-hugepages-%ld", &pid) != 1 || testing::PidAlive(pid)) continue;
      const std::string path = LedgerPath(pid);
      unsigned long long pages = 0;
      if (FILE* f = fopen(path.c_str(), "re")) {
        if (fscanf(f, "%llu", &pages) != 1) pages = 0;
        fclose(f);
      }
      if (pages > 0) {
        printf("giving back %llu huge pages reserved by dead test process %ld\n", pages, pid);
        GiveBack(pages);
      }
      unlink(path.c_str());
    }
    closedir(d);
  }
  static uint64_t ReadTotal() {
    FILE* f = fopen("/proc/sys/vm/nr_hugepages", "re");
    if (f == nullptr) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
  }
  static bool WriteTotal(uint64_t v) {
    FILE* f = fopen("/proc/sys/vm/nr_hugepages", "we");
    if (f == nullptr) return false;
    const bool ok = fprintf(f, "%llu\n", static_cast<unsigned long long>(v)) > 0;
    return fclose(f) == 0 && ok;
  }
  uint64_t added_ = 0;
};

}  // namespace
}  // namespace ix::nic

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string blocker = ix::nic::testing::NetnsTestBlocker();
  if (!blocker.empty()) {
    printf("SKIP: %s\n", blocker.c_str());
    return 77;
  }
  ix::nic::testing::CleanStaleNetns();
  // Two 8 MiB pools at a time: 4 huge pages each, plus slack.
  ix::nic::HugePageReservation huge(10);
  return RUN_ALL_TESTS();
}

// ix-l2pingpong: the raw L2 limit of a link, measured with AF_XDP ping-pong (nic::AfXdpQueue).
// One side reflects frames (MACs swapped), the other sends one frame at a time and records each
// round-trip time in a LatencyHistogram. Both sides poll their rings (two busy cores).
//
//   ip netns exec B ix-l2pingpong --mode=reflect --iface=vethB [--max_seconds=60]
//   ip netns exec A ix-l2pingpong --mode=send --iface=vethA --count=100000 --size=64 --json=out.json
//
// Frames: Ethernet, ethertype 0x88b5 (IEEE local experimental), the magic "IXL2", a 64-bit
// sequence number, then a byte pattern up to --size bytes (60..1514, no FCS). The sender sends to
// --dst_mac (default broadcast: a veth delivers it to its peer) from its interface's own MAC; a
// reply counts only if it carries the expected sequence number and pattern.
//
// The reflector prints "ix-l2pingpong: ready <iface>" on stdout once its socket is bound, and exits
// 0 on SIGTERM/SIGINT or after --max_seconds. The sender exits 0 if at least one RTT was recorded
// and fewer than --max_loss_percent of the measured frames were lost; it writes JSON
// (--json FILE, '-' for stdout): {"sent", "received", "lost", "bad", "size", "warmup",
// "rtt_ns": {"count","min","mean","p50","p90","p99","p99.9","max"}, "cdf": [[ns, fraction], ...],
// "zero_copy", "busy_poll", "iface"}.
#include <linux/if_ether.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/histogram.h"
#include "dataplane/core/mbuf.h"
#include "dataplane/nic/af_xdp.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, mode, "", "reflect | send");
ABSL_FLAG(std::string, iface, "", "interface (in the calling network namespace)");
ABSL_FLAG(int, queue, 0, "interface queue");
ABSL_FLAG(int, count, 10000, "measured frames (send)");
ABSL_FLAG(int, warmup, 200, "frames sent first and not recorded (send)");
ABSL_FLAG(int, size, 64, "frame size in bytes, 60..1514 (send)");
ABSL_FLAG(std::string, dst_mac, "ff:ff:ff:ff:ff:ff", "destination MAC (send)");
ABSL_FLAG(int, timeout_ms, 50, "a frame unanswered this long is lost (send)");
ABSL_FLAG(double, max_seconds, 60, "upper bound on the run time");
ABSL_FLAG(double, max_loss_percent, 1.0, "send fails if more measured frames were lost");
ABSL_FLAG(bool, busy_poll, false, "ask the kernel for socket busy polling (SO_PREFER_BUSY_POLL)");
ABSL_FLAG(int, cpu, -1, "CPU to pin to (-1: none)");
ABSL_FLAG(std::string, json, "", "write the sender's result here ('-' for stdout)");

namespace {

constexpr uint16_t kEtherType = 0x88b5;
constexpr char kMagic[4] = {'I', 'X', 'L', '2'};
constexpr int kHeader = 14 + 4 + 8;  // Ethernet, magic, sequence

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

bool ParseMac(const std::string& s, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 255) return false;
    mac[i] = uint8_t(v[i]);
  }
  return true;
}

bool InterfaceMac(const std::string& ifname, uint8_t mac[6]) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr = {};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  bool ok = ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
  close(fd);
  if (ok) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return ok;
}

uint8_t Pattern(uint64_t seq, int i) { return uint8_t(seq * 13u + uint64_t(i) * 7u); }

bool IsOurs(const uint8_t* f, int len) {
  return len >= kHeader && f[12] == (kEtherType >> 8) && f[13] == (kEtherType & 0xff) &&
         memcmp(f + 14, kMagic, 4) == 0;
}

void BuildFrame(uint8_t* f, int size, uint64_t seq, const uint8_t dst[6], const uint8_t src[6]) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  f[12] = kEtherType >> 8;
  f[13] = kEtherType & 0xff;
  memcpy(f + 14, kMagic, 4);
  memcpy(f + 18, &seq, 8);
  for (int i = kHeader; i < size; ++i) f[i] = Pattern(seq, i);
}

// Whether f is the reflection of frame `seq` of `size` bytes.
bool IsReply(const uint8_t* f, int len, int size, uint64_t seq) {
  if (len != size || !IsOurs(f, len)) return false;
  uint64_t got;
  memcpy(&got, f + 18, 8);
  if (got != seq) return false;
  for (int i = kHeader; i < size; ++i) {
    if (f[i] != Pattern(seq, i)) return false;
  }
  return true;
}

struct Opened {
  std::unique_ptr<ix::core::MbufPool> pool;
  std::unique_ptr<ix::nic::AfXdpQueue> queue;
};

bool Open(Opened* o) {
  ix::core::MbufPoolOptions po;
  po.num_buffers = 4096;
  po.buffer_size = 2048;
  po.huge_pages = ix::core::HugePagePolicy::kNever;
  po.name = "ix-l2pingpong";
  auto pool = ix::core::MbufPool::Create(po);
  if (!pool.ok()) {
    fprintf(stderr, "ix-l2pingpong: %s\n", pool.status().ToString().c_str());
    return false;
  }
  o->pool = std::move(*pool);
  ix::nic::AfXdpOptions xo;
  xo.ifname = absl::GetFlag(FLAGS_iface);
  xo.queue_id = uint32_t(absl::GetFlag(FLAGS_queue));
  xo.pool = o->pool.get();
  xo.busy_poll = absl::GetFlag(FLAGS_busy_poll);
  auto q = ix::nic::AfXdpQueue::Open(xo);
  if (!q.ok()) {
    fprintf(stderr, "ix-l2pingpong: %s\n", q.status().ToString().c_str());
    return false;
  }
  o->queue = std::move(*q);
  return true;
}

int Reflect(double max_seconds) {
  Opened o;
  if (!Open(&o)) return 1;
  ix::nic::AfXdpQueue& q = *o.queue;
  printf("ix-l2pingpong: ready %s\n", q.ifname().c_str());
  fflush(stdout);
  const uint64_t end = NowNs() + uint64_t(max_seconds * 1e9);
  uint64_t reflected = 0, idle = 0;
  ix::nic::Packet rx[64], tx[64];
  while (!g_stop) {
    int n = q.RxBurst(rx, 64);
    if (n == 0) {
      q.Poll();
      if ((++idle & 1023) == 0 && NowNs() > end) break;
      continue;
    }
    int m = 0;
    for (int i = 0; i < n; ++i) {
      uint8_t* f = ix::nic::PacketData(q.pool(), rx[i]);
      if (!IsOurs(f, rx[i].len)) {
        q.pool().Free(rx[i].buf);
        continue;
      }
      uint8_t tmp[6];
      memcpy(tmp, f, 6);
      memcpy(f, f + 6, 6);
      memcpy(f + 6, tmp, 6);
      tx[m++] = rx[i];
    }
    int sent = 0;
    for (int tries = 0; sent < m && tries < 1000; ++tries) {
      sent += q.TxBurst(tx + sent, m - sent);
      q.Kick();
      if (sent < m) q.Poll();
    }
    for (int i = sent; i < m; ++i) q.pool().Free(tx[i].buf);
    reflected += uint64_t(sent);
    q.Kick();
    q.Poll();
  }
  fprintf(stderr, "ix-l2pingpong: reflected %llu frames\n", (unsigned long long)reflected);
  return 0;
}

int Send(double max_seconds) {
  const int size = absl::GetFlag(FLAGS_size);
  const int count = absl::GetFlag(FLAGS_count);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  if (size < 60 || size > 1514 || count <= 0 || warmup < 0) {
    fprintf(stderr, "ix-l2pingpong: --size must be 60..1514, --count positive\n");
    return 2;
  }
  uint8_t dst[6], src[6];
  if (!ParseMac(absl::GetFlag(FLAGS_dst_mac), dst)) {
    fprintf(stderr, "ix-l2pingpong: bad --dst_mac\n");
    return 2;
  }
  if (!InterfaceMac(absl::GetFlag(FLAGS_iface), src)) {
    fprintf(stderr, "ix-l2pingpong: cannot read the MAC of %s\n", absl::GetFlag(FLAGS_iface).c_str());
    return 1;
  }
  Opened o;
  if (!Open(&o)) return 1;
  ix::nic::AfXdpQueue& q = *o.queue;
  ix::core::MbufPool& pool = q.pool();
  const uint64_t timeout_ns = uint64_t(absl::GetFlag(FLAGS_timeout_ms)) * 1000000ull;
  const uint64_t end = NowNs() + uint64_t(max_seconds * 1e9);
  ix::LatencyHistogram hist;
  uint64_t sent = 0, received = 0, lost = 0, bad = 0, warm_lost = 0;
  ix::nic::Packet rx[64];
  for (uint64_t seq = 0; seq < uint64_t(warmup + count) && !g_stop && NowNs() < end; ++seq) {
    const bool measured = seq >= uint64_t(warmup);
    uint32_t b = pool.Alloc();
    if (b == ix::core::MbufPool::kNoBuffer) {
      q.Poll();
      b = pool.Alloc();
      if (b == ix::core::MbufPool::kNoBuffer) {
        fprintf(stderr, "ix-l2pingpong: out of buffers\n");
        return 1;
      }
    }
    ix::nic::Packet p{b, uint16_t(pool.headroom()), uint16_t(size)};
    BuildFrame(ix::nic::PacketData(pool, p), size, seq, dst, src);
    const uint64_t t0 = NowNs();
    if (q.TxBurst(&p, 1) != 1) {
      pool.Free(b);
      q.Poll();
      --seq;  // try the same sequence number again
      continue;
    }
    q.Kick();
    if (measured) ++sent;
    bool got = false;
    while (!got) {
      int n = q.RxBurst(rx, 64);
      const uint64_t now = NowNs();
      for (int i = 0; i < n; ++i) {
        const uint8_t* f = ix::nic::PacketData(pool, rx[i]);
        if (IsReply(f, rx[i].len, size, seq)) {
          got = true;
          if (measured) {
            hist.Record(now - t0);
            ++received;
          }
        } else if (IsOurs(f, rx[i].len)) {
          ++bad;  // a late reply to an earlier (lost) frame, or a corrupted one
        }
        pool.Free(rx[i].buf);
      }
      if (!got && now - t0 > timeout_ns) {
        if (measured) ++lost; else ++warm_lost;
        break;
      }
      if (n == 0) q.Poll();
    }
  }
  q.Poll();
  nlohmann::json j;
  j["iface"] = q.ifname();
  j["size"] = size;
  j["warmup"] = warmup;
  j["warmup_lost"] = warm_lost;
  j["sent"] = sent;
  j["received"] = received;
  j["lost"] = lost;
  j["bad"] = bad;
  j["zero_copy"] = q.zero_copy();
  j["busy_poll"] = q.busy_poll();
  j["rtt_ns"] = {{"count", hist.Count()},       {"min", hist.Min()},
                 {"mean", hist.Mean()},         {"p50", hist.Percentile(50)},
                 {"p90", hist.Percentile(90)},  {"p99", hist.Percentile(99)},
                 {"p99.9", hist.Percentile(99.9)}, {"max", hist.Max()}};
  nlohmann::json cdf = nlohmann::json::array();
  uint64_t seen = 0;
  for (size_t i = 0; i < ix::LatencyHistogram::kNumBuckets && hist.Count() > 0; ++i) {
    uint64_t c = hist.BucketCount(i);
    if (c == 0) continue;
    seen += c;
    cdf.push_back({ix::LatencyHistogram::BucketMidpoint(i), double(seen) / double(hist.Count())});
  }
  j["cdf"] = cdf;
  const std::string path = absl::GetFlag(FLAGS_json);
  if (path == "-") {
    printf("%s\n", j.dump().c_str());
  } else if (!path.empty()) {
    std::ofstream(path) << j.dump(2) << "\n";
  }
  fprintf(stderr,
          "ix-l2pingpong: %llu RTTs of %d B frames on %s: p50 %.2f us, p99 %.2f us, min %.2f us; "
          "lost %llu, bad %llu\n",
          (unsigned long long)received, size, q.ifname().c_str(), hist.Percentile(50) / 1e3,
          hist.Percentile(99) / 1e3, hist.Min() / 1e3, (unsigned long long)lost,
          (unsigned long long)bad);
  const double loss = sent == 0 ? 100.0 : 100.0 * double(lost) / double(sent);
  return received > 0 && loss <= absl::GetFlag(FLAGS_max_loss_percent) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "AF_XDP L2 ping-pong: --mode=reflect on one end, --mode=send on the other.\n"
      "Usage: ix-l2pingpong --mode=reflect|send --iface=IF [--count N --size B --json FILE]");
  absl::ParseCommandLine(argc, argv);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const int cpu = absl::GetFlag(FLAGS_cpu);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) perror("sched_setaffinity");
  }
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  if (absl::GetFlag(FLAGS_iface).empty() || !(max_seconds > 0)) {
    fprintf(stderr, "ix-l2pingpong: --iface and a positive --max_seconds are required\n");
    return 2;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "reflect") return Reflect(max_seconds);
  if (mode == "send") return Send(max_seconds);
  fprintf(stderr, "ix-l2pingpong: --mode must be reflect or send\n");
  return 2;
}

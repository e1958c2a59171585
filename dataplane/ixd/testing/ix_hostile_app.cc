// A hostile ixd client for the integration tests. It attaches with the raw ABI (include/ix/abi.h,
// no libix), then for --seconds writes random command batches (garbage, and plausible commands
// with wrong ids, offsets, lengths, buffers, ports), scribbles over the ring indices, floods the
// ring, answers knocks and returns random buffers, and checks that the RX area cannot be mapped
// writable. ixd must answer everything with error codes while other applications keep working.
//
//   ix_hostile_app --socket=/tmp/ixd.sock --seconds=3 --seed=1 --peer=10.0.0.2 --steal=7002
//
// Prints "ix_hostile_app: attached", then "ix_hostile_app: done <commands> <rejected> <stolen>"
// where stolen counts commands on --steal that succeeded (must be 0). Exit 0, or 1 on errors.
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ix/abi.h"

namespace {

const char* Arg(int argc, char** argv, const char* name, const char* def) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  }
  return def;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

uint32_t ParseIp(const char* s) {
  unsigned a, b, c, d;
  if (s == nullptr || sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4) return 0;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

int Fail(const char* what) {
  fprintf(stderr, "ix_hostile_app: %s: %s\n", what, strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = Arg(argc, argv, "--socket", IX_DEFAULT_SOCKET);
  const double seconds = std::atof(Arg(argc, argv, "--seconds", "3"));
  std::mt19937_64 rng(std::strtoull(Arg(argc, argv, "--seed", "1"), nullptr, 10));
  const uint32_t peer = ParseIp(Arg(argc, argv, "--peer", "10.0.0.2"));
  const uint16_t steal = static_cast<uint16_t>(std::atoi(Arg(argc, argv, "--steal", "0")));

  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return Fail("connect");
  ix_attach_req req{};
  req.magic = IX_ABI_MAGIC;
  req.abi_version = IX_ABI_VERSION;
  req.num_queues = 1;
  req.cmd_entries = 64;
  req.rx_buf_count = 64;
  std::snprintf(req.name, sizeof(req.name), "hostile");
  if (send(s, &req, sizeof(req), 0) != static_cast<ssize_t>(sizeof(req))) return Fail("send");
  ix_attach_resp resp{};
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * IX_QP_FDS)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(s, &msg, 0) != static_cast<ssize_t>(sizeof(resp)) || resp.status != 0) {
    return Fail("attach answer");
  }
  int fds[IX_QP_FDS];
  std::memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fds));
  auto* area = static_cast<uint8_t*>(
      mmap(nullptr, resp.qp_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[IX_QP_FD_AREA], 0));
  auto* tx = static_cast<uint8_t*>(
      mmap(nullptr, resp.tx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[IX_QP_FD_TX], 0));
  if (area == MAP_FAILED || tx == MAP_FAILED) return Fail("mmap");
  // The first thing a hostile app tries: write access to the receive buffers.
  if (mmap(nullptr, resp.rx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[IX_QP_FD_RX], 0) !=
      MAP_FAILED) {
    fprintf(stderr, "ix_hostile_app: RX area mapped writable!\n");
    return 1;
  }
  auto* h = reinterpret_cast<ix_qp_header*>(area);
  auto* cmds = reinterpret_cast<ix_cmd*>(area + sizeof(ix_qp_header));
  const uint32_t entries = h->cmd_entries;
  auto* events =
      reinterpret_cast<ix_event*>(area + sizeof(ix_qp_header) + uint64_t{entries} * sizeof(ix_cmd));
  const uint32_t ev_entries = h->ev_entries;
  printf("ix_hostile_app: attached\n");
  fflush(stdout);

  uint32_t prod = 0, ev_cons = 0, checked = 0;
  uint64_t total = 0, rejected = 0, stolen = 0;
  std::vector<uint32_t> ids, bufs;
  std::vector<uint16_t> steal_slots(entries, 0);  // 1: the command in that slot targets `steal`
  const double end = Now() + seconds;
  while (Now() < end) {
    // Results of what completed (only counted when the indices are sane).
    const uint32_t cons = ix_load_acquire(&h->cmd_cons.value);
    if (cons - checked <= entries) {
      for (; checked != cons; ++checked) {
        const int64_t r = ix_load_ret(&cmds[checked & (entries - 1)].ret);
        if (r < 0) ++rejected;
        if (r >= 0 && steal_slots[checked & (entries - 1)] != 0) ++stolen;
        if (r > 0 && r < (1ll << 32)) ids.push_back(static_cast<uint32_t>(r));  // connect ids
      }
    } else {
      checked = cons;
    }
    // Events: remember ids and buffers to abuse later.
    const uint32_t ev_prod = ix_load_acquire(&h->ev_prod.value);
    for (int k = 0; ev_cons != ev_prod && k < 64; ++k, ++ev_cons) {
      const ix_event& ev = events[ev_cons & (ev_entries - 1)];
      ids.push_back(ev.id);
      if (ev.buf != IX_NO_BUF) bufs.push_back(ev.buf);
    }
    ix_store_release(&h->ev_cons.value, ev_cons);
    if (ids.size() > 256) ids.erase(ids.begin(), ids.begin() + 128);
    if (bufs.size() > 256) bufs.erase(bufs.begin(), bufs.begin() + 128);

    // A batch: fill what the ring has room for (flooding), sometimes beyond.
    const uint32_t room = entries - (prod - cons);
    const uint32_t n = room > entries ? 0 : static_cast<uint32_t>(rng() % (room + 1));
    for (uint32_t i = 0; i < n; ++i) {
      ix_cmd c;
      uint64_t w[8];
      for (auto& x : w) x = rng();
      std::memcpy(&c, w, sizeof(c));
      const uint32_t kind = static_cast<uint32_t>(rng() % 10);
      if (kind < 7) {  // plausible commands with hostile arguments
        c.op = static_cast<uint16_t>(rng() % IX_CMD_OP_COUNT);
        c.flags = static_cast<uint16_t>(rng() % 2 ? 0 : rng() % 4);
        c.id = !ids.empty() && rng() % 2 ? ids[rng() % ids.size()] : static_cast<uint32_t>(rng());
        c.buf = !bufs.empty() && rng() % 2 ? bufs[rng() % bufs.size()]
                                           : static_cast<uint32_t>(rng() % 100);
        c.data_off = rng() % 3 == 0 ? rng() : rng() % (resp.tx_bytes + 100);
        c.len = static_cast<uint32_t>(rng() % 3 == 0 ? rng() : rng() % 3000);
        c.iov_cnt = static_cast<uint32_t>(rng() % 4 == 0 ? rng() % 40 : 0);
        c.remote_ip = rng() % 2 ? peer : static_cast<uint32_t>(rng());
        c.port = static_cast<uint16_t>(rng() % 3 == 0 ? steal : 20000 + rng() % 100);
        c.local_port = static_cast<uint16_t>(rng() % 3 == 0 ? steal : 0);
        c.arg = rng() % 3 == 0 ? rng() : rng() % 1000000;
        if (c.op == IX_CMD_TCP_CONNECT && rng() % 4 != 0) c.local_port = 0;  // keep some real
      }
      const bool targets_steal =
          steal != 0 && ((c.op == IX_CMD_TCP_LISTEN || c.op == IX_CMD_UDP_BIND ||
                          c.op == IX_CMD_TCP_UNLISTEN || c.op == IX_CMD_UDP_UNBIND) &&
                         c.port == steal);
      steal_slots[prod & (entries - 1)] = targets_steal ? 1 : 0;
      std::memcpy(static_cast<void*>(&cmds[prod & (entries - 1)]), &c, sizeof(c));
      ++prod;
      ++total;
    }
    ix_store_release(&h->cmd_prod.value, prod);
    // Now and then: lie about the indices, then go back to the truth.
    const uint32_t r = static_cast<uint32_t>(rng() % 200);
    if (r == 0) {
      ix_store_release(&h->cmd_prod.value, static_cast<uint32_t>(rng()));
      usleep(1000);
      ix_store_release(&h->cmd_prod.value, prod);
    } else if (r == 1) {
      ix_store_release(&h->ev_cons.value, static_cast<uint32_t>(rng()));
      usleep(1000);
      ix_store_release(&h->ev_cons.value, ev_cons);
    } else if (r == 2) {
      ix_store_release(&h->cmd_cons.value, static_cast<uint32_t>(rng()));  // the dp's index
    }
    // Wake the dataplane as a real client would.
    ix_fence_seq_cst();
    if (ix_load_relaxed(&h->dp_sleeping.value) != 0) {
      const uint64_t one = 1;
      (void)!write(fds[IX_QP_FD_KICK], &one, sizeof(one));
    }
    usleep(200);
  }
  printf("ix_hostile_app: done %llu %llu %llu\n", static_cast<unsigned long long>(total),
         static_cast<unsigned long long>(rejected), static_cast<unsigned long long>(stolen));
  fflush(stdout);
  return 0;
}

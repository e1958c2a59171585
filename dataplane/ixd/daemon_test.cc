// ixd's server side over a real Unix socket, with libix in ixd mode as the client and a fake
// stack behind the processor: attach, sealed memory, commands and events across processes'
// boundaries (here threads), refusal of bad requests, and detach when the app's socket closes.
#include "dataplane/ixd/daemon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "gtest/gtest.h"
#include "libix/ix.h"
#include "nlohmann/json.hpp"

namespace ix::ixd {
namespace {

using testing::FakeStackOps;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/ixd-test-" + std::to_string(getpid()) + ".sock";
    DaemonOptions o;
    o.socket_path = path_;
    o.verbose = false;
    o.attach_timeout_ns = 200'000'000;
    o.stats_socket_path = path_ + ".stats";
    Daemon::Hooks hooks;
    hooks.counters = [this](CounterVisitor fn) { fn("stack.fake_counter", fake_counter_.load()); };
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Create(&fake_, hooks, o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        {
          std::lock_guard<std::mutex> l(mu_);
          daemon_->Iterate();
        }
        usleep(100);
      }
    });
  }
  void TearDown() override { StopDaemon(); }
  void StopDaemon() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    daemon_.reset();
    EXPECT_NE(access(path_.c_str(), F_OK), 0);  // the socket files are removed
    EXPECT_NE(access((path_ + ".stats").c_str(), F_OK), 0);
  }
  // Connects to the stats socket, sends `request` (may be empty) and reads to EOF (2 s at most).
  std::string ReadStatsRaw(const std::string& request = "") {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, (path_ + ".stats").c_str());
    EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
    if (!request.empty()) (void)!send(s, request.data(), request.size(), MSG_NOSIGNAL);
    timeval tv{2, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(s, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
    close(s);
    return out;
  }
  nlohmann::json ReadStats(const std::string& request = "") {
    const std::string raw = ReadStatsRaw(request);
    EXPECT_FALSE(raw.empty());
    EXPECT_EQ(raw.back(), '\n');
    EXPECT_EQ(raw.find('\n'), raw.size() - 1) << "one line";
    nlohmann::json j = nlohmann::json::parse(raw, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << raw;
    return j;
  }
  ix_t* Attach(const char* name = "t") {
    ix_options o;
    ix_options_init(&o);
    o.mode = IX_MODE_IXD;
    o.socket_path = path_.c_str();
    o.name = name;
    ix_t* ix = nullptr;
    const int e = ix_init(&o, &ix);
    EXPECT_EQ(e, 0) << ix_last_error();
    return ix;
  }
  // Polls until `pred` holds or 2 s pass; returns the events seen.
  std::vector<ix_event> PollFor(ix_t* ix, size_t want) {
    std::vector<ix_event> all;
    for (int i = 0; i < 200 && all.size() < want; ++i) {
      ix_event evs[16];
      const int n = ix_poll(ix, evs, 16, 10'000'000);
      for (int k = 0; k < n; ++k) all.push_back(evs[k]);
    }
    return all;
  }
  template <typename F>
  void Locked(F f) {
    std::lock_guard<std::mutex> l(mu_);
    f();
  }
  bool WaitFor(std::function<bool()> pred) {
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (pred()) return true;
      }
      usleep(5000);
    }
    return false;
  }

  std::string path_;
  FakeStackOps fake_;
  std::unique_ptr<Daemon> daemon_;
  std::mutex mu_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<uint64_t> fake_counter_{7};
};

TEST_F(DaemonTest, AttachEchoDetach) {
  ix_t* ix = Attach("echo");
  ASSERT_NE(ix, nullptr);
  EXPECT_EQ(ix_mode_of(ix), IX_MODE_IXD);
  ASSERT_EQ(ix_tcp_listen(ix, 80, 16), 0);
  std::vector<ix_event> evs = PollFor(ix, 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].value, 0);
  ConnId engine = 0;
  Locked([&] { engine = fake_.Accept(80); });
  evs = PollFor(ix, 1);
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_EQ(evs[0].type, IX_EV_TCP_KNOCK);
  ASSERT_EQ(ix_tcp_accept(ix, evs[0].id, 5), 0);
  const uint32_t id = evs[0].id;
  ix_flush(ix);
  ASSERT_TRUE(WaitFor([&] { return ix_cmds_in_flight(ix) <= 1; }));
  Locked([&] { fake_.Receive(engine, "hello"); });
  evs = PollFor(ix, 1);
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_EQ(evs[0].type, IX_EV_TCP_RECV);
  const char* p = static_cast<const char*>(ix_rx_data(ix, &evs[0]));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::string(p, evs[0].len), "hello");
  ASSERT_EQ(ix_tcp_send(ix, id, 5, p, evs[0].len), 0);
  ASSERT_EQ(ix_tcp_recv_done(ix, id, evs[0].buf), 0);
  evs = PollFor(ix, 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].value, 5);
  ASSERT_TRUE(WaitFor([&] { return fake_.conns[engine].sent == "hello"; }));
  ASSERT_TRUE(WaitFor([&] { return fake_.conns[engine].consumed == 5; }));
  Locked([&] { EXPECT_EQ(daemon_->stats().attached, 1u); });

  // The app goes away without closing anything: its connection is reset, its port released.
  ix_destroy(ix);
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().detached == 1; }));
  Locked([&] {
    EXPECT_TRUE(fake_.conns[engine].aborted);
    EXPECT_EQ(fake_.listening.count(80), 0u);
    EXPECT_EQ(daemon_->apps(), 0u);
  });
}

TEST_F(DaemonTest, StatsSocketReportsLiveCounters) {
  nlohmann::json j = ReadStats();
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["pid"], getpid());
  EXPECT_EQ(j["socket"], path_);
  EXPECT_EQ(j["attached"], 0);
  EXPECT_EQ(j["apps_attached"], 0);
  EXPECT_TRUE(j["apps"].empty());
  EXPECT_EQ(j["stack"]["stack.fake_counter"], 7);
  const uint64_t uptime0 = j["uptime_ns"].get<uint64_t>();
  EXPECT_GT(uptime0, 0u);

  ix_t* ix = Attach("kv");
  ASSERT_NE(ix, nullptr);
  ASSERT_EQ(ix_tcp_listen(ix, 80, 16), 0);
  ASSERT_EQ(PollFor(ix, 1).size(), 1u);
  fake_counter_ = 9;
  j = ReadStats();
  EXPECT_EQ(j["attached"], 1);
  EXPECT_EQ(j["detached"], 0);
  EXPECT_EQ(j["apps_attached"], 1);
  EXPECT_EQ(j["stats_served"], 1);  // the first answer, not this one
  EXPECT_GT(j["uptime_ns"].get<uint64_t>(), uptime0);
  EXPECT_GT(j["iterations"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["stack"]["stack.fake_counter"], 9);
  ASSERT_EQ(j["apps"].size(), 1u);
  EXPECT_EQ(j["apps"][0]["name"], "kv");
  EXPECT_EQ(j["apps"][0]["pid"], getpid());
  EXPECT_EQ(j["apps"][0]["queues"], 1);
  EXPECT_EQ(j["apps"][0]["commands"], 1);  // the listen
  EXPECT_EQ(j["apps"][0]["rejected"], 0);

  ix_destroy(ix);
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().detached == 1; }));
  j = ReadStats();
  EXPECT_EQ(j["detached"], 1);
  EXPECT_EQ(j["apps_attached"], 0);
  EXPECT_EQ(j["apps_removed"], 1);
}

TEST_F(DaemonTest, StatsSocketIgnoresInputAndSurvivesBadNames) {
  // Whatever a client sends, it gets the same answer.
  EXPECT_EQ(ReadStats("stats\n")["attached"], 0);
  std::string garbage(3000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37);
  EXPECT_EQ(ReadStats(garbage)["attached"], 0);
  // An app name that is not UTF-8 is the app's choice: the answer stays valid JSON.
  ix_t* ix = Attach("bad\xff\xfe name");
  ASSERT_NE(ix, nullptr);
  nlohmann::json j = ReadStats();
  ASSERT_EQ(j["apps"].size(), 1u);
  EXPECT_NE(j["apps"][0]["name"].get<std::string>().find("name"), std::string::npos);
  ix_destroy(ix);
}

TEST_F(DaemonTest, StatsClientsThatNeverReadDoNotStallIxd) {
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, (path_ + ".stats").c_str());
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    idle.push_back(s);
  }
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().stats_served == 100; }));
  // The dataplane still serves apps and stats.
  ix_t* ix = Attach();
  ASSERT_NE(ix, nullptr);
  ASSERT_EQ(ix_udp_bind(ix, 53), 0);
  ASSERT_EQ(PollFor(ix, 1).size(), 1u);
  nlohmann::json j = ReadStats();
  EXPECT_EQ(j["stats_served"], 100);
  EXPECT_EQ(j["stats_dropped"], 0);
  EXPECT_EQ(j["attached"], 1);
  for (int s : idle) close(s);
  ix_destroy(ix);
}

TEST_F(DaemonTest, AppBlockedInPollIsWokenByEvents) {
  ix_t* ix = Attach();
  ASSERT_NE(ix, nullptr);
  ASSERT_EQ(ix_udp_bind(ix, 53), 0);
  ASSERT_EQ(PollFor(ix, 1).size(), 1u);
  std::string payload = "dgram";
  std::thread later([&] {
    usleep(100000);
    Locked([&] { fake_.Udp(53, payload); });
  });
  ix_event ev[4];
  const int n = ix_poll(ix, ev, 4, 3'000'000'000);  // sleeps in the wake eventfd
  later.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(ev[0].type, IX_EV_UDP_RECV);
  ix_destroy(ix);
}

TEST_F(DaemonTest, MemoryIsSealedAndRxIsReadOnly) {
  // Attach by hand to look at the descriptors.
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path_.c_str());
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ix_attach_req req{};
  req.magic = IX_ABI_MAGIC;
  req.abi_version = IX_ABI_VERSION;
  req.num_queues = 2;
  ASSERT_EQ(send(s, &req, sizeof(req), 0), static_cast<ssize_t>(sizeof(req)));
  ix_attach_resp resp{};
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ASSERT_EQ(recvmsg(s, &msg, 0), static_cast<ssize_t>(sizeof(resp)));
  ASSERT_EQ(resp.status, 0);
  ASSERT_EQ(resp.num_queues, 2u);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(cm, nullptr);
  ASSERT_EQ(cm->cmsg_len, CMSG_LEN(sizeof(int) * 10));
  int fds[10];
  std::memcpy(fds, CMSG_DATA(cm), sizeof(fds));
  for (int q = 0; q < 2; ++q) {
    const int* f = &fds[q * IX_QP_FDS];
    const int seals_rx = fcntl(f[IX_QP_FD_RX], F_GET_SEALS);
    EXPECT_NE(seals_rx & F_SEAL_FUTURE_WRITE, 0);
    EXPECT_NE(seals_rx & F_SEAL_SEAL, 0);
    EXPECT_NE(fcntl(f[IX_QP_FD_AREA], F_GET_SEALS) & F_SEAL_SHRINK, 0);
    EXPECT_NE(fcntl(f[IX_QP_FD_TX], F_GET_SEALS) & F_SEAL_GROW, 0);
    // The RX area cannot be mapped writable, nor resized, nor unsealed.
    EXPECT_EQ(mmap(nullptr, resp.rx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f[IX_QP_FD_RX], 0),
              MAP_FAILED);
    EXPECT_NE(ftruncate(f[IX_QP_FD_AREA], 0), 0);
    EXPECT_NE(fcntl(f[IX_QP_FD_RX], F_ADD_SEALS, F_SEAL_WRITE), 0);  // F_SEAL_SEAL
    void* ro = mmap(nullptr, resp.rx_bytes, PROT_READ, MAP_SHARED, f[IX_QP_FD_RX], 0);
    EXPECT_NE(ro, MAP_FAILED);
    if (ro != MAP_FAILED) munmap(ro, resp.rx_bytes);
    auto* h = static_cast<ix_qp_header*>(
        mmap(nullptr, resp.qp_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f[IX_QP_FD_AREA], 0));
    ASSERT_NE(h, MAP_FAILED);
    EXPECT_EQ(h->magic, IX_ABI_MAGIC);
    EXPECT_EQ(h->queue_index, static_cast<uint32_t>(q));
    munmap(h, resp.qp_bytes);
  }
  for (int fd : fds) close(fd);
  close(s);
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().detached == 1; }));
}

TEST_F(DaemonTest, BadRequestsAreRefused) {
  auto raw = [&](const void* data, size_t len) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (len > 0) {
      EXPECT_EQ(send(s, data, len, 0), static_cast<ssize_t>(len));
    }
    ix_attach_resp resp{};
    timeval tv{2, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const ssize_t n = recv(s, &resp, sizeof(resp), 0);
    close(s);
    return n == static_cast<ssize_t>(sizeof(resp)) ? resp.status : 1;
  };
  ix_attach_req req{};
  req.magic = IX_ABI_MAGIC;
  req.abi_version = IX_ABI_VERSION + 1;
  req.num_queues = 1;
  EXPECT_EQ(raw(&req, sizeof(req)), -IX_EINVAL);
  req.abi_version = IX_ABI_VERSION;
  req.num_queues = IX_MAX_QUEUES + 1;
  EXPECT_EQ(raw(&req, sizeof(req)), -IX_EINVAL);
  req.num_queues = 1;
  req.cmd_entries = 100;  // not a power of two
  EXPECT_EQ(raw(&req, sizeof(req)), -IX_EINVAL);
  req.cmd_entries = 0;
  req.tx_bytes = uint64_t{1} << 40;
  EXPECT_EQ(raw(&req, sizeof(req)), -IX_EINVAL);
  req.tx_bytes = 0;
  req.rx_buf_count = IX_MAX_RX_BUFS;  // 4 GiB of RX buffers per queue: over max_app_bytes
  req.rx_buf_size = IX_MAX_RX_BUF_SIZE;
  EXPECT_EQ(raw(&req, sizeof(req)), -IX_EINVAL);
  EXPECT_EQ(raw("short", 5), -IX_EINVAL);
  EXPECT_EQ(raw(nullptr, 0), 1);  // silent client: dropped after the attach timeout
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().refused == 7; }));
  Locked([&] { EXPECT_EQ(daemon_->stats().attached, 0u); });
  // A good client still gets in.
  ix_t* ix = Attach();
  ASSERT_NE(ix, nullptr);
  ix_destroy(ix);
}

TEST_F(DaemonTest, QueuePairsPerThreadShareTheAppsPorts) {
  ix_options o;
  ix_options_init(&o);
  o.mode = IX_MODE_IXD;
  o.socket_path = path_.c_str();
  ix_t* q[2] = {nullptr, nullptr};
  ASSERT_EQ(ix_init_queues(&o, q, 2), 0) << ix_last_error();
  ASSERT_EQ(ix_tcp_listen(q[0], 80, 16), 0);
  ASSERT_EQ(PollFor(q[0], 1).size(), 1u);
  // The port belongs to the app: its other queue pair may not bind it again, and a second app
  // may not bind it at all.
  ASSERT_EQ(ix_tcp_listen(q[1], 80, 16), 0);
  std::vector<ix_event> evs = PollFor(q[1], 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].value, -IX_EADDRINUSE);
  ix_t* other = Attach("other");
  ASSERT_EQ(ix_tcp_listen(other, 80, 16), 0);
  evs = PollFor(other, 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].value, -IX_EPERM);
  // Connections are spread over the app's queue pairs.
  Locked([&] {
    fake_.Accept(80);
    fake_.Accept(80);
  });
  EXPECT_EQ(PollFor(q[0], 1).size(), 1u);
  EXPECT_EQ(PollFor(q[1], 1).size(), 1u);
  ix_destroy(other);
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().detached == 1; }));
  ix_destroy(q[0]);
  usleep(50000);
  Locked([&] { EXPECT_EQ(daemon_->stats().detached, 1u); });  // q[1] still holds the socket
  ix_destroy(q[1]);
  ASSERT_TRUE(WaitFor([&] { return daemon_->stats().detached == 2; }));
}

TEST_F(DaemonTest, AppLearnsThatIxdIsGone) {
  ix_t* ix = Attach();
  ASSERT_NE(ix, nullptr);
  StopDaemon();
  ix_event ev[4];
  int n = 0;
  for (int i = 0; i < 50 && n == 0; ++i) n = ix_poll(ix, ev, 4, 100'000'000);
  EXPECT_EQ(n, -ECONNRESET);
  ix_destroy(ix);
}

TEST_F(DaemonTest, OtherUidIsRefused) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch uid";
  }
  const pid_t pid = fork();
  if (pid == 0) {
    if (setresuid(65534, 65534, 65534) != 0) _exit(3);
    ix_options o;
    ix_options_init(&o);
    o.mode = IX_MODE_IXD;
    o.socket_path = path_.c_str();
    ix_t* ix = nullptr;
    const int e = ix_init(&o, &ix);
    _exit(e == -IX_EPERM ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ix::ixd

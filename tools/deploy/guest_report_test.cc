// Tests of the agent's answers over a fake guest root, with a real ixd Daemon (over a fake stack)
// serving the stats socket there, and with broken stats sockets.
#include "tools/deploy/guest_report.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "dataplane/ixd/daemon.h"
#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "gtest/gtest.h"
#include "ix/abi.h"
#include "nlohmann/json.hpp"

namespace ix::deploy {
namespace {

std::string Root(const std::string& name) {
  const std::string root = testing::TempDir() + "/" + name + "_" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  return root;
}

sockaddr_un Addr(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  return addr;
}

// A listening stream socket at path (a stand-in for a broken ixd).
int ListenAt(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Addr(path);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  EXPECT_EQ(listen(fd, 4), 0);
  return fd;
}

// Attaches one app to the daemon at `path` the raw way (include/ix/abi.h); returns the socket.
int RawAttach(const std::string& path) {
  const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Addr(path);
  EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ix_attach_req req{};
  req.magic = IX_ABI_MAGIC;
  req.abi_version = IX_ABI_VERSION;
  req.num_queues = 1;
  std::strcpy(req.name, "ix-kv");
  EXPECT_EQ(send(s, &req, sizeof(req), 0), static_cast<ssize_t>(sizeof(req)));
  ix_attach_resp resp{};
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * IX_QP_FDS)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  EXPECT_EQ(recvmsg(s, &msg, 0), static_cast<ssize_t>(sizeof(resp)));
  EXPECT_EQ(resp.status, 0);
  if (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr) {
    int fds[IX_QP_FDS];
    std::memcpy(fds, CMSG_DATA(cm), sizeof(fds));
    for (int fd : fds) close(fd);
  }
  return s;
}

void Put(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(GuestReport, StatsFromFiles) {
  const std::string root = Root("guest_report_root");
  Put(root + "/run/ix/ixd.pid", "5\n");
  Put(root + "/proc/5/stat", "5 (ixd) S 1 5 5 0\n");
  Put(root + "/run/ix/app.pid", "999999999\n");
  Put(root + "/run/ix/net", "eth0 10.0.2.15/24 10.0.2.2\n");
  Put(root + "/var/log/ixd.log", "[ix nic] eth0: copy mode, generic XDP\nixd: serving /run/ix/ixd.sock\n"
                                 "ixd: attached app 1 'ix-kv' (pid 5)\n");
  Put(root + "/sys/class/net/eth0/statistics/rx_packets", "42\n");
  Put(root + "/proc/uptime", "12.5 3.0\n");
  Put(root + "/proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 77 kB\n");
  nlohmann::json j = nlohmann::json::parse(Answer("stats\n", root));
  // No stats socket in this root: said so, and the log-derived fields are still there.
  EXPECT_FALSE(j.contains("ixd_live"));
  EXPECT_NE(j["ixd_error"].get<std::string>().find("No such file"), std::string::npos)
      << j["ixd_error"];
  EXPECT_EQ(j["ixd"]["running"], true);
  EXPECT_EQ(j["ixd"]["serving"], true);
  EXPECT_EQ(j["ixd"]["attached"], 1);
  EXPECT_EQ(j["ixd"]["nic_mode"], "[ix nic] eth0: copy mode, generic XDP");
  EXPECT_EQ(j["app"]["running"], false);
  EXPECT_EQ(j["nic"]["rx_packets"], 42);
  EXPECT_EQ(j["nic"]["ip"], "10.0.2.15/24");
  EXPECT_EQ(j["mem_available_kb"], 77);
  EXPECT_DOUBLE_EQ(j["uptime_s"].get<double>(), 12.5);
  nlohmann::json logs = nlohmann::json::parse(Answer("logs", root));
  EXPECT_NE(logs["ixd"].get<std::string>().find("serving"), std::string::npos);
  EXPECT_TRUE(nlohmann::json::parse(Answer("bogus", root)).contains("error"));
  std::filesystem::remove_all(root);
}

TEST(GuestReport, IxdLiveStatsFromItsStatsSocket) {
  const std::string root = Root("guest_report_live");
  std::filesystem::create_directories(root + "/run/ix");
  ixd::testing::FakeStackOps fake;
  ixd::DaemonOptions o;
  o.socket_path = root + "/run/ix/ixd.sock";
  o.stats_socket_path = root + kIxdStatsSocket;
  o.verbose = false;
  ixd::Daemon::Hooks hooks;
  hooks.counters = [](ixd::CounterVisitor fn) { fn("nic.rx_packets", 42); };
  absl::StatusOr<std::unique_ptr<ixd::Daemon>> d = ixd::Daemon::Create(&fake, hooks, o);
  ASSERT_TRUE(d.ok()) << d.status();
  std::atomic<bool> stop{false};
  std::thread loop([&] { (*d)->Run(&stop); });  // the real loop, idle sleeps included

  nlohmann::json j = nlohmann::json::parse(Answer("stats", root));
  EXPECT_FALSE(j.contains("ixd_error")) << j["ixd_error"];
  EXPECT_EQ(j["ixd_live"]["attached"], 0);
  EXPECT_EQ(j["ixd_live"]["apps_attached"], 0);
  EXPECT_EQ(j["ixd_live"]["stack"]["nic.rx_packets"], 42);
  const int app = RawAttach(o.socket_path);
  j = nlohmann::json::parse(Answer("stats", root));
  EXPECT_EQ(j["ixd_live"]["attached"], 1);
  EXPECT_EQ(j["ixd_live"]["apps_attached"], 1);
  ASSERT_EQ(j["ixd_live"]["apps"].size(), 1u);
  EXPECT_EQ(j["ixd_live"]["apps"][0]["name"], "ix-kv");
  EXPECT_EQ(j["ixd_live"]["stats_served"], 1);
  close(app);

  stop = true;
  loop.join();
  d->reset();  // removes the socket files
  j = nlohmann::json::parse(Answer("stats", root));
  EXPECT_FALSE(j.contains("ixd_live"));
  EXPECT_NE(j["ixd_error"].get<std::string>().find("(ixd is not running)"), std::string::npos)
      << j["ixd_error"];
  std::filesystem::remove_all(root);
}

TEST(GuestReport, BrokenStatsSocketsAreErrorsNotHangs) {
  const std::string root = Root("guest_report_broken");
  const std::string path = root + kIxdStatsSocket;
  nlohmann::json out;
  // A socket file nobody serves (ixd died).
  close(ListenAt(path));
  EXPECT_NE(QueryIxdStats(path, 200, &out).find("Connection refused"), std::string::npos);
  std::filesystem::remove(path);
  // Something that accepts and never answers.
  int fd = ListenAt(path);
  const std::string silent = QueryIxdStats(path, 200, &out);
  EXPECT_NE(silent.find("no answer within the timeout"), std::string::npos) << silent;
  close(fd);
  // Something that answers `answer` to one client.
  auto ask = [&](const std::string& answer) {
    std::filesystem::remove(path);
    const int server = ListenAt(path);
    std::thread peer([&] {
      const int c = accept(server, nullptr, nullptr);
      (void)!send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(c);
    });
    const std::string e = QueryIxdStats(path, 2000, &out);
    peer.join();
    close(server);
    return e;
  };
  EXPECT_NE(ask("not json\n").find("not a JSON object"), std::string::npos);
  EXPECT_NE(ask("[1, 2]\n").find("not a JSON object"), std::string::npos);
  EXPECT_NE(ask("{\"attached\": 1").find("incomplete answer"), std::string::npos);
  EXPECT_EQ(ask("{\"attached\": 3}\n"), "");
  EXPECT_EQ(out["attached"], 3);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace ix::deploy

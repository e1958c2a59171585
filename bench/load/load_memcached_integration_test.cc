// Integration test of ix-load against the real memcached (Debian's package): the test starts
// memcached on a free loopback port, runs a get/set mix through ix-load, requires zero errors,
// then checks with its own plain "get" that the values ix-load set are really stored.
// Exits 77 (meson: skipped) when memcached is not installed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/load/clock.h"
#include "bench/load/testing/run_ix_load.h"
#include "bench/load/workload.h"
#include "gtest/gtest.h"

namespace ix::load {
namespace {

std::string FindMemcached() {
  for (const char* p : {"/usr/bin/memcached", "/usr/local/bin/memcached", "/usr/sbin/memcached"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int ConnectLoopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Sends cmd and reads until the reply ends with terminator (bounded by a 5 s receive timeout).
std::string Roundtrip(int fd, const std::string& cmd, const std::string& terminator) {
  if (send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size())) {
    return "";
  }
  std::string out;
  char buf[65536];
  while (out.size() < terminator.size() ||
         out.compare(out.size() - terminator.size(), terminator.size(), terminator) != 0) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class Memcached {
 public:
  // Starts memcached on a free loopback port; retries with another port if it does not come up.
  bool Start(const std::string& binary) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreeLoopbackPort();
      pid_ = fork();
      if (pid_ == 0) {
        const std::string port = std::to_string(port_);
        execl(binary.c_str(), binary.c_str(), "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0",
              "-t", "1", "-m", "64", "-c", "256", "-u", "root", static_cast<char*>(nullptr));
        _exit(127);
      }
      const uint64_t deadline = MonoNowNs() + 5'000'000'000u;
      while (MonoNowNs() < deadline) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;  // exited (port taken?): try again
        }
        const int fd = ConnectLoopback(port_);
        if (fd >= 0) {
          close(fd);
          return true;
        }
        usleep(20'000);
      }
      Stop();
    }
    return false;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  ~Memcached() { Stop(); }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

uint64_t StatValue(const std::string& stats, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(stats, "\r\n")) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    uint64_t v = 0;
    if (f.size() == 3 && f[0] == "STAT" && f[1] == name && absl::SimpleAtoi(f[2], &v)) return v;
  }
  return UINT64_MAX;
}

TEST(LoadMemcachedTest, GetSetMixHasNoErrorsAndSetsAreStored) {
  const std::string binary = FindMemcached();
  ASSERT_FALSE(binary.empty());
  Memcached mc;
  ASSERT_TRUE(mc.Start(binary)) << "memcached did not start";
  constexpr uint64_t kKeys = 500;
  constexpr uint32_t kKeySize = 12;
  const auto run = testing::RunIxLoad(
      {"--server=127.0.0.1:" + std::to_string(mc.port()), "--protocol=memcache", "--rate=3000",
       "--duration=3s", "--warmup=500ms", "--get_ratio=0.5", "--keys=500", "--key_size=12",
       "--value_size=uniform:10:300", "--key_dist=zipf:0.9", "--connections=4", "--timeout=2s"},
      /*time_limit_s=*/25);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  ASSERT_TRUE(run.report.is_object()) << run.stderr_text;
  std::printf("%s", run.stderr_text.c_str());
  const auto& r = run.report;
  const auto& req = r["requests"];
  EXPECT_GT(req["scheduled"].get<uint64_t>(), 8000u);  // ~9000 at 3000/s for 3 s
  EXPECT_EQ(req["completed"], req["scheduled"]);
  EXPECT_EQ(req["errors"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["server_errors"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["bad_data"].get<uint64_t>(), 0u);
  EXPECT_EQ(req["timeouts"].get<uint64_t>(), 0u);
  EXPECT_EQ(r["connections"]["resets"].get<uint64_t>(), 0u);
  const auto& m = r["memcache"];
  const uint64_t sets = m["sets"].get<uint64_t>(), hits = m["hits"].get<uint64_t>();
  EXPECT_GT(sets, 3000u);
  EXPECT_GT(hits, 3000u);  // after the warm-up nearly every key has been set
  EXPECT_EQ(m["gets"].get<uint64_t>() + sets, req["completed"].get<uint64_t>());
  EXPECT_EQ(m["hits"].get<uint64_t>() + m["misses"].get<uint64_t>(), m["gets"].get<uint64_t>());

  // The server's own counters agree (they include the warm-up phase).
  const int fd = ConnectLoopback(mc.port());
  ASSERT_GE(fd, 0);
  const std::string stats = Roundtrip(fd, "stats\r\n", "END\r\n");
  EXPECT_GE(StatValue(stats, "cmd_set"), sets);
  EXPECT_GE(StatValue(stats, "get_hits"), hits);

  // A real multi-get of every key: the values ix-load wrote are there, byte for byte.
  std::string cmd = "get";
  for (uint64_t k = 0; k < kKeys; ++k) {
    absl::StrAppend(&cmd, " ", MemcacheWorkload::KeyName(k, kKeySize));
  }
  const std::string reply = Roundtrip(fd, cmd + "\r\n", "END\r\n");
  close(fd);
  size_t pos = 0, found = 0, bad = 0;
  while (pos < reply.size() && reply.compare(pos, 6, "VALUE ") == 0) {
    const size_t eol = reply.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    std::vector<std::string> f = absl::StrSplit(reply.substr(pos, eol - pos), ' ');
    ASSERT_EQ(f.size(), 4u);
    uint64_t key = 0, len = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[1].substr(1), &key));
    ASSERT_TRUE(absl::SimpleAtoi(f[3], &len));
    EXPECT_GE(len, 10u);
    EXPECT_LE(len, 300u);
    const std::string value = reply.substr(eol + 2, len);
    for (size_t j = 0; j < len; ++j) {
      if (value[j] != MemcacheWorkload::ValueByte(key, j)) {
        ++bad;
        break;
      }
    }
    ++found;
    pos = eol + 2 + len + 2;
  }
  EXPECT_EQ(reply.substr(pos), "END\r\n");
  EXPECT_EQ(bad, 0u);
  // ~5000 zipf(0.9) sets over 500 keys: nearly every key was written at least once.
  EXPECT_GE(found, kKeys * 8 / 10) << "only " << found << " of " << kKeys << " keys stored";
  std::printf("multi-get: %zu of %lu keys stored, all values verified\n", found,
              static_cast<unsigned long>(kKeys));
}

}  // namespace
}  // namespace ix::load

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (ix::load::FindMemcached().empty()) {
    std::printf("SKIP: memcached is not installed (apt-get install memcached)\n");
    return 77;
  }
  if (ix::load::testing::IxLoadPath().empty()) {
    std::printf("SKIP: IX_LOAD_BIN is not set (run through meson test)\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}

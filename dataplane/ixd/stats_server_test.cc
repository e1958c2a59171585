// The stats socket on its own: one answer per connection, never blocking on a client, the bound
// per Serve call, the socket file's mode, and live versus stale socket files.
#include "dataplane/ixd/stats_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ix::ixd {
namespace {

std::string TestPath() { return "/tmp/ixd-stats-test-" + std::to_string(getpid()) + ".sock"; }

int Connect(const std::string& path) {
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(s);
    return -1;
  }
  return s;
}

std::string ReadAll(int s) {
  timeval tv{2, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = recv(s, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

double NowS() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

TEST(StatsServer, AnswersEachClientOnceAndRendersOnlyWhenAsked) {
  absl::StatusOr<std::unique_ptr<StatsServer>> s = StatsServer::Listen(TestPath());
  ASSERT_TRUE(s.ok()) << s.status();
  struct stat st{};
  ASSERT_EQ(stat(TestPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int renders = 0;
  auto render = [&] {
    ++renders;
    return std::string("{\"n\":") + std::to_string(renders) + "}";
  };
  StatsServer::Result r = (*s)->Serve(render);
  EXPECT_EQ(r.served, 0u);
  EXPECT_EQ(renders, 0);
  const int a = Connect(TestPath());
  const int b = Connect(TestPath());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(send(a, "garbage\n\x01\x02", 10, 0), 10);  // ignored
  r = (*s)->Serve(render);
  EXPECT_EQ(r.served, 2u);
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(renders, 1);  // once per Serve, shared by its clients
  EXPECT_EQ(ReadAll(a), "{\"n\":1}\n");
  EXPECT_EQ(ReadAll(b), "{\"n\":1}\n");
  close(a);
  close(b);
  s->reset();
  EXPECT_NE(access(TestPath().c_str(), F_OK), 0);
}

TEST(StatsServer, AClientThatDoesNotReadAHugeAnswerIsDroppedNotWaitedFor) {
  absl::StatusOr<std::unique_ptr<StatsServer>> s = StatsServer::Listen(TestPath());
  ASSERT_TRUE(s.ok()) << s.status();
  const int c = Connect(TestPath());
  ASSERT_GE(c, 0);
  const std::string huge(64 << 20, 'x');  // far beyond any socket buffer
  const double t0 = NowS();
  const StatsServer::Result r = (*s)->Serve([&] { return huge; });
  EXPECT_LT(NowS() - t0, 1.0);
  EXPECT_EQ(r.served, 0u);
  EXPECT_EQ(r.dropped, 1u);
  const std::string got = ReadAll(c);
  EXPECT_LT(got.size(), huge.size());  // a truncated answer: no final newline
  EXPECT_TRUE(got.empty() || got.back() == 'x');
  close(c);
}

TEST(StatsServer, ServesAtMostABoundedNumberOfClientsPerCall) {
  absl::StatusOr<std::unique_ptr<StatsServer>> s = StatsServer::Listen(TestPath());
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<int> clients;
  const int n = StatsServer::kMaxClientsPerServe + 4;
  for (int i = 0; i < n; ++i) {
    clients.push_back(Connect(TestPath()));
    ASSERT_GE(clients.back(), 0);
  }
  EXPECT_EQ((*s)->Serve([] { return std::string("{}"); }).served,
            static_cast<uint64_t>(StatsServer::kMaxClientsPerServe));
  EXPECT_EQ((*s)->Serve([] { return std::string("{}"); }).served, 4u);
  for (int c : clients) {
    EXPECT_EQ(ReadAll(c), "{}\n");
    close(c);
  }
}

TEST(StatsServer, ALiveSocketIsKeptAndAStaleOneReplaced) {
  absl::StatusOr<std::unique_ptr<StatsServer>> live = StatsServer::Listen(TestPath());
  ASSERT_TRUE(live.ok()) << live.status();
  absl::StatusOr<std::unique_ptr<StatsServer>> second = StatsServer::Listen(TestPath());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  const int c = Connect(TestPath());  // the first one's file is still there and served
  ASSERT_GE(c, 0);
  const StatsServer::Result r = (*live)->Serve([] { return std::string("{}"); });
  EXPECT_EQ(r.served, 1u);   // c
  EXPECT_EQ(r.dropped, 1u);  // the second Listen's probe, gone by now
  EXPECT_EQ(ReadAll(c), "{}\n");
  close(c);
  live->reset();

  // A socket file whose server died without removing it.
  absl::StatusOr<int> dead = ListenUnixSocket(TestPath(), SOCK_STREAM, 0600);
  ASSERT_TRUE(dead.ok()) << dead.status();
  close(*dead);
  ASSERT_EQ(access(TestPath().c_str(), F_OK), 0);
  absl::StatusOr<std::unique_ptr<StatsServer>> fresh = StatsServer::Listen(TestPath());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  const int d = Connect(TestPath());
  ASSERT_GE(d, 0);
  EXPECT_EQ((*fresh)->Serve([] { return std::string("{}"); }).served, 1u);
  close(d);
}

TEST(StatsServer, TooLongAPathIsAnError) {
  EXPECT_EQ(StatsServer::Listen("/tmp/" + std::string(200, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ix::ixd

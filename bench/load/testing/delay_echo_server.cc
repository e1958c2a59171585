// Delaying, stallable loopback echo responder for ix-load tests (see delay_echo_server.h).
#include "bench/load/testing/delay_echo_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/load/clock.h"

namespace ix::load::testing {
namespace {

struct Chunk {
  uint64_t due_ns;
  std::string data;
};

struct Client {
  std::deque<Chunk> pending;
  std::string out;
};

void SleepNs(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000u), static_cast<long>(ns % 1'000'000'000u)};
  nanosleep(&ts, nullptr);
}

}  // namespace

absl::Status DelayEchoServer::Start(const Options& options) {
  options_ = options;
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listen_fd_, 128) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return absl::InternalError(absl::StrCat("bind/listen: ", strerror(errno)));
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void DelayEchoServer::Stop() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void DelayEchoServer::Serve() {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
  std::map<int, Client> clients;
  uint64_t first_accept_ns = 0;
  bool stalled = false;
  char buf[64 * 1024];
  while (!stop_) {
    uint64_t now = MonoNowNs();
    if (!stalled && options_.stall_ns != 0 && first_accept_ns != 0 &&
        now >= first_accept_ns + options_.stall_at_ns) {
      stalled = true;
      stall_started_ns_ = now;
      SleepNs(options_.stall_ns);  // neither read nor write: the peer sees a frozen server
      now = MonoNowNs();
      stall_ended_ns_ = now;
    }
    // Move due chunks to the output and write.
    uint64_t next_due = now + 1'000'000;
    for (auto it = clients.begin(); it != clients.end();) {
      Client& c = it->second;
      while (!c.pending.empty() && c.pending.front().due_ns <= now) {
        c.out += c.pending.front().data;
        c.pending.pop_front();
      }
      if (!c.pending.empty()) next_due = std::min(next_due, c.pending.front().due_ns);
      bool dead = false;
      while (!c.out.empty()) {
        const ssize_t n = send(it->first, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
          bytes_echoed_ += static_cast<uint64_t>(n);
          c.out.erase(0, static_cast<size_t>(n));
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        dead = true;
        break;
      }
      if (dead) {
        close(it->first);
        it = clients.erase(it);
      } else {
        ++it;
      }
    }
    if (!stalled && options_.stall_ns != 0 && first_accept_ns != 0) {
      next_due = std::min(next_due, first_accept_ns + options_.stall_at_ns);
    }
    const uint64_t wait = next_due > now ? next_due - now : 0;
    timespec ts{static_cast<time_t>(wait / 1'000'000'000u), static_cast<long>(wait % 1'000'000'000u)};
    epoll_event events[64];
    const int n = epoll_pwait2(ep, events, 64, &ts, nullptr);
    now = MonoNowNs();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        int cfd;
        while ((cfd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          const int one = 1;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = cfd;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
          clients[cfd];
          accepted_++;
          if (first_accept_ns == 0) first_accept_ns = now;
        }
        continue;
      }
      auto it = clients.find(fd);
      if (it == clients.end()) continue;
      const ssize_t r = recv(fd, buf, sizeof(buf), 0);
      if (r > 0) {
        it->second.pending.push_back({now + options_.delay_ns, std::string(buf, r)});
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);
        clients.erase(it);
      }
    }
  }
  for (auto& [fd, c] : clients) close(fd);
  close(ep);
}

}  // namespace ix::load::testing

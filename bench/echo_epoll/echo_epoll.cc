// ix-echo-epoll: the Linux side of the echo comparison. A single-threaded, non-blocking epoll
// server that echoes every byte it receives on TCP connections and every UDP datagram, on one
// port. It exists because ix-load's echo workload needs plain echo semantics, which sockperf's
// server does not give (it answers only sockperf's own message format).
//
//   ix-echo-epoll [--ip=0.0.0.0] [--port=7] [--spin]
//
// Prints "ix-echo-epoll: ready <ip>:<port>" on stdout once listening (the same contract as
// ix-echo), exits 0 on SIGTERM or SIGINT. --spin polls epoll with a zero timeout instead of
// sleeping (one busy core).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

ABSL_FLAG(std::string, ip, "0.0.0.0", "address to listen on");
ABSL_FLAG(int, port, 7, "TCP and UDP port");
ABSL_FLAG(bool, spin, false, "busy-poll epoll (timeout 0) instead of sleeping");

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Fail(const char* what) {
  fprintf(stderr, "ix-echo-epoll: %s: %s\n", what, strerror(errno));
  return 1;
}

// Pending output of one TCP connection (bytes not yet accepted by send()).
struct Conn {
  std::string out;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("TCP and UDP echo server on epoll.\n"
                               "Usage: ix-echo-epoll [--ip=A.B.C.D] [--port=7] [--spin]");
  absl::ParseCommandLine(argc, argv);
  const std::string ip = absl::GetFlag(FLAGS_ip);
  const int port = absl::GetFlag(FLAGS_port);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    fprintf(stderr, "ix-echo-epoll: bad --ip %s\n", ip.c_str());
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int one = 1;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) return Fail("socket(tcp)");
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return Fail("bind(tcp)");
  if (listen(lfd, 1024) != 0) return Fail("listen");
  int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ufd < 0) return Fail("socket(udp)");
  if (bind(ufd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return Fail("bind(udp)");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return Fail("epoll_create1");
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = ufd;
  epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
  printf("ix-echo-epoll: ready %s:%d\n", ip.c_str(), port);
  fflush(stdout);

  std::vector<Conn*> conns;  // indexed by fd
  const bool spin = absl::GetFlag(FLAGS_spin);
  static char buf[65536];
  epoll_event events[64];
  while (!g_stop) {
    int n = epoll_wait(ep, events, 64, spin ? 0 : 100);
    if (n < 0 && errno != EINTR) return Fail("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (int k = 0; k < 64; ++k) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          if (size_t(c) >= conns.size()) conns.resize(size_t(c) + 1, nullptr);
          conns[size_t(c)] = new Conn();
          epoll_event cev = {};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      if (fd == ufd) {
        for (int k = 0; k < 64; ++k) {
          sockaddr_in from;
          socklen_t fl = sizeof(from);
          ssize_t r = recvfrom(ufd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
          if (r < 0) break;
          sendto(ufd, buf, size_t(r), 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
        continue;
      }
      Conn* conn = conns[size_t(fd)];
      bool dead = (events[i].events & (EPOLLERR | EPOLLHUP)) != 0;
      if (!dead && (events[i].events & EPOLLIN)) {
        for (;;) {
          ssize_t r = recv(fd, buf, sizeof(buf), 0);
          if (r == 0) { dead = true; break; }
          if (r < 0) { dead = errno != EAGAIN && errno != EINTR; break; }
          conn->out.append(buf, size_t(r));
          if (size_t(r) < sizeof(buf)) break;
        }
      }
      if (!dead && !conn->out.empty()) {
        ssize_t w = send(fd, conn->out.data(), conn->out.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) dead = true;
        if (w > 0) conn->out.erase(0, size_t(w));
        epoll_event cev = {};
        cev.events = EPOLLIN | (conn->out.empty() ? 0u : uint32_t(EPOLLOUT));
        cev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
      if (dead) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        delete conn;
        conns[size_t(fd)] = nullptr;
      }
    }
  }
  for (Conn* c : conns) delete c;
  return 0;
}

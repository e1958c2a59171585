// ix-kv-linux: the ix key-value server's KvSession behind a plain Linux epoll TCP server,
// so that real memcached clients can test the protocol code without the ix dataplane.
//
//   ix-kv-linux --ip=127.0.0.1 --port=11211 --memory_mb=64
// With --port=0 the kernel picks a free port; the first line on stdout is always
// "listening on <ip>:<port>".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/kv/protocol.h"
#include "examples/kv/store.h"

ABSL_FLAG(std::string, ip, "127.0.0.1", "IPv4 address to listen on");
ABSL_FLAG(int32_t, port, 11211, "TCP port to listen on (0: pick a free one)");
ABSL_FLAG(int64_t, memory_mb, 64, "memory limit of the item store, in MiB");
ABSL_FLAG(int64_t, max_item_kb, 1024, "largest item (key + value + overhead), in KiB");

namespace ix::kv {
namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

absl::Status Errno(const std::string& call) {
  return absl::ErrnoToStatus(errno, absl::string_view(call.data(), call.size()));
}

uint64_t NowS() { return static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())); }

struct Connection {
  Connection(int fd_in, KvStore* store, const KvSessionOptions& options)
      : fd(fd_in), session(store, options) {}
  ~Connection() { close(fd); }
  int fd;
  KvSession session;
  std::string in;      // bytes not yet consumed by the session (only after output_full)
  std::string out;     // responses not yet written
  size_t out_sent = 0;
  bool closing = false;  // close once `out` is written
  bool more = false;     // the session stopped on output_full: call it again once drained
  bool want_write = false;
};

absl::StatusOr<int> Listen(const std::string& ip, int port, int* bound_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("bad --ip ", ip));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status s = Errno(absl::StrCat("bind ", ip, ":", port));
    close(fd);
    return s;
  }
  if (listen(fd, 1024) != 0) {
    absl::Status s = Errno("listen");
    close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

class Server {
 public:
  Server(int listen_fd, int epoll_fd, KvStore* store, KvSessionOptions options)
      : listen_fd_(listen_fd), epoll_fd_(epoll_fd), store_(store), options_(options) {}

  absl::Status Run() {
    std::vector<epoll_event> events(256);
    while (!g_stop) {
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 500);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          Accept();
          continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        Connection* c = it->second.get();
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          Close(c);
          continue;
        }
        if (events[i].events & EPOLLOUT) OnWritable(c);
        if (conns_.contains(fd) && (events[i].events & EPOLLIN)) OnReadable(c);
      }
    }
    return absl::OkStatus();
  }

 private:
  void Accept() {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN or a transient error: try at the next event
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        continue;
      }
      conns_[fd] = std::make_unique<Connection>(fd, store_, options_);
    }
  }

  void Close(Connection* c) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
    conns_.erase(c->fd);  // closes the fd
  }

  // Feeds c->in (held only after output_full) plus `data` to the session.
  void Feed(Connection* c, std::string_view data) {
    std::string_view input = data;
    if (!c->in.empty()) {
      c->in.append(data);
      input = c->in;
    }
    KvProcessResult r = c->session.Process(input, NowS(), &c->out);
    std::string rest(input.substr(r.consumed));
    c->in = std::move(rest);
    c->more = r.output_full;
    if (r.close) c->closing = true;
  }

  void OnReadable(Connection* c) {
    char buf[64 * 1024];
    // Stop reading while responses are queued: backpressure keeps memory bounded.
    while (!c->closing && !c->more && c->out.size() == c->out_sent) {
      ssize_t got = read(c->fd, buf, sizeof(buf));
      if (got == 0) {  // the peer finished sending: answer what it sent, then close
        c->closing = true;
        break;
      }
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          Close(c);
          return;
        }
        break;
      }
      Feed(c, std::string_view(buf, static_cast<size_t>(got)));
      if (!Pump(c)) return;
    }
    if (!Pump(c)) return;
    UpdateInterest(c);
  }

  void OnWritable(Connection* c) {
    if (!Pump(c)) return;
    UpdateInterest(c);
  }

  // Writes queued output and resumes a session stopped on output_full, until the socket
  // is full or nothing is left; closes a closing connection once everything is written.
  // Returns false if the connection was closed.
  bool Pump(Connection* c) {
    while (true) {
      if (!Flush(c)) return false;
      if (c->out_sent < c->out.size()) return true;  // wait for EPOLLOUT
      if (!c->more) break;
      Feed(c, std::string_view());
    }
    if (c->closing) {
      Close(c);
      return false;
    }
    return true;
  }

  // Writes what it can. Returns false if the connection was closed on an error.
  bool Flush(Connection* c) {
    while (c->out_sent < c->out.size()) {
      ssize_t sent = send(c->fd, c->out.data() + c->out_sent, c->out.size() - c->out_sent,
                          MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        Close(c);
        return false;
      }
      c->out_sent += static_cast<size_t>(sent);
    }
    if (c->out_sent == c->out.size()) {
      c->out.clear();
      c->out_sent = 0;
    }
    return true;
  }

  void UpdateInterest(Connection* c) {
    bool want_write = c->out_sent < c->out.size();
    if (want_write == c->want_write) return;
    c->want_write = want_write;
    epoll_event ev{};
    // While output is pending, wait for writability only (backpressure on reads).
    ev.events = want_write ? EPOLLOUT : EPOLLIN;
    ev.data.fd = c->fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
  }

  int listen_fd_;
  int epoll_fd_;
  KvStore* store_;
  KvSessionOptions options_;
  absl::flat_hash_map<int, std::unique_ptr<Connection>> conns_;
};

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ix key-value server (memcached text protocol) on plain Linux sockets.\n"
      "  ix-kv-linux --ip=127.0.0.1 --port=11211 --memory_mb=64");
  absl::FlagsUsageConfig usage_config;
  // --help lists the flags of this file (absl matches on the binary's name by default).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return file.find("kv_socket_main") != absl::string_view::npos;
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  const int64_t memory_mb = absl::GetFlag(FLAGS_memory_mb);
  const int64_t max_item_kb = absl::GetFlag(FLAGS_max_item_kb);
  if (memory_mb <= 0 || max_item_kb <= 0) {
    fprintf(stderr, "--memory_mb and --max_item_kb must be positive\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  int port = 0;
  absl::StatusOr<int> listen_fd =
      Listen(absl::GetFlag(FLAGS_ip), absl::GetFlag(FLAGS_port), &port);
  if (!listen_fd.ok()) {
    fprintf(stderr, "ix-kv-linux: %s\n", listen_fd.status().ToString().c_str());
    return 1;
  }
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    perror("epoll_create1");
    return 1;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = *listen_fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, *listen_fd, &ev) != 0) {
    perror("epoll_ctl");
    return 1;
  }

  KvStore store(KvStoreOptions{
      .memory_limit_bytes = static_cast<size_t>(memory_mb) << 20,
      .max_item_bytes = static_cast<size_t>(max_item_kb) << 10,
  });
  KvSessionOptions options;
  options.server_start_s = NowS();
  options.pid = getpid();
  printf("listening on %s:%d\n", absl::GetFlag(FLAGS_ip).c_str(), port);
  fflush(stdout);

  Server server(*listen_fd, epoll_fd, &store, options);
  absl::Status s = server.Run();
  close(epoll_fd);
  close(*listen_fd);
  if (!s.ok()) {
    fprintf(stderr, "ix-kv-linux: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ix::kv

int main(int argc, char** argv) { return ix::kv::Main(argc, argv); }

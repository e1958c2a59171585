// The ixd server loop: Unix-socket attach, the run-to-completion loop, idle sleep, detach.
#include "dataplane/ixd/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ix::ixd {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

Daemon::Daemon(StackOps* ops, const Hooks& hooks, const DaemonOptions& options)
    : ops_(ops), hooks_(hooks), options_(options) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(StackOps* ops, const Hooks& hooks,
                                                       const DaemonOptions& options) {
  absl::StatusOr<QpSizes> sizes = NormalizeQpSizes(options.default_sizes);
  if (!sizes.ok()) return sizes.status();
  std::unique_ptr<Daemon> d(new Daemon(ops, hooks, options));
  d->options_.default_sizes = *sizes;
  d->proc_ = std::make_unique<Processor>(ops, options.processor);
  Daemon* raw = d.get();
  d->proc_->set_wake_fn([raw](uint32_t app, uint32_t queue) { raw->Wake(app, queue); });
  d->created_ns_ = NowNs();
  if (absl::Status st = d->Listen(); !st.ok()) return st;
  return d;
}

Daemon::~Daemon() {
  std::vector<int> fds;
  for (auto& [fd, c] : apps_) fds.push_back(fd);
  for (int fd : fds) Detach(fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(options_.socket_path.c_str());
  }
}

absl::Status Daemon::Listen() {
  // Anyone may connect; SO_PEERCRED decides who is served.
  absl::StatusOr<int> fd = ListenUnixSocket(options_.socket_path, SOCK_SEQPACKET, 0666);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  if (options_.stats_socket_path.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<StatsServer>> stats =
      StatsServer::Listen(options_.stats_socket_path);
  if (!stats.ok()) return stats.status();
  stats_server_ = std::move(*stats);
  return absl::OkStatus();
}

void Daemon::Wake(uint32_t app, uint32_t queue) {
  auto it = fd_of_app_.find(app);
  if (it == fd_of_app_.end()) return;
  AppConn& c = apps_[it->second];
  if (queue >= c.queues.size()) return;
  const uint64_t one = 1;
  (void)!write(c.queues[queue].wake_fd, &one, sizeof(one));
}

void Daemon::AcceptClients() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (apps_.size() >= options_.max_apps) {
      ++stats_.refused;
      close(fd);
      continue;
    }
    AppConn c;
    c.fd = fd;
    c.accepted_ns = NowNs();
    apps_[fd] = std::move(c);
  }
}

void Daemon::Refuse(AppConn& c, int code) {
  ix_attach_resp resp{};
  resp.magic = IX_ABI_MAGIC;
  resp.abi_version = IX_ABI_VERSION;
  resp.status = -code;
  (void)send(c.fd, &resp, sizeof(resp), MSG_NOSIGNAL | MSG_DONTWAIT);
  ++stats_.refused;
  if (options_.verbose) {
    fprintf(stderr, "ixd: refused attach from pid %d: error %d\n", static_cast<int>(c.pid), code);
  }
}

void Daemon::HandleRequest(AppConn& c) {
  ix_attach_req req{};
  const ssize_t n = recv(c.fd, &req, sizeof(req), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  const int fd = c.fd;
  if (n <= 0) return Detach(fd);
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != geteuid())) {
    Refuse(c, IX_EPERM);
    return Detach(fd);
  }
  c.pid = cred.pid;
  if (n != static_cast<ssize_t>(sizeof(req)) || req.magic != IX_ABI_MAGIC ||
      req.abi_version != IX_ABI_VERSION || req.num_queues == 0 ||
      req.num_queues > IX_MAX_QUEUES) {
    Refuse(c, IX_EINVAL);
    return Detach(fd);
  }
  QpSizes want{req.cmd_entries, req.ev_entries, req.rx_buf_count, req.rx_buf_size, req.tx_bytes};
  if (want.cmd_entries == 0) want.cmd_entries = options_.default_sizes.cmd_entries;
  if (want.ev_entries == 0) want.ev_entries = options_.default_sizes.ev_entries;
  if (want.rx_buf_count == 0) want.rx_buf_count = options_.default_sizes.rx_buf_count;
  if (want.rx_buf_size == 0) want.rx_buf_size = options_.default_sizes.rx_buf_size;
  if (want.tx_bytes == 0) want.tx_bytes = options_.default_sizes.tx_bytes;
  {
    absl::StatusOr<QpSizes> norm = NormalizeQpSizes(want);
    const uint64_t per_queue =
        norm.ok() ? ix_qp_area_bytes(norm->cmd_entries, norm->ev_entries) + norm->tx_bytes +
                        uint64_t{norm->rx_buf_count} * norm->rx_buf_size
                  : 0;
    if (!norm.ok() || per_queue * req.num_queues > options_.max_app_bytes) {
      Refuse(c, IX_EINVAL);
      return Detach(fd);
    }
  }
  req.name[sizeof(req.name) - 1] = '\0';
  c.name = req.name;

  std::vector<QueueRes> queues;
  for (uint32_t i = 0; i < req.num_queues; ++i) {
    QueueRes r;
    absl::StatusOr<std::unique_ptr<QpMemory>> m = QpMemory::Create(want, /*shareable=*/true);
    if (!m.ok()) {
      Refuse(c, m.status().code() == absl::StatusCode::kInvalidArgument ? IX_EINVAL : IX_ENOMEM);
      for (auto& q : queues) {
        CloseFd(q.kick_fd);
        CloseFd(q.wake_fd);
      }
      return Detach(fd);
    }
    r.mem = std::move(*m);
    r.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    queues.push_back(std::move(r));
  }
  const uint32_t app = proc_->AddApp(c.name);
  for (QueueRes& q : queues) {
    // The processor writes the header before the app can see the memory.
    (void)proc_->AddQueue(app, q.mem->view());
    if (absl::Status st = q.mem->Seal(); !st.ok() || q.kick_fd < 0 || q.wake_fd < 0) {
      proc_->RemoveApp(app);
      for (auto& k : queues) {
        CloseFd(k.kick_fd);
        CloseFd(k.wake_fd);
      }
      Refuse(c, IX_ENOMEM);
      return Detach(fd);
    }
  }
  ix_attach_resp resp{};
  resp.magic = IX_ABI_MAGIC;
  resp.abi_version = IX_ABI_VERSION;
  resp.num_queues = req.num_queues;
  resp.qp_bytes = queues[0].mem->area_bytes();
  resp.tx_bytes = queues[0].mem->sizes().tx_bytes;
  resp.rx_bytes = queues[0].mem->rx_bytes();
  resp.app_id = app;
  std::vector<int> fds;
  for (QueueRes& q : queues) {
    fds.push_back(q.mem->area_fd());
    fds.push_back(q.mem->tx_fd());
    fds.push_back(q.mem->rx_fd());
    fds.push_back(q.kick_fd);
    fds.push_back(q.wake_fd);
  }
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * IX_MAX_QUEUES * IX_QP_FDS)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
  c.app_id = app;
  c.queues = std::move(queues);
  fd_of_app_[app] = fd;
  if (sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(sizeof(resp))) {
    return Detach(fd);
  }
  ++stats_.attached;
  if (options_.verbose) {
    fprintf(stderr, "ixd: attached app %u '%s' (pid %d, uid %u), %u queue pair(s)\n", app,
            c.name.c_str(), static_cast<int>(cred.pid), cred.uid, req.num_queues);
  }
}

void Daemon::Detach(int fd) {
  auto it = apps_.find(fd);
  if (it == apps_.end()) return;
  AppConn& c = it->second;
  if (c.app_id != 0) {
    const AppCounters k = proc_->app_counters(c.app_id);
    const size_t conns = proc_->app_connections(c.app_id);
    proc_->RemoveApp(c.app_id);  // resets its connections, releases ports; no pointer kept
    fd_of_app_.erase(c.app_id);
    ++stats_.detached;
    if (options_.verbose) {
      uint64_t errors = 0;
      for (uint64_t e : k.errors) errors += e;
      fprintf(stderr,
              "ixd: detached app %u '%s' (pid %d): %zu connection(s) reset; commands %llu, "
              "rejected %llu, ring corruptions %llu, rx %llu B, tx %llu B\n",
              c.app_id, c.name.c_str(), static_cast<int>(c.pid), conns,
              static_cast<unsigned long long>(k.commands),
              static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(k.cmd_ring_corrupt + k.ev_ring_corrupt),
              static_cast<unsigned long long>(k.rx_bytes),
              static_cast<unsigned long long>(k.tx_bytes));
    }
  }
  for (QueueRes& q : c.queues) {
    CloseFd(q.kick_fd);
    CloseFd(q.wake_fd);
  }
  close(fd);
  apps_.erase(it);  // unmaps the areas (QpMemory)
}

void Daemon::ServeStats() {
  const StatsServer::Result r = stats_server_->Serve([this] { return StatsJson(); });
  stats_.stats_served += r.served;
  stats_.stats_dropped += r.dropped;
}

void Daemon::Control(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.push_back({listen_fd_, POLLIN, 0});
  fds.push_back({stats_server_ ? stats_server_->fd() : -1, POLLIN, 0});  // fd -1: ignored
  for (auto& [fd, c] : apps_) fds.push_back({fd, POLLIN, 0});
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) {
    // Nothing new; still drop clients that never sent a request.
  }
  if ((fds[0].revents & POLLIN) != 0) AcceptClients();
  if ((fds[1].revents & POLLIN) != 0) ServeStats();
  const uint64_t now = NowNs();
  for (size_t i = 2; i < fds.size(); ++i) {
    auto it = apps_.find(fds[i].fd);
    if (it == apps_.end()) continue;
    AppConn& c = it->second;
    if (c.app_id == 0) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        HandleRequest(c);
      } else if (now - c.accepted_ns > options_.attach_timeout_ns) {
        ++stats_.refused;
        Detach(fds[i].fd);
      }
      continue;
    }
    if ((fds[i].revents & (POLLHUP | POLLERR)) != 0) {
      Detach(fds[i].fd);
    } else if ((fds[i].revents & POLLIN) != 0) {
      // Attached apps have nothing more to say: EOF means gone, anything else is ignored.
      char buf[64];
      const ssize_t n = recv(fds[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) Detach(fds[i].fd);
    }
  }
}

int Daemon::Iterate() {
  ++stats_.iterations;
  const uint64_t now = NowNs();
  int work = hooks_.run ? hooks_.run(now) : 0;
  work += proc_->ProcessCommands(now);
  work += proc_->PumpStackEvents();
  work += proc_->RunTimers(now);
  work += proc_->FlushEvents();
  if (hooks_.flush) work += hooks_.flush();
  if (now - last_control_ns_ >= options_.control_interval_ns) {
    last_control_ns_ = now;
    Control(0);
  }
  return work;
}

void Daemon::Sleep() {
  proc_->SetSleeping(true);
  if (proc_->HasWork()) {
    proc_->SetSleeping(false);
    return;
  }
  ++stats_.sleeps;
  const uint64_t now = NowNs();
  // An app timer that is due but could not be posted (the app's event ring is full) must not
  // keep ixd spinning: it is retried after at most 1 ms.
  uint64_t app_deadline = proc_->NextDeadline();
  if (app_deadline <= now) app_deadline = now + 1'000'000;
  const uint64_t deadline = std::min(
      app_deadline, hooks_.next_deadline ? hooks_.next_deadline() : ~uint64_t{0});
  int timeout_ms = 100;
  if (deadline != ~uint64_t{0}) {
    timeout_ms = deadline <= now ? 0
                                 : static_cast<int>(std::min<uint64_t>(
                                       100, (deadline - now + 999999) / 1000000));
  }
  std::vector<pollfd> fds;
  if (hooks_.wait_fd >= 0) fds.push_back({hooks_.wait_fd, POLLIN, 0});
  fds.push_back({listen_fd_, POLLIN, 0});
  if (stats_server_) fds.push_back({stats_server_->fd(), POLLIN, 0});
  for (auto& [fd, c] : apps_) {
    fds.push_back({fd, POLLIN, 0});
    for (QueueRes& q : c.queues) fds.push_back({q.kick_fd, POLLIN, 0});
  }
  (void)poll(fds.data(), fds.size(), timeout_ms);
  for (auto& [fd, c] : apps_) {
    for (QueueRes& q : c.queues) {
      uint64_t v;
      (void)!read(q.kick_fd, &v, sizeof(v));
    }
  }
  proc_->SetSleeping(false);
  // Sockets may have news (attach requests, hangups): look now rather than in 1 ms.
  Control(0);
  last_control_ns_ = NowNs();
}

void Daemon::Run(const std::atomic<bool>* stop) {
  while (!stop->load(std::memory_order_relaxed)) {
    const int work = Iterate();
    const uint64_t now = NowNs();
    if (work > 0) {
      idle_since_ns_ = 0;
      continue;
    }
    if (idle_since_ns_ == 0) idle_since_ns_ = now;
    if (now - idle_since_ns_ >= options_.spin_ns) {
      Sleep();
      idle_since_ns_ = 0;
    }
  }
}

}  // namespace ix::ixd

// libix ixd mode: attach to the daemon over its Unix socket, map the queue pairs it passes, and
// ring its doorbell only when it sleeps.
#include <errno.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "libix/ix_internal.h"

namespace ix::lib {
namespace {

// The attach connection; closing it (the last queue pair destroyed) detaches the app.
struct Session {
  int sock = -1;
  ~Session() {
    if (sock >= 0) close(sock);
  }
};

class IxdBackend : public Backend {
 public:
  IxdBackend(std::shared_ptr<Session> session, const int* fds, uint64_t qp_bytes, uint64_t tx_bytes,
             uint64_t rx_bytes)
      : session_(std::move(session)), qp_bytes_(qp_bytes), tx_bytes_(tx_bytes), rx_bytes_(rx_bytes) {
    std::memcpy(fds_, fds, sizeof(fds_));
  }
  ~IxdBackend() override {
    if (area_ != nullptr) munmap(area_, qp_bytes_);
    if (map_.tx != nullptr) munmap(map_.tx, tx_bytes_);
    if (map_.rx != nullptr) munmap(const_cast<uint8_t*>(map_.rx), rx_bytes_);
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }

  int Map(std::string* error) {
    area_ = mmap(nullptr, qp_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fds_[IX_QP_FD_AREA], 0);
    void* tx = mmap(nullptr, tx_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fds_[IX_QP_FD_TX], 0);
    void* rx = mmap(nullptr, rx_bytes_, PROT_READ, MAP_SHARED, fds_[IX_QP_FD_RX], 0);
    if (area_ == MAP_FAILED || tx == MAP_FAILED || rx == MAP_FAILED) {
      const int e = errno;
      if (area_ == MAP_FAILED) area_ = nullptr;
      if (tx != MAP_FAILED) map_.tx = static_cast<uint8_t*>(tx);
      if (rx != MAP_FAILED) map_.rx = static_cast<const uint8_t*>(rx);
      *error = std::string("mmap of the queue pair failed: ") + strerror(e);
      return -e;
    }
    map_.tx = static_cast<uint8_t*>(tx);
    map_.rx = static_cast<const uint8_t*>(rx);
    map_.tx_bytes = tx_bytes_;
    map_.rx_bytes = rx_bytes_;
    auto* h = static_cast<ix_qp_header*>(area_);
    const uint64_t need = ix_qp_area_bytes(h->cmd_entries, h->ev_entries);
    if (h->magic != IX_ABI_MAGIC || h->abi_version != IX_ABI_VERSION || h->cmd_entries == 0 ||
        (h->cmd_entries & (h->cmd_entries - 1)) != 0 || h->ev_entries == 0 ||
        (h->ev_entries & (h->ev_entries - 1)) != 0 || need > qp_bytes_ ||
        h->tx_bytes > tx_bytes_ || h->rx_bytes > rx_bytes_) {
      *error = "the dataplane's queue-pair header is not one this libix understands";
      return -EPROTO;
    }
    map_.header = h;
    map_.cmds = reinterpret_cast<ix_cmd*>(static_cast<uint8_t*>(area_) + sizeof(ix_qp_header));
    map_.events = reinterpret_cast<ix_event*>(static_cast<uint8_t*>(area_) + sizeof(ix_qp_header) +
                                              uint64_t{h->cmd_entries} * sizeof(ix_cmd));
    map_.cmd_entries = h->cmd_entries;
    map_.ev_entries = h->ev_entries;
    return 0;
  }

  void Kick(bool published) override {
    if (!published) return;
    ix_fence_seq_cst();
    if (ix_load_relaxed(&map_.header->dp_sleeping.value) != 0) {
      const uint64_t one = 1;
      (void)!write(fds_[IX_QP_FD_KICK], &one, sizeof(one));
    }
  }

  void Wait(int64_t timeout_ns, bool (*ready)(void*), void* arg) override {
    // Spin briefly: the dataplane usually answers within microseconds when awake.
    const uint64_t start = NowNs();
    const uint64_t spin_ns = 20000;
    while (NowNs() - start < spin_ns) {
      if (ready(arg)) return;
      if (timeout_ns >= 0 && NowNs() - start >= static_cast<uint64_t>(timeout_ns)) return;
    }
    for (;;) {
      ix_store_relaxed(&map_.header->app_sleeping.value, 1);
      ix_fence_seq_cst();
      if (ready(arg)) break;
      int64_t left_ns = -1;
      if (timeout_ns >= 0) {
        const uint64_t spent = NowNs() - start;
        if (spent >= static_cast<uint64_t>(timeout_ns)) break;
        left_ns = timeout_ns - static_cast<int64_t>(spent);
      }
      pollfd p[2] = {{fds_[IX_QP_FD_WAKE], POLLIN, 0}, {session_->sock, POLLIN, 0}};
      timespec ts{};
      // Bounded sleeps so that a lost wakeup can only cost 100 ms, never a hang.
      int64_t sleep_ns = left_ns < 0 ? 100000000 : std::min<int64_t>(left_ns, 100000000);
      ts.tv_sec = sleep_ns / 1000000000;
      ts.tv_nsec = sleep_ns % 1000000000;
      const int r = ppoll(p, 2, &ts, nullptr);
      if (r > 0 && (p[0].revents & POLLIN) != 0) {
        uint64_t v;
        (void)!read(fds_[IX_QP_FD_WAKE], &v, sizeof(v));
      }
      if (r > 0 && (p[1].revents & (POLLHUP | POLLERR | POLLIN)) != 0) {
        char c;
        const ssize_t n = recv(session_->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          dead_ = true;  // ixd went away
          break;
        }
      }
    }
    ix_store_relaxed(&map_.header->app_sleeping.value, 0);
  }

  int mode() const override { return IX_MODE_IXD; }
  bool dead() const override { return dead_; }

 private:
  std::shared_ptr<Session> session_;
  int fds_[IX_QP_FDS];
  uint64_t qp_bytes_, tx_bytes_, rx_bytes_;
  void* area_ = nullptr;
  bool dead_ = false;
};

}  // namespace

int CreateIxdBackends(const ix_options& o, unsigned n, std::vector<std::unique_ptr<Backend>>* out,
                      std::string* error) {
  auto session = std::make_shared<Session>();
  session->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (session->sock < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return -errno;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(o.socket_path) >= sizeof(addr.sun_path)) {
    *error = "socket path too long";
    return -ENAMETOOLONG;
  }
  std::strcpy(addr.sun_path, o.socket_path);
  if (connect(session->sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    *error = std::string("cannot reach ixd at ") + o.socket_path + ": " + strerror(e);
    return -e;
  }
  ix_attach_req req{};
  req.magic = IX_ABI_MAGIC;
  req.abi_version = IX_ABI_VERSION;
  req.num_queues = n;
  req.cmd_entries = o.cmd_entries;
  req.ev_entries = o.ev_entries;
  req.rx_buf_count = o.rx_buf_count;
  req.rx_buf_size = o.rx_buf_size;
  req.tx_bytes = o.tx_bytes;
  std::strncpy(req.name, o.name, sizeof(req.name) - 1);
  if (send(session->sock, &req, sizeof(req), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(req))) {
    *error = std::string("attach request: ") + strerror(errno);
    return -EPROTO;
  }
  ix_attach_resp resp{};
  iovec iov{&resp, sizeof(resp)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * IX_MAX_QUEUES * IX_QP_FDS)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  pollfd p{session->sock, POLLIN, 0};
  if (poll(&p, 1, 10000) != 1) {
    *error = "ixd did not answer the attach request within 10 s";
    return -ETIMEDOUT;
  }
  const ssize_t got = recvmsg(session->sock, &msg, MSG_CMSG_CLOEXEC);
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const int* p_fd = reinterpret_cast<const int*>(CMSG_DATA(c));
      fds.insert(fds.end(), p_fd, p_fd + k);
    }
  }
  auto close_all = [&] {
    for (int fd : fds) close(fd);
  };
  if (got != static_cast<ssize_t>(sizeof(resp)) || resp.magic != IX_ABI_MAGIC) {
    close_all();
    *error = "ixd sent a malformed attach answer";
    return -EPROTO;
  }
  if (resp.abi_version != IX_ABI_VERSION) {
    close_all();
    *error = "ixd speaks ABI version " + std::to_string(resp.abi_version) + ", libix " +
             std::to_string(IX_ABI_VERSION);
    return -EPROTO;
  }
  if (resp.status != 0) {
    close_all();
    const int code =
        resp.status < 0 && resp.status > -IX_ERROR_COUNT ? -resp.status : IX_ERROR_COUNT;
    *error = std::string("ixd refused the attach: ") + ix_strerror(code) + " (" +
             std::to_string(resp.status) + ")";
    return resp.status;
  }
  if (resp.num_queues != n || fds.size() != size_t{n} * IX_QP_FDS ||
      (msg.msg_flags & MSG_CTRUNC) != 0) {
    close_all();
    *error = "ixd passed the wrong number of descriptors";
    return -EPROTO;
  }
  for (unsigned i = 0; i < n; ++i) {
    auto b = std::make_unique<IxdBackend>(session, &fds[i * IX_QP_FDS], resp.qp_bytes,
                                          resp.tx_bytes, resp.rx_bytes);
    for (unsigned k = 0; k < IX_QP_FDS; ++k) fds[i * IX_QP_FDS + k] = -1;
    if (int e = b->Map(error); e != 0) {
      for (int fd : fds) {
        if (fd >= 0) close(fd);
      }
      out->clear();
      return e;
    }
    out->push_back(std::move(b));
  }
  return 0;
}

}  // namespace ix::lib

// Pipelined non-blocking connection state machine for ix-load (see conn.h).
#include "bench/load/conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ix::load {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxReadsPerEvent = 16;

}  // namespace

Connection::Connection(uint32_t id, const Target& target, const ConnOptions& options,
                       Workload* workload, Rng* rng, ConnObserver* observer, int epoll_fd)
    : id_(id),
      target_(target),
      options_(options),
      workload_(workload),
      rng_(rng),
      observer_(observer),
      epoll_fd_(epoll_fd) {}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

void Connection::Open(uint64_t now_ns) {
  ++generation_;
  out_.clear();
  out_pos_ = 0;
  in_.clear();
  want_out_ = true;
  fd_ = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) {
    observer_->OnConnectError(errno);
    state_ = State::kClosed;
    reconnect_at_ns_ = now_ns + options_.reconnect_backoff_ns;
    return;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(fd_, reinterpret_cast<const sockaddr*>(&target_.addr), target_.addr_len);
  if (rc != 0 && errno != EINPROGRESS) {
    const int err = errno;
    close(fd_);
    fd_ = -1;
    observer_->OnConnectError(err);
    state_ = State::kClosed;
    reconnect_at_ns_ = now_ns + options_.reconnect_backoff_ns;
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = epoll_data();
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_, &ev);
  state_ = State::kConnecting;
  if (rc == 0) {
    state_ = State::kConnected;
    observer_->OnConnected();
    Pump(now_ns);
  }
}

void Connection::Submit(uint64_t scheduled_ns, bool measured, uint64_t now_ns) {
  backlog_.push_back({scheduled_ns, measured, /*retry=*/false});
  Pump(now_ns);
}

void Connection::Pump(uint64_t now_ns) {
  if (state_ != State::kConnected) return;
  while (!backlog_.empty() && (options_.max_depth == 0 || inflight_.size() < options_.max_depth)) {
    Request req;
    req.scheduled_ns = backlog_.front().scheduled_ns;
    req.measured = backlog_.front().measured;
    req.retry = backlog_.front().retry;
    backlog_.pop_front();
    workload_->Next(*rng_, &req, &out_);
    inflight_.push_back(req);
    observer_->OnSent(req, now_ns);
  }
}

void Connection::Flush(uint64_t now_ns) {
  if (state_ != State::kConnected) return;
  while (out_pos_ < out_.size()) {
    const ssize_t n = send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Reset(now_ns, /*protocol_error=*/false);
    return;
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ > (1u << 20)) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  UpdateInterest();
}

void Connection::UpdateInterest() {
  const bool want = out_pos_ < out_.size();
  if (want == want_out_ || fd_ < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = epoll_data();
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
  want_out_ = want;
}

void Connection::OnEvent(uint32_t events, uint32_t generation, uint64_t now_ns) {
  if (generation != generation_ || fd_ < 0) return;
  if (state_ == State::kConnecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      close(fd_);
      fd_ = -1;
      state_ = State::kClosed;
      observer_->OnConnectError(err != 0 ? err : ECONNREFUSED);
      reconnect_at_ns_ = now_ns + options_.reconnect_backoff_ns;
      return;
    }
    state_ = State::kConnected;
    observer_->OnConnected();
    Pump(now_ns);
    Flush(now_ns);
    return;
  }
  if ((events & EPOLLIN) != 0) {
    ReadAndParse(now_ns);
    if (state_ != State::kConnected) return;
  }
  if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLIN) == 0) {
    Reset(now_ns, /*protocol_error=*/false);
    return;
  }
  if ((events & EPOLLOUT) != 0) Flush(now_ns);
}

void Connection::ReadAndParse(uint64_t now_ns) {
  bool closed = false;
  for (int i = 0; i < kMaxReadsPerEvent; ++i) {
    const size_t base = in_.size();
    in_.resize(base + kReadChunk);
    const ssize_t n = recv(fd_, in_.data() + base, kReadChunk, 0);
    in_.resize(base + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) {
      if (static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    closed = true;  // EOF or a hard error; parse what arrived first
    break;
  }
  size_t pos = 0;
  const absl::string_view view(in_);
  while (!inflight_.empty()) {
    const ParseResult r = workload_->Parse(inflight_.front(), view.substr(pos));
    if (r.status == ParseStatus::kNeedMore) break;
    if (r.status == ParseStatus::kProtocolError) {
      // The request whose reply could not be understood is lost; the rest are retried.
      observer_->OnDropped(inflight_.front(), DropReason::kAborted);
      inflight_.pop_front();
      Reset(now_ns, /*protocol_error=*/true);
      return;
    }
    pos += r.consumed;
    const Request req = inflight_.front();
    inflight_.pop_front();
    observer_->OnResponse(req, r.outcome, now_ns);
  }
  if (inflight_.empty() && pos < in_.size()) {  // bytes nobody asked for
    Reset(now_ns, /*protocol_error=*/true);
    return;
  }
  in_.erase(0, pos);
  if (closed) {
    Reset(now_ns, /*protocol_error=*/false);
    return;
  }
  Pump(now_ns);
  Flush(now_ns);
}

void Connection::Reset(uint64_t now_ns, bool protocol_error) {
  if (state_ != State::kClosed) {
    observer_->OnReset(protocol_error);
    reconnect_at_ns_ = now_ns + options_.reconnect_backoff_ns;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  ++generation_;
  state_ = State::kClosed;
  // In-flight requests past their timeout are timeouts; younger ones go back to the front of
  // the backlog, in order, to be sent again on the next connection (their latency still counts
  // from the original schedule).
  for (auto it = inflight_.rbegin(); it != inflight_.rend(); ++it) {
    if (Expired(it->scheduled_ns, now_ns)) {
      observer_->OnDropped(*it, DropReason::kTimeout);
    } else {
      backlog_.push_front({it->scheduled_ns, it->measured, /*retry=*/true});
    }
  }
  inflight_.clear();
  DropExpiredBacklog(now_ns);
  out_.clear();
  out_pos_ = 0;
  in_.clear();
}

void Connection::DropExpiredBacklog(uint64_t now_ns) {
  for (auto it = backlog_.begin(); it != backlog_.end();) {
    if (Expired(it->scheduled_ns, now_ns)) {
      Request r;
      r.scheduled_ns = it->scheduled_ns;
      r.measured = it->measured;
      observer_->OnDropped(r, DropReason::kTimeout);
      it = backlog_.erase(it);
    } else {
      ++it;
    }
  }
}

void Connection::Tick(uint64_t now_ns) {
  if (!inflight_.empty() && Expired(inflight_.front().scheduled_ns, now_ns)) {
    Reset(now_ns, /*protocol_error=*/false);
  } else if (!backlog_.empty() && Expired(backlog_.front().scheduled_ns, now_ns)) {
    // Waiting for a connection (or for depth) too long: these time out, the connection stays.
    DropExpiredBacklog(now_ns);
  }
  if (state_ == State::kClosed && now_ns >= reconnect_at_ns_) Open(now_ns);
}

void Connection::Abandon() {
  for (const Request& r : inflight_) observer_->OnDropped(r, DropReason::kTimeout);
  inflight_.clear();
  for (const Ticket& t : backlog_) {
    Request r;
    r.scheduled_ns = t.scheduled_ns;
    r.measured = t.measured;
    observer_->OnDropped(r, DropReason::kUnsent);
  }
  backlog_.clear();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  ++generation_;
  state_ = State::kClosed;
}

}  // namespace ix::load

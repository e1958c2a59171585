// IdlePoller: spin, then ppoll() on the queue's wait fd until a frame or the next timer.
#include "dataplane/core/idle_poller.h"

#include <poll.h>
#include <time.h>

#include <algorithm>

namespace ix::dp {

IdlePoller::IdlePoller(Stack* stack, const IdleOptions& options)
    : stack_(stack), options_(options) {}

bool IdlePoller::AfterIteration(int work) {
  if (work > 0) {
    idle_since_ns_ = 0;
    return false;
  }
  const uint64_t now = MonotonicNowNs();
  if (idle_since_ns_ == 0) {
    idle_since_ns_ = now;
    return false;
  }
  if (now - idle_since_ns_ < options_.spin_ns) return false;
  const uint64_t deadline = stack_->NextDeadline();
  if (deadline <= now) return false;
  uint64_t sleep_ns = std::min(deadline - now, options_.max_sleep_ns);
  const int fd = stack_->queue()->WaitFd();
  if (fd < 0) sleep_ns = std::min(sleep_ns, options_.no_fd_sleep_ns);
  pollfd fds[2];
  int nfds = 0;
  if (fd >= 0) fds[nfds++] = pollfd{fd, POLLIN, 0};
  if (options_.extra_fd >= 0) fds[nfds++] = pollfd{options_.extra_fd, POLLIN, 0};
  const timespec ts{static_cast<time_t>(sleep_ns / 1'000'000'000),
                    static_cast<long>(sleep_ns % 1'000'000'000)};
  ++sleeps_;
  if (ppoll(fds, static_cast<nfds_t>(nfds), &ts, nullptr) > 0) ++wakeups_by_fd_;
  idle_since_ns_ = 0;  // spin again after waking
  return true;
}

}  // namespace ix::dp

// The idle policy of a run loop: busy-poll for a short spin, then sleep in ppoll() on the queue's
// wait fd (the AF_XDP socket) until a frame arrives or the stack's next timer is due.
//
//   IdlePoller idle(stack, {.spin_ns = 50'000});
//   for (;;) {
//     int work = stack->RunOnce(MonotonicNowNs());
//     ... PollEvents, handle, Flush ...
//     idle.AfterIteration(work);
//   }
//
// Why: this machine class has two cores; a loop that spins forever while idle takes one of them
// from everything else (Linux peers, other loops). Busy polling while traffic flows keeps latency
// at the link's limit; after spin_ns without work the loop sleeps. A cross-CPU wakeup costs about
// 45-50 us here (platform.md), so a spin shorter than a typical request gap is a loss only for
// sparse traffic. Queues without a wait fd (the in-memory pair) sleep for at most
// no_fd_sleep_ns instead.
//
// Threading: used by the stack's owner thread only. `extra_fd` (e.g. an eventfd another thread
// writes to wake the loop) is polled for POLLIN alongside the queue; the caller drains it.
#ifndef IX_DATAPLANE_CORE_IDLE_POLLER_H_
#define IX_DATAPLANE_CORE_IDLE_POLLER_H_

#include <cstdint>

#include "dataplane/core/stack.h"

namespace ix::dp {

struct IdleOptions {
  uint64_t spin_ns = 50'000;          // busy-poll this long after the last work before sleeping
  uint64_t max_sleep_ns = 200'000'000;  // upper bound of one sleep (so a loop re-checks flags)
  uint64_t no_fd_sleep_ns = 1'000'000;  // sleep bound for queues without a wait fd
  int extra_fd = -1;
};

class IdlePoller {
 public:
  // `stack` must outlive the poller.
  explicit IdlePoller(Stack* stack, const IdleOptions& options = {});

  // Call once per loop iteration with what that iteration did (RunOnce's return plus anything the
  // application did). Returns true if it slept. A signal interrupts the sleep (EINTR).
  bool AfterIteration(int work);

  uint64_t sleeps() const { return sleeps_; }
  uint64_t wakeups_by_fd() const { return wakeups_by_fd_; }

 private:
  Stack* stack_;
  IdleOptions options_;
  uint64_t idle_since_ns_ = 0;  // 0: the last iteration did work
  uint64_t sleeps_ = 0;
  uint64_t wakeups_by_fd_ = 0;
};

}  // namespace ix::dp

#endif  // IX_DATAPLANE_CORE_IDLE_POLLER_H_

// FaultQueue: a nic::Queue decorator that impairs a real link the way netem would (loss,
// duplication, delay, reordering), for integration tests and experiments on kernels without
// sch_netem (this project's CI kernel has none: CONFIG_NET_SCH_NETEM is not set).
//
//   FaultQueueOptions o;
//   o.rx = {.loss_pct = 1, .duplicate_pct = 1, .reorder_pct = 5, .delay_ns = 1'000'000};
//   FaultQueue q(af_xdp_queue.get(), o);       // the stack runs over &q
//
// Receive side (frames from the peer), with netem's semantics: each frame is lost with
// loss_pct; a surviving frame is duplicated with duplicate_pct (the copy is a fresh buffer of
// the pool); with delay_ns > 0 every frame is held until now + delay_ns, except that reorder_pct
// of them are delivered at once, overtaking the held ones (netem "reorder" needs a delay too).
// At most max_held frames are held; beyond that frames are lost (counted, as netem's limit).
// Transmit side: loss and duplication only (a lost frame is accepted and freed at once).
// Time is read from CLOCK_MONOTONIC (this wraps a real link). While frames are held, WaitFd()
// returns -1 so that an IdlePoller sleeps at most its no_fd_sleep_ns (1 ms by default), which
// adds at most that much to the configured delay.
//
// Threading: as the wrapped queue (one owner thread).
#ifndef IX_DATAPLANE_CORE_STACK_FAULT_QUEUE_H_
#define IX_DATAPLANE_CORE_STACK_FAULT_QUEUE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/nic/queue.h"

namespace ix::dp {

struct LinkImpairment {
  double loss_pct = 0;
  double duplicate_pct = 0;
  double reorder_pct = 0;  // rx only, with delay_ns > 0
  uint64_t delay_ns = 0;   // rx only
  bool active() const {
    return loss_pct > 0 || duplicate_pct > 0 || reorder_pct > 0 || delay_ns > 0;
  }
};

// Parses "loss=1,duplicate=1,reorder=5,delay_us=1000" (percentages; any subset; "" = none).
absl::StatusOr<LinkImpairment> ParseLinkImpairment(absl::string_view text);

struct FaultQueueOptions {
  LinkImpairment rx;
  LinkImpairment tx;
  uint32_t max_held = 10000;
  uint64_t seed = 1;
};

struct FaultQueueCounters {
  uint64_t rx_lost = 0;
  uint64_t rx_duplicated = 0;
  uint64_t rx_delayed = 0;
  uint64_t rx_reordered = 0;
  uint64_t rx_over_limit = 0;
  uint64_t rx_dup_no_buffer = 0;
  uint64_t tx_lost = 0;
  uint64_t tx_duplicated = 0;
};

class FaultQueue : public nic::Queue {
 public:
  // `inner` is not owned and must outlive this queue.
  FaultQueue(nic::Queue* inner, const FaultQueueOptions& options);
  ~FaultQueue() override;  // frees held frames

  int RxBurst(nic::Packet* out, int max) override;
  int TxBurst(const nic::Packet* pkts, int n) override;
  void Kick() override { inner_->Kick(); }
  int Poll() override { return inner_->Poll(); }
  core::MbufPool& pool() override { return inner_->pool(); }
  nic::QueueStats stats() const override { return inner_->stats(); }
  int WaitFd() const override { return held_.empty() ? inner_->WaitFd() : -1; }

  const FaultQueueCounters& counters() const { return counters_; }

 private:
  struct Held {
    nic::Packet pkt;
    uint64_t release_ns;
  };
  bool Chance(double pct);
  uint32_t Copy(const nic::Packet& pkt);  // a fresh buffer with the same frame, or kNoBuffer
  void Admit(const nic::Packet& pkt, uint64_t now_ns, std::vector<nic::Packet>* now_out);

  nic::Queue* inner_;
  FaultQueueOptions options_;
  uint64_t rng_;
  std::deque<Held> held_;  // in release order (the delay is constant)
  std::vector<nic::Packet> burst_;
  std::vector<nic::Packet> ready_;  // frames to hand out before any held one
  std::vector<nic::Packet> tx_;
  FaultQueueCounters counters_;
};

}  // namespace ix::dp

#endif  // IX_DATAPLANE_CORE_STACK_FAULT_QUEUE_H_

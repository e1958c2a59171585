// An in-memory pair of NIC queues joined by a fake wire that can drop, duplicate, reorder, delay
// and corrupt frames on demand: the NIC for unit tests of everything above nic/.
//
//   auto pool_a = *core::MbufPool::Create({.num_buffers = 256, .huge_pages = kNever});
//   auto pool_b = *core::MbufPool::Create({.num_buffers = 256, .huge_pages = kNever});
//   nic::MemPair pair(pool_a.get(), pool_b.get(), /*seed=*/42);
//   nic::LinkFaults f;
//   f.deterministic = true;
//   f.drop.every = 3;                                // every 3rd frame A -> B is lost
//   pair.SetFaults(nic::Direction::kAToB, f);
//   pair.Inject(nic::Direction::kBToA, nic::Fault::kCorrupt, 1);   // the next frame B -> A
//   (void)pair.a().TxBurst(pkts, n);   ...   int got = pair.b().RxBurst(out, 32);
//
// The wire copies bytes: TxBurst copies each accepted frame off the sender's buffer and frees that
// buffer at once (TX completes immediately); RxBurst copies a frame into a fresh buffer of the
// receiver's pool (at the pool's headroom). If the receiver's pool is empty the frame is dropped
// and counted, as a NIC would. Both ends may share one pool. Not thread-safe: one thread drives
// both ends.
//
// Faults, per direction, decided when a frame is sent, in this order: drop (nothing else happens),
// duplicate (an exact copy follows the frame), corrupt (the original's bytes are flipped), delay,
// reorder. A fault hits a frame when (a) an Inject()ed count for it is pending, or (b) its rule
// says so: in deterministic mode when the frame's 1-based ordinal in that direction is a multiple
// of rule.every; otherwise with probability rule.rate from the pair's seeded RNG (same seed, same
// calls -> same faults).
//  - delay: the frame becomes visible only after `delay_polls` RxBurst calls on the receiving end
//    have passed it by, and not before the pair's clock (SetNowNs) reaches send time + delay_ns.
//    Later frames overtake it.
//  - reorder: the frame is held until `reorder_gap` later frames have been sent in the same
//    direction, then put behind them; if they do not come within `reorder_max_polls` RxBurst
//    calls it is released where it is.
//  - corrupt: `corrupt_bytes` bytes at offsets >= corrupt_min_offset are XORed with 0xff
//    (deterministic mode: consecutive offsets starting at a position derived from the ordinal).
#ifndef IX_DATAPLANE_NIC_MEM_PAIR_H_
#define IX_DATAPLANE_NIC_MEM_PAIR_H_

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "dataplane/core/mbuf.h"
#include "dataplane/nic/queue.h"

namespace ix::nic {

enum class Direction { kAToB = 0, kBToA = 1 };
enum class Fault { kDrop = 0, kDuplicate, kCorrupt, kDelay, kReorder };
inline constexpr int kNumFaults = 5;

struct FaultRule {
  double rate = 0.0;   // random mode: probability per frame
  uint32_t every = 0;  // deterministic mode: every Nth frame (0 = never)
};

struct LinkFaults {
  bool deterministic = false;
  FaultRule drop, duplicate, corrupt, delay, reorder;
  uint32_t delay_polls = 1;
  uint64_t delay_ns = 0;
  uint32_t reorder_gap = 1;
  uint32_t reorder_max_polls = 16;
  uint32_t corrupt_bytes = 1;
  uint32_t corrupt_min_offset = 0;
};

// What the wire did, per direction.
struct WireCounters {
  uint64_t sent = 0;        // frames accepted by TxBurst
  uint64_t delivered = 0;   // frames handed out by RxBurst (duplicates included)
  uint64_t dropped = 0;     // by the drop fault
  uint64_t duplicated = 0;  // extra copies made
  uint64_t corrupted = 0;
  uint64_t delayed = 0;
  uint64_t reordered = 0;
  uint64_t no_buffer = 0;  // dropped because the receiver's pool was empty
  uint64_t oversize = 0;   // dropped because the frame did not fit a receiver buffer
  uint64_t wire_full = 0;  // frames TxBurst refused because the wire held `wire_capacity`
};

class MemPair {
 public:
  // Neither pool is owned; both must outlive the pair. wire_capacity bounds the frames in flight
  // per direction (TxBurst accepts fewer when it is reached).
  MemPair(core::MbufPool* pool_a, core::MbufPool* pool_b, uint64_t seed = 1,
          uint32_t wire_capacity = 4096);
  MemPair(const MemPair&) = delete;
  MemPair& operator=(const MemPair&) = delete;

  Queue& a() { return ends_[0]; }
  Queue& b() { return ends_[1]; }

  void SetFaults(Direction dir, const LinkFaults& faults) { link(dir).faults = faults; }
  // On demand: the next `count` frames sent in `dir` suffer `fault` (on top of the rules).
  void Inject(Direction dir, Fault fault, uint32_t count) {
    link(dir).injected[static_cast<int>(fault)] += count;
  }
  // The clock that time delays are measured against (ns, monotonic; never read from the system).
  void SetNowNs(uint64_t now_ns) { now_ns_ = now_ns; }
  uint64_t now_ns() const { return now_ns_; }

  const WireCounters& counters(Direction dir) const {
    return links_[static_cast<int>(dir)].counters;
  }
  size_t in_flight(Direction dir) const { return links_[static_cast<int>(dir)].wire.size(); }

 private:
  struct WireFrame {
    std::vector<uint8_t> bytes;
    uint64_t ready_poll = 0;  // visible once the receiver's RxBurst count reaches this
    uint64_t ready_ns = 0;    // ... and the clock reaches this
    bool held = false;        // reordered, waiting for later frames
    uint32_t hold_frames = 0;
    uint64_t hold_until_poll = 0;
  };
  struct Link {
    LinkFaults faults;
    std::array<uint32_t, kNumFaults> injected{};
    std::deque<WireFrame> wire;
    uint64_t ordinal = 0;   // frames sent so far
    uint64_t rx_polls = 0;  // RxBurst calls by the receiver
    uint64_t rng = 0;
    WireCounters counters;
  };
  class End : public Queue {
   public:
    End(MemPair* pair, int side, core::MbufPool* pool) : pair_(pair), side_(side), pool_(pool) {}
    int RxBurst(Packet* out, int max) override;
    int TxBurst(const Packet* pkts, int n) override;
    void Kick() override {}
    int Poll() override { return 0; }
    core::MbufPool& pool() override { return *pool_; }
    QueueStats stats() const override { return stats_; }

   private:
    friend class MemPair;
    MemPair* pair_;
    int side_;  // 0 = A, 1 = B
    core::MbufPool* pool_;
    QueueStats stats_;
  };

  Link& link(Direction dir) { return links_[static_cast<int>(dir)]; }
  bool Hits(Link& link, Fault fault, const FaultRule& rule);
  uint64_t NextRandom(Link& link);
  void Corrupt(Link& link, std::vector<uint8_t>& bytes);
  int Send(int from_side, const Packet* pkts, int n);
  int Receive(int to_side, Packet* out, int max);

  std::array<Link, 2> links_;  // indexed by Direction: [0] A -> B, [1] B -> A
  std::array<End, 2> ends_;
  uint32_t wire_capacity_;
  uint64_t now_ns_ = 0;
};

}  // namespace ix::nic

#endif  // IX_DATAPLANE_NIC_MEM_PAIR_H_

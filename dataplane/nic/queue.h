// The one interface every NIC backend offers: a queue with burst receive and burst transmit of
// packet buffers from a core::MbufPool.
//
//   ix::nic::Packet pkts[32];
//   int n = queue.RxBurst(pkts, 32);            // the caller now owns these n buffers
//   for (int i = 0; i < n; ++i) Handle(queue.pool(), pkts[i]);
//   int sent = queue.TxBurst(out, m);           // the queue now owns out[0, sent)
//   for (int i = sent; i < m; ++i) queue.pool().Free(out[i].buf);   // or retry later
//   queue.Kick();                               // make sure the device looks at the TX ring
//   queue.Poll();                               // reclaim TX completions, refill RX buffers
//
// Buffer ownership (the whole contract):
//  - Every Packet names a buffer of queue.pool(). A queue sends only buffers of its own pool.
//  - RxBurst hands ownership of each returned buffer to the caller. The caller must eventually
//    Free it to the pool or give it back through TxBurst (zero-copy forwarding / echo).
//  - TxBurst takes ownership of the accepted packets, a prefix pkts[0, accepted). The queue returns
//    each one to the pool itself once the device is done with it (after TX completion, which may be
//    several calls later). The caller must not touch an accepted buffer again. Packets past the
//    accepted prefix stay with the caller.
//  - Buffers handed to the device for receiving (e.g. the AF_XDP fill ring) belong to the queue.
//
// Progress: TxBurst only places packets on the TX ring; they are guaranteed to leave only after
// Kick() (cheap: it makes a system call only when the device asked for one, or when need_wakeup is
// off and the ring holds packets). Poll() does the rest of the housekeeping (TX completions back to
// the pool, RX buffers topped up, wakeups the device asked for); call it once per loop iteration.
//
// Threading: a queue has one owner thread, the same one that owns its pool. No call blocks.
#ifndef IX_DATAPLANE_NIC_QUEUE_H_
#define IX_DATAPLANE_NIC_QUEUE_H_

#include <cstdint>

#include "dataplane/core/mbuf.h"

namespace ix::nic {

// One frame: bytes [data_off, data_off + len) of buffer `buf` of the queue's pool. The frame
// starts with the Ethernet header; there is no FCS.
struct Packet {
  uint32_t buf;
  uint16_t data_off;
  uint16_t len;
};
static_assert(sizeof(Packet) == 8, "Packet is passed around in bursts: keep it small");

inline uint8_t* PacketData(const core::MbufPool& pool, const Packet& pkt) {
  return pool.Data(pkt.buf) + pkt.data_off;
}

// Counters every backend keeps (monotonic since the queue opened).
struct QueueStats {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;  // accepted by TxBurst
  uint64_t tx_bytes = 0;
  uint64_t tx_completed = 0;  // buffers the device finished sending and the queue freed
  uint64_t tx_ring_full = 0;  // TxBurst calls that could not take every packet
  uint64_t rx_dropped = 0;    // frames lost before RxBurst saw them (ring full, no buffer, ...)
  uint64_t rx_no_buffer = 0;  // times the pool had no buffer to give the device for receiving
  uint64_t kicks = 0;         // wakeup system calls made (0 for in-memory queues)
};

class Queue {
 public:
  virtual ~Queue() = default;

  // Receives up to `max` frames into out[0, n) and returns n (0 when nothing is waiting).
  [[nodiscard]] virtual int RxBurst(Packet* out, int max) = 0;
  // Offers n frames for sending; returns how many were accepted (a prefix). See the ownership
  // rules above.
  [[nodiscard]] virtual int TxBurst(const Packet* pkts, int n) = 0;
  // Tells the device about queued TX frames if it needs telling.
  virtual void Kick() = 0;
  // Housekeeping; returns the number of TX buffers reclaimed.
  virtual int Poll() = 0;

  virtual core::MbufPool& pool() = 0;
  virtual QueueStats stats() const = 0;
  // A file descriptor that polls readable (POLLIN) when RxBurst has frames, for run loops that
  // sleep when idle (dataplane/core/idle_poller.h); -1 if the backend has none (then poll).
  virtual int WaitFd() const { return -1; }
};

}  // namespace ix::nic

#endif  // IX_DATAPLANE_NIC_QUEUE_H_

// AF_XDP NIC backend (libxdp/libbpf): one socket per interface queue, UMEM == a core::MbufPool.
//
//   auto pool = *core::MbufPool::Create({.num_buffers = 4096});   // huge pages when available
//   nic::AfXdpOptions o;
//   o.ifname = "eth0";
//   o.queue_id = 0;
//   o.pool = pool.get();
//   absl::StatusOr<std::unique_ptr<nic::AfXdpQueue>> q = nic::AfXdpQueue::Open(o);
//   ... (*q)->RxBurst / TxBurst / Kick / Poll as in nic/queue.h ...
//   q->reset();   // socket and UMEM closed; the XDP program removed with the last queue
//
// What Open does: registers the pool's whole region as the UMEM (frame address == offset in the
// region, frame size == pool buffer size, no extra UMEM headroom: received frames start
// XDP_PACKET_HEADROOM (256) bytes into a buffer), creates the fill/completion/RX/TX rings, binds
// the socket (zero-copy first when allowed, copy mode as the fallback, with a log line saying
// which), lets libxdp load its default redirect program (xsk_def_prog) on the interface unless one
// is there already, and gives the fill ring its buffers. EBUSY from a rebind right after a close
// (the kernel releases an old UMEM lazily, seen for 1-2 s on Linux 6.18) is retried with a bounded
// backoff. Several queues of one interface are several AfXdpQueue objects (one socket each, each
// with its own pool); the XDP program is removed when the last queue of the interface that
// loaded it closes. If no bpffs is mounted at /sys/fs/bpf and LIBXDP_BPFFS is unset, Open mounts
// a private bpffs under /tmp for the process (libxdp wants one for its dispatcher).
//
// Network namespaces: Open and the destructor act in the calling thread's network namespace
// (interface lookup, netlink); the data path works from any thread once open.
//
// Threading: as for every Queue, one owner thread per queue (the owner of its pool). Open and
// close of different queues may run on different threads (they serialize on a process-wide lock).
#ifndef IX_DATAPLANE_NIC_AF_XDP_H_
#define IX_DATAPLANE_NIC_AF_XDP_H_

#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/core/mbuf.h"
#include "dataplane/nic/queue.h"

namespace ix::nic {

enum class XskCopyMode {
  kAuto,      // try zero-copy, fall back to copy mode (logged)
  kZeroCopy,  // zero-copy or fail
  kCopy,      // copy mode only
};

enum class XdpAttachMode {
  kAuto,  // native (driver) XDP, falling back to generic (skb) XDP
  kNative,
  kGeneric,
};

struct AfXdpOptions {
  std::string ifname;
  uint32_t queue_id = 0;
  core::MbufPool* pool = nullptr;  // required; buffer_size >= 2048; must outlive the queue
  uint32_t rx_ring_size = 2048;    // ring sizes: powers of two
  uint32_t tx_ring_size = 2048;
  uint32_t fill_ring_size = 2048;
  uint32_t comp_ring_size = 2048;
  // Buffers kept in the fill ring for the device to receive into (0: min(fill_ring_size,
  // pool capacity / 2)).
  uint32_t fill_buffers = 0;
  XskCopyMode copy_mode = XskCopyMode::kAuto;
  XdpAttachMode attach_mode = XdpAttachMode::kAuto;
  bool need_wakeup = true;
  // Busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET). Off by default; if the
  // kernel refuses, Open logs it and carries on without. When on, Poll() makes one recvfrom per
  // call so that the kernel polls the device in this thread.
  bool busy_poll = false;
  uint32_t busy_poll_us = 20;
  uint32_t busy_poll_budget = 64;
  // How long Open keeps retrying a bind that fails with EBUSY.
  uint32_t busy_retry_ms = 3000;
};

// Counters the kernel keeps for the socket (getsockopt XDP_STATISTICS).
struct XskKernelStats {
  uint64_t rx_dropped = 0;
  uint64_t rx_invalid_descs = 0;
  uint64_t tx_invalid_descs = 0;
  uint64_t rx_ring_full = 0;
  uint64_t rx_fill_ring_empty_descs = 0;
  uint64_t tx_ring_empty_descs = 0;
};

class AfXdpQueue : public Queue {
 public:
  static absl::StatusOr<std::unique_ptr<AfXdpQueue>> Open(const AfXdpOptions& options);

  AfXdpQueue(const AfXdpQueue&) = delete;
  AfXdpQueue& operator=(const AfXdpQueue&) = delete;
  // Closes the socket and UMEM, returns every buffer the queue held (fill/RX rings, TX not yet
  // completed) to the pool, and removes the XDP program if this was the interface's last queue
  // and Open loaded it. Acts in the calling thread's network namespace (see above).
  ~AfXdpQueue() override;

  int RxBurst(Packet* out, int max) override;
  int TxBurst(const Packet* pkts, int n) override;
  void Kick() override;
  int Poll() override;
  core::MbufPool& pool() override { return *pool_; }
  // Queue counters; rx_dropped includes the kernel's drop counters (one getsockopt).
  QueueStats stats() const override;
  // The socket: POLLIN when the RX ring holds frames.
  int WaitFd() const override { return fd(); }

  absl::StatusOr<XskKernelStats> KernelStats() const;
  bool zero_copy() const { return zero_copy_; }
  bool native_xdp() const { return native_xdp_; }
  bool busy_poll() const { return busy_poll_; }
  bool need_wakeup() const { return need_wakeup_; }
  int fd() const;
  int ifindex() const { return ifindex_; }
  uint32_t queue_id() const { return queue_id_; }
  const std::string& ifname() const { return ifname_; }
  // Buffers the queue holds right now: in the fill/RX rings or in flight on TX.
  uint32_t buffers_held() const { return fill_held_ + tx_outstanding_; }

 private:
  AfXdpQueue() = default;
  int ReclaimCompletions();
  void RefillFill();
  bool TxRingHasUnsent() const;
  void Close();

  std::string ifname_;
  uint32_t queue_id_ = 0;
  int ifindex_ = 0;
  uint64_t netns_id_ = 0;
  core::MbufPool* pool_ = nullptr;
  uint32_t buffer_shift_ = 0;
  uint32_t buffer_mask_ = 0;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
  xsk_ring_cons rx_{};
  xsk_ring_prod tx_{};
  uint32_t fill_target_ = 0;
  uint32_t fill_held_ = 0;       // buffers in the fill ring or the RX ring
  uint32_t tx_outstanding_ = 0;  // buffers in the TX ring or awaiting completion
  // owned_[i] != 0 while buffer i belongs to the queue (given to the kernel for RX or TX), so that
  // close can return exactly those to the pool.
  std::vector<uint8_t> owned_;
  bool zero_copy_ = false;
  bool native_xdp_ = false;
  bool busy_poll_ = false;
  bool need_wakeup_ = false;
  bool registered_ = false;
  QueueStats stats_;
};

// Returns the id of the XDP program attached to `ifindex` in the calling thread's network
// namespace (0 if none), for tests and diagnostics.
absl::StatusOr<uint32_t> AttachedXdpProgramId(int ifindex);

}  // namespace ix::nic

#endif  // IX_DATAPLANE_NIC_AF_XDP_H_

// AfXdpQueue: opening an AF_XDP socket on a pool-backed UMEM, and its RX/TX ring data path.
#include "dataplane/nic/af_xdp.h"

#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dataplane/nic/xdp_setup.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace ix::nic {
namespace {

using xdp_internal::ErrnoStatus;

uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

struct Attempt {
  uint32_t xdp_flags;
  uint16_t bind_flags;
};

const char* AttachName(uint32_t xdp_flags) {
  return (xdp_flags & XDP_FLAGS_SKB_MODE) != 0 ? "generic XDP" : "native XDP";
}
const char* CopyName(uint16_t bind_flags) {
  return (bind_flags & XDP_ZEROCOPY) != 0 ? "zero-copy" : "copy";
}

}  // namespace

absl::StatusOr<uint32_t> AttachedXdpProgramId(int ifindex) {
  uint32_t id = 0;
  absl::Status st = xdp_internal::QueryProgId(ifindex, &id);
  if (!st.ok()) return st;
  return id;
}

absl::StatusOr<std::unique_ptr<AfXdpQueue>> AfXdpQueue::Open(const AfXdpOptions& o) {
  const std::string ctx = absl::StrFormat("AF_XDP %s queue %u", o.ifname, o.queue_id);
  if (o.pool == nullptr) return absl::InvalidArgumentError(ctx + ": no pool");
  if (o.pool->buffer_size() < 2048) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: pool buffer_size %u is below the AF_XDP minimum frame size 2048", ctx,
                        o.pool->buffer_size()));
  }
  for (uint32_t size : {o.rx_ring_size, o.tx_ring_size, o.fill_ring_size, o.comp_ring_size}) {
    if (!std::has_single_bit(size)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: ring size %u is not a power of two", ctx, size));
    }
  }
  const int ifindex = static_cast<int>(if_nametoindex(o.ifname.c_str()));
  if (ifindex == 0) return ErrnoStatus(ctx, absl::StrFormat("if_nametoindex(%s)", o.ifname), errno);

  const std::string bpffs = xdp_internal::EnsureLibxdpEnvironment();

  std::unique_ptr<AfXdpQueue> q(new AfXdpQueue());
  q->ifname_ = o.ifname;
  q->queue_id_ = o.queue_id;
  q->ifindex_ = ifindex;
  q->pool_ = o.pool;
  q->buffer_shift_ = static_cast<uint32_t>(std::countr_zero(o.pool->buffer_size()));
  q->buffer_mask_ = o.pool->buffer_size() - 1;
  q->owned_.assign(o.pool->capacity(), 0);

  std::vector<Attempt> attempts;
  std::vector<uint32_t> attach_modes;
  if (o.attach_mode != XdpAttachMode::kGeneric) attach_modes.push_back(XDP_FLAGS_DRV_MODE);
  if (o.attach_mode != XdpAttachMode::kNative) attach_modes.push_back(XDP_FLAGS_SKB_MODE);
  const uint16_t wake = o.need_wakeup ? XDP_USE_NEED_WAKEUP : 0;
  for (uint32_t mode : attach_modes) {
    if (o.copy_mode != XskCopyMode::kCopy)
      attempts.push_back({mode, uint16_t(XDP_ZEROCOPY | wake)});
    if (o.copy_mode != XskCopyMode::kZeroCopy)
      attempts.push_back({mode, uint16_t(XDP_COPY | wake)});
  }

  xdp_internal::XdpProgramLock lock;
  q->netns_id_ = xdp_internal::CurrentNetnsId();
  uint32_t prog_before = 0;
  (void)xdp_internal::QueryProgId(ifindex, &prog_before);

  std::vector<std::string> failures;
  absl::Status last;
  const Attempt* used = nullptr;
  int busy_retries = 0;
  for (const Attempt& a : attempts) {
    const uint64_t deadline_ms = MonotonicMs() + o.busy_retry_ms;
    uint32_t backoff_ms = 10;
    int err = 0;
    for (;;) {
      xsk_umem_config uc{};
      uc.fill_size = o.fill_ring_size;
      uc.comp_size = o.comp_ring_size;
      uc.frame_size = o.pool->buffer_size();
      uc.frame_headroom = 0;
      uc.flags = 0;
      // A fresh UMEM per attempt: a failed bind leaves libxdp's UMEM half set up (its rings are
      // already configured on the socket), so it cannot be reused.
      int r = xsk_umem__create(&q->umem_, o.pool->base(), o.pool->region_bytes(), &q->fill_,
                               &q->comp_, &uc);
      if (r != 0) return ErrnoStatus(ctx, "xsk_umem__create", -r);
      xsk_socket_config sc{};
      sc.rx_size = o.rx_ring_size;
      sc.tx_size = o.tx_ring_size;
      sc.libxdp_flags = 0;
      sc.xdp_flags = a.xdp_flags;
      sc.bind_flags = a.bind_flags;
      r = xsk_socket__create(&q->xsk_, o.ifname.c_str(), o.queue_id, q->umem_, &q->rx_, &q->tx_,
                             &sc);
      if (r == 0) break;
      err = -r;
      q->xsk_ = nullptr;
      xsk_umem__delete(q->umem_);
      q->umem_ = nullptr;
      // EBUSY right after a previous socket on this queue closed: the kernel frees the old UMEM
      // from a workqueue, 1-2 s later on Linux 6.18 (platform.md). Retry until the deadline.
      if (err == EBUSY && MonotonicMs() + backoff_ms <= deadline_ms) {
        usleep(backoff_ms * 1000);
        backoff_ms = std::min<uint32_t>(backoff_ms * 2, 200);
        ++busy_retries;
        continue;
      }
      break;
    }
    if (q->xsk_ != nullptr) {
      used = &a;
      break;
    }
    const std::string call = absl::StrFormat("xsk_socket__create(%s, %s)", CopyName(a.bind_flags),
                                             AttachName(a.xdp_flags));
    last = ErrnoStatus(ctx, call, err);
    failures.push_back(absl::StrFormat("%s: %s", call, strerror(err)));
    if (err == EBUSY || err == ENODEV || err == EPERM) break;  // no other mode will help
  }
  if (used == nullptr) {
    if (failures.size() > 1) {
      std::string all;
      for (const std::string& f : failures) all += (all.empty() ? "" : "; ") + f;
      return absl::Status(last.code(), absl::StrFormat("%s (attempts: %s)", last.message(), all));
    }
    return last;
  }

  xdp_internal::NoteSocketCreated(q->netns_id_, ifindex, prog_before, used->xdp_flags);
  q->registered_ = true;
  q->native_xdp_ = (used->xdp_flags & XDP_FLAGS_DRV_MODE) != 0;
  q->need_wakeup_ = o.need_wakeup;
  const int fd = xsk_socket__fd(q->xsk_);
  xdp_options xo{};
  socklen_t xo_len = sizeof(xo);
  if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &xo, &xo_len) == 0) {
    q->zero_copy_ = (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  }

  std::string busy = "off";
  if (o.busy_poll) {
    const int one = 1;
    const int us = static_cast<int>(o.busy_poll_us);
    const int budget = static_cast<int>(o.busy_poll_budget);
    const char* failed = nullptr;
    if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) != 0) {
      failed = "setsockopt(SO_PREFER_BUSY_POLL)";
    } else if (setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)) != 0) {
      failed = "setsockopt(SO_BUSY_POLL)";
    } else if (setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)) != 0) {
      failed = "setsockopt(SO_BUSY_POLL_BUDGET)";
    }
    if (failed == nullptr) {
      q->busy_poll_ = true;
      busy = absl::StrFormat("on (%u us, budget %u)", o.busy_poll_us, o.busy_poll_budget);
    } else {
      busy = absl::StrFormat("unavailable (%s: %s)", failed, strerror(errno));
    }
  }

  uint32_t fill =
      o.fill_buffers != 0 ? o.fill_buffers : std::min(o.fill_ring_size, o.pool->capacity() / 2);
  q->fill_target_ = std::min(fill, o.fill_ring_size);
  q->RefillFill();

  std::string fallback_note;
  for (const std::string& f : failures) {
    fallback_note += (fallback_note.empty() ? " (fell back after " : "; ") + f;
  }
  if (!fallback_note.empty()) fallback_note += ")";
  fprintf(stderr,
          "[ix nic] %s: %s%s, %s, need_wakeup %s, busy poll %s, UMEM %u x %u B on %s, "
          "%u fill buffers, bpffs %s%s\n",
          ctx.c_str(), q->zero_copy_ ? "zero-copy" : "copy mode", fallback_note.c_str(),
          AttachName(used->xdp_flags), o.need_wakeup ? "on" : "off", busy.c_str(),
          o.pool->capacity(), o.pool->buffer_size(), core::PageKindName(o.pool->page_kind()),
          q->fill_held_, bpffs.c_str(),
          busy_retries > 0 ? absl::StrFormat(", %d EBUSY retries", busy_retries).c_str() : "");
  return q;
}

AfXdpQueue::~AfXdpQueue() { Close(); }

void AfXdpQueue::Close() {
  if (xsk_ == nullptr) return;
  ReclaimCompletions();
  {
    xdp_internal::XdpProgramLock lock;
    xsk_socket__delete(xsk_);
    xsk_ = nullptr;
    xsk_umem__delete(umem_);
    umem_ = nullptr;
    if (registered_) {
      absl::Status st = xdp_internal::NoteSocketDeleted(netns_id_, ifindex_);
      if (!st.ok()) fprintf(stderr, "[ix nic] %s\n", std::string(st.message()).c_str());
      registered_ = false;
    }
  }
  // The socket is gone, so the kernel no longer reads or writes any of these buffers.
  for (uint32_t i = 0; i < owned_.size(); ++i) {
    if (owned_[i] != 0) {
      owned_[i] = 0;
      pool_->Free(i);
    }
  }
  fill_held_ = 0;
  tx_outstanding_ = 0;
}

int AfXdpQueue::fd() const { return xsk_ == nullptr ? -1 : xsk_socket__fd(xsk_); }

void AfXdpQueue::RefillFill() {
  if (fill_held_ >= fill_target_) return;
  uint32_t want = fill_target_ - fill_held_;
  uint32_t free_slots = xsk_prod_nb_free(&fill_, want);
  if (free_slots < want) want = free_slots;
  if (want == 0) return;
  uint32_t bufs[256];
  uint32_t done = 0;
  while (done < want) {
    const int chunk = static_cast<int>(std::min<uint32_t>(want - done, 256));
    const int got = pool_->AllocBulk(bufs, chunk);
    if (got > 0) {
      uint32_t idx = 0;
      xsk_ring_prod__reserve(&fill_, static_cast<uint32_t>(got), &idx);
      for (int i = 0; i < got; ++i) {
        *xsk_ring_prod__fill_addr(&fill_, idx + static_cast<uint32_t>(i)) = pool_->Offset(bufs[i]);
        owned_[bufs[i]] = 1;
      }
      xsk_ring_prod__submit(&fill_, static_cast<uint32_t>(got));
      fill_held_ += static_cast<uint32_t>(got);
      done += static_cast<uint32_t>(got);
    }
    if (got < chunk) {
      ++stats_.rx_no_buffer;
      break;
    }
  }
}

int AfXdpQueue::RxBurst(Packet* out, int max) {
  if (max <= 0) return 0;
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(max), &idx);
  for (uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
    const uint32_t buf = static_cast<uint32_t>(d->addr >> buffer_shift_);
    out[i] =
        Packet{buf, static_cast<uint16_t>(d->addr & buffer_mask_), static_cast<uint16_t>(d->len)};
    owned_[buf] = 0;
    stats_.rx_bytes += d->len;
  }
  if (n > 0) {
    xsk_ring_cons__release(&rx_, n);
    fill_held_ -= n;
    stats_.rx_packets += n;
    RefillFill();
  }
  return static_cast<int>(n);
}

int AfXdpQueue::TxBurst(const Packet* pkts, int n) {
  if (n <= 0) return 0;
  uint32_t k = static_cast<uint32_t>(n);
  const uint32_t free_slots = xsk_prod_nb_free(&tx_, k);
  if (free_slots < k) {
    k = free_slots;
    ++stats_.tx_ring_full;
  }
  if (k == 0) return 0;
  uint32_t idx = 0;
  xsk_ring_prod__reserve(&tx_, k, &idx);
  for (uint32_t i = 0; i < k; ++i) {
    const Packet& p = pkts[i];
    // A packet that is not the caller's to give is a bug above us; the kernel would silently count
    // it as an invalid descriptor and the buffer would leak.
    if (!pool_->IsAllocated(p.buf) || owned_[p.buf] != 0 ||
        uint32_t{p.data_off} + p.len > pool_->buffer_size()) {
      fprintf(stderr, "[ix nic] %s q%u: TxBurst of a bad packet (buf %u off %u len %u)\n",
              ifname_.c_str(), queue_id_, p.buf, p.data_off, p.len);
      abort();
    }
    xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, idx + i);
    d->addr = pool_->Offset(p.buf) + p.data_off;
    d->len = p.len;
    d->options = 0;
    owned_[p.buf] = 1;
    stats_.tx_bytes += p.len;
  }
  xsk_ring_prod__submit(&tx_, k);
  tx_outstanding_ += k;
  stats_.tx_packets += k;
  return static_cast<int>(k);
}

bool AfXdpQueue::TxRingHasUnsent() const {
  const uint32_t prod = *tx_.producer;
  const uint32_t cons = __atomic_load_n(tx_.consumer, __ATOMIC_ACQUIRE);
  return prod != cons;
}

void AfXdpQueue::Kick() {
  if (xsk_ == nullptr || !TxRingHasUnsent()) return;
  if (need_wakeup_ && !xsk_ring_prod__needs_wakeup(&tx_)) return;
  const int fd = xsk_socket__fd(xsk_);
  // In copy mode each sendto sends at most a small batch (32 frames on Linux 6.x) and returns
  // EAGAIN while more are queued, or when the completion ring is full; so reclaim completions and
  // go on while the ring drains, a bounded number of times.
  for (int i = 0; i < 64; ++i) {
    ++stats_.kicks;
    if (sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN) return;
    if (!TxRingHasUnsent()) return;
    ReclaimCompletions();
  }
}

int AfXdpQueue::ReclaimCompletions() {
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&comp_, comp_.size, &idx);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t buf =
        static_cast<uint32_t>(*xsk_ring_cons__comp_addr(&comp_, idx + i) >> buffer_shift_);
    owned_[buf] = 0;
    pool_->Free(buf);
  }
  if (n > 0) {
    xsk_ring_cons__release(&comp_, n);
    tx_outstanding_ -= n;
    stats_.tx_completed += n;
  }
  return static_cast<int>(n);
}

int AfXdpQueue::Poll() {
  if (xsk_ == nullptr) return 0;
  const int reclaimed = ReclaimCompletions();
  RefillFill();
  Kick();
  if (busy_poll_ || (need_wakeup_ && xsk_ring_prod__needs_wakeup(&fill_))) {
    ++stats_.kicks;
    recvfrom(xsk_socket__fd(xsk_), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  }
  return reclaimed;
}

absl::StatusOr<XskKernelStats> AfXdpQueue::KernelStats() const {
  xdp_statistics s{};
  socklen_t len = sizeof(s);
  if (getsockopt(fd(), SOL_XDP, XDP_STATISTICS, &s, &len) != 0) {
    return ErrnoStatus(absl::StrFormat("AF_XDP %s queue %u", ifname_, queue_id_),
                       "getsockopt(XDP_STATISTICS)", errno);
  }
  XskKernelStats k;
  k.rx_dropped = s.rx_dropped;
  k.rx_invalid_descs = s.rx_invalid_descs;
  k.tx_invalid_descs = s.tx_invalid_descs;
  k.rx_ring_full = s.rx_ring_full;
  k.rx_fill_ring_empty_descs = s.rx_fill_ring_empty_descs;
  k.tx_ring_empty_descs = s.tx_ring_empty_descs;
  return k;
}

QueueStats AfXdpQueue::stats() const {
  QueueStats s = stats_;
  absl::StatusOr<XskKernelStats> k = KernelStats();
  if (k.ok()) s.rx_dropped += k->rx_dropped + k->rx_ring_full;
  return s;
}

}  // namespace ix::nic

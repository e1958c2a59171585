// Shared areas of a queue pair: memfd or anonymous mappings.
#include "dataplane/ixd/qp_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ix::ixd {
namespace {

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

uint64_t PageRound(uint64_t n) { return (n + 4095) & ~uint64_t{4095}; }

absl::Status Errno(const char* what) {
  return absl::ErrnoToStatus(errno, what);
}

// Maps `bytes` read-write: a new sealable memfd (*fd set) or anonymous memory (*fd = -1).
absl::StatusOr<void*> MapArea(const char* name, uint64_t bytes, bool shareable, int* fd) {
  *fd = -1;
  if (!shareable) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Errno("mmap");
    return p;
  }
  int f = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f < 0) return Errno("memfd_create");
  if (ftruncate(f, static_cast<off_t>(bytes)) != 0) {
    absl::Status st = Errno("ftruncate");
    close(f);
    return st;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (p == MAP_FAILED) {
    absl::Status st = Errno("mmap memfd");
    close(f);
    return st;
  }
  *fd = f;
  return p;
}

}  // namespace

absl::StatusOr<QpSizes> NormalizeQpSizes(const QpSizes& r) {
  QpSizes s;
  if (r.cmd_entries != 0) s.cmd_entries = r.cmd_entries;
  if (r.ev_entries != 0) s.ev_entries = r.ev_entries;
  if (r.rx_buf_count != 0) s.rx_buf_count = r.rx_buf_count;
  if (r.rx_buf_size != 0) s.rx_buf_size = r.rx_buf_size;
  if (r.tx_bytes != 0) s.tx_bytes = r.tx_bytes;
  auto ring_ok = [](uint32_t n) {
    return IsPowerOfTwo(n) && n >= IX_MIN_RING_ENTRIES && n <= IX_MAX_RING_ENTRIES;
  };
  if (!ring_ok(s.cmd_entries) || !ring_ok(s.ev_entries)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ring sizes %u/%u: powers of two in [%u, %u]", s.cmd_entries, s.ev_entries,
        IX_MIN_RING_ENTRIES, IX_MAX_RING_ENTRIES));
  }
  if (s.rx_buf_count == 0 || s.rx_buf_count > IX_MAX_RX_BUFS || !IsPowerOfTwo(s.rx_buf_size) ||
      s.rx_buf_size < IX_MIN_RX_BUF_SIZE || s.rx_buf_size > IX_MAX_RX_BUF_SIZE) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rx buffers %u x %u out of range", s.rx_buf_count, s.rx_buf_size));
  }
  if (s.tx_bytes > IX_MAX_TX_BYTES) {
    return absl::InvalidArgumentError(absl::StrFormat("tx area %u bytes too big", s.tx_bytes));
  }
  s.tx_bytes = PageRound(s.tx_bytes);
  return s;
}

absl::StatusOr<std::unique_ptr<QpMemory>> QpMemory::Create(const QpSizes& requested,
                                                           bool shareable) {
  absl::StatusOr<QpSizes> sizes = NormalizeQpSizes(requested);
  if (!sizes.ok()) return sizes.status();
  std::unique_ptr<QpMemory> m(new QpMemory());
  m->sizes_ = *sizes;
  m->area_bytes_ = PageRound(ix_qp_area_bytes(sizes->cmd_entries, sizes->ev_entries));
  m->rx_bytes_ = PageRound(uint64_t{sizes->rx_buf_count} * sizes->rx_buf_size);
  absl::StatusOr<void*> a = MapArea("ix-qp", m->area_bytes_, shareable, &m->area_fd_);
  if (!a.ok()) return a.status();
  m->area_ = *a;
  absl::StatusOr<void*> t = MapArea("ix-tx", m->sizes_.tx_bytes, shareable, &m->tx_fd_);
  if (!t.ok()) return t.status();
  m->tx_ = *t;
  absl::StatusOr<void*> r = MapArea("ix-rx", m->rx_bytes_, shareable, &m->rx_fd_);
  if (!r.ok()) return r.status();
  m->rx_ = *r;

  QpView& v = m->view_;
  uint8_t* base = static_cast<uint8_t*>(m->area_);
  v.header = reinterpret_cast<ix_qp_header*>(base);
  v.cmds = reinterpret_cast<ix_cmd*>(base + sizeof(ix_qp_header));
  v.events = reinterpret_cast<ix_event*>(base + sizeof(ix_qp_header) +
                                         uint64_t{sizes->cmd_entries} * sizeof(ix_cmd));
  v.cmd_entries = sizes->cmd_entries;
  v.ev_entries = sizes->ev_entries;
  v.tx = static_cast<const uint8_t*>(m->tx_);
  v.tx_bytes = m->sizes_.tx_bytes;
  v.rx = static_cast<uint8_t*>(m->rx_);
  v.rx_buf_count = sizes->rx_buf_count;
  v.rx_buf_size = sizes->rx_buf_size;
  return m;
}

absl::Status QpMemory::Seal() {
  if (area_fd_ < 0) return absl::FailedPreconditionError("not shareable");
  const int base = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  if (fcntl(area_fd_, F_ADD_SEALS, base) != 0) return Errno("F_ADD_SEALS area");
  if (fcntl(tx_fd_, F_ADD_SEALS, base) != 0) return Errno("F_ADD_SEALS tx");
  if (fcntl(rx_fd_, F_ADD_SEALS, base | F_SEAL_FUTURE_WRITE) != 0) return Errno("F_ADD_SEALS rx");
  return absl::OkStatus();
}

QpMemory::~QpMemory() {
  if (area_ != nullptr) munmap(area_, area_bytes_);
  if (tx_ != nullptr) munmap(tx_, sizes_.tx_bytes);
  if (rx_ != nullptr) munmap(rx_, rx_bytes_);
  for (int fd : {area_fd_, tx_fd_, rx_fd_}) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace ix::ixd

// MbufPool: maps the buffer region (hugetlb first, normal pages as the fallback) and runs the free
// stack.
#include "dataplane/core/mbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ix::core {
namespace {

constexpr uint64_t kHugePageBytes = 2ull << 20;
constexpr uint64_t kSmallPageBytes = 4096;

uint64_t RoundUp(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }

absl::Status ErrnoStatus(absl::string_view call, int err, absl::string_view what) {
  std::string msg = absl::StrFormat("%s: %s failed: %s (errno %d)", what, call, strerror(err), err);
  if (err == ENOMEM || err == ENOSPC) return absl::ResourceExhaustedError(msg);
  if (err == EPERM || err == EACCES) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// One mapping attempt. Returns MAP_FAILED and sets *err on failure.
void* MapRegion(uint64_t bytes, bool huge, bool shareable, const std::string& name, int* fd_out,
                int* err) {
  *fd_out = -1;
  if (shareable) {
    unsigned flags = MFD_CLOEXEC | (huge ? (MFD_HUGETLB | MFD_HUGE_2MB) : 0u);
    int fd = memfd_create(name.c_str(), flags);
    if (fd < 0) {
      *err = errno;
      return MAP_FAILED;
    }
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      *err = errno;
      close(fd);
      return MAP_FAILED;
    }
    // hugetlb reserves its pages at mmap time, so a shortage shows up here as ENOMEM, not later
    // as SIGBUS.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      *err = errno;
      close(fd);
      return MAP_FAILED;
    }
    *fd_out = fd;
    return p;
  }
  if (huge) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) *err = errno;
    return p;
  }
  // Normal pages: align to 2 MiB and advise transparent huge pages before populating, so the
  // kernel can still give us large pages when THP is in "madvise" mode.
  uint64_t padded = bytes + kHugePageBytes;
  void* raw = mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    *err = errno;
    return MAP_FAILED;
  }
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = RoundUp(start, kHugePageBytes);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = start + padded;
  if (end > aligned + bytes)
    munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, bytes, MADV_HUGEPAGE);  // advisory: failure only means no THP
#ifdef MADV_POPULATE_WRITE
  if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0) return p;
#endif
  for (uint64_t off = 0; off < bytes; off += kSmallPageBytes)
    static_cast<volatile uint8_t*>(p)[off] = 0;
  return p;
}

}  // namespace

const char* PageKindName(PageKind kind) {
  return kind == PageKind::kHugeTlb ? "hugetlb 2 MiB pages" : "normal pages";
}

uint64_t FreeHugePages2M() {
  FILE* f = fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t free_pages = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long long v;
    if (sscanf(line, "HugePages_Free: %llu", &v) == 1) free_pages = v;
  }
  fclose(f);
  return free_pages;
}

absl::StatusOr<std::unique_ptr<MbufPool>> MbufPool::Create(const MbufPoolOptions& options) {
  const std::string what = absl::StrFormat("MbufPool '%s'", options.name);
  if (options.num_buffers == 0 || options.num_buffers >= (1u << 31)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: num_buffers %u out of range [1, 2^31)", what, options.num_buffers));
  }
  if (!std::has_single_bit(options.buffer_size) || options.buffer_size < 256 ||
      options.buffer_size > 65536) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: buffer_size %u must be a power of two in [256, 65536]", what, options.buffer_size));
  }
  if (options.headroom >= options.buffer_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: headroom %u must be smaller than buffer_size %u", what,
                        options.headroom, options.buffer_size));
  }

  std::unique_ptr<MbufPool> pool(new MbufPool());
  pool->name_ = options.name;
  pool->num_buffers_ = options.num_buffers;
  pool->buffer_size_ = options.buffer_size;
  pool->buffer_shift_ = static_cast<uint32_t>(std::countr_zero(options.buffer_size));
  pool->headroom_ = options.headroom;

  const uint64_t bytes = uint64_t{options.num_buffers} * options.buffer_size;
  void* p = MAP_FAILED;
  int fd = -1;
  int huge_err = 0;
  if (options.huge_pages != HugePagePolicy::kNever) {
    uint64_t huge_bytes = RoundUp(bytes, kHugePageBytes);
    p = MapRegion(huge_bytes, /*huge=*/true, options.shareable, options.name, &fd, &huge_err);
    if (p != MAP_FAILED) {
      pool->mapped_bytes_ = huge_bytes;
      pool->page_kind_ = PageKind::kHugeTlb;
    } else if (options.huge_pages == HugePagePolicy::kRequire) {
      return ErrnoStatus(options.shareable ? "memfd_create/mmap(MFD_HUGETLB)" : "mmap(MAP_HUGETLB)",
                         huge_err, what);
    }
  }
  if (p == MAP_FAILED) {
    uint64_t small_bytes = RoundUp(bytes, kSmallPageBytes);
    int err = 0;
    p = MapRegion(small_bytes, /*huge=*/false, options.shareable, options.name, &fd, &err);
    if (p == MAP_FAILED) {
      return ErrnoStatus(options.shareable ? "memfd_create/mmap" : "mmap", err, what);
    }
    pool->mapped_bytes_ = small_bytes;
    pool->page_kind_ = PageKind::kNormal;
  }
  pool->base_ = static_cast<uint8_t*>(p);
  pool->fd_ = fd;

  pool->free_stack_.resize(options.num_buffers);
  pool->in_use_.assign(options.num_buffers, 0);
  // Index 0 ends on top so the first Alloc returns buffer 0: predictable for tests and logs.
  for (uint32_t i = 0; i < options.num_buffers; ++i) {
    pool->free_stack_[i] = options.num_buffers - 1 - i;
  }
  pool->top_ = options.num_buffers;
  pool->stats_.min_free = options.num_buffers;

  std::string why;
  if (pool->page_kind_ == PageKind::kNormal) {
    why = options.huge_pages == HugePagePolicy::kNever
              ? " (huge pages not requested)"
              : absl::StrFormat(" (no hugetlb pages: %s)", strerror(huge_err));
  }
  fprintf(stderr, "[ix core] %s: %u x %u B buffers (%.1f MiB) on %s%s\n", what.c_str(),
          options.num_buffers, options.buffer_size, static_cast<double>(bytes) / 1048576.0,
          PageKindName(pool->page_kind_), why.c_str());
  return pool;
}

MbufPool::~MbufPool() {
  if (base_ != nullptr) munmap(base_, mapped_bytes_);
  if (fd_ >= 0) close(fd_);
}

int MbufPool::AllocBulk(uint32_t* out, int n) {
  int got = n < 0 ? 0 : (static_cast<uint32_t>(n) <= top_ ? n : static_cast<int>(top_));
  for (int i = 0; i < got; ++i) {
    uint32_t index = free_stack_[--top_];
    in_use_[index] = 1;
    out[i] = index;
  }
  stats_.allocs += static_cast<uint64_t>(got);
  if (got < n) ++stats_.exhausted;
  if (top_ < stats_.min_free) stats_.min_free = top_;
  return got;
}

void MbufPool::BadFree(uint32_t index) const {
  if (index >= num_buffers_) {
    fprintf(stderr, "[ix core] MbufPool '%s': Free(%u) out of range (capacity %u)\n", name_.c_str(),
            index, num_buffers_);
  } else {
    fprintf(stderr, "[ix core] MbufPool '%s': Free(%u) of a buffer that is not allocated\n",
            name_.c_str(), index);
  }
  abort();
}

}  // namespace ix::core

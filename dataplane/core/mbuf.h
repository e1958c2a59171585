// A pool of fixed-size packet buffers carved from one memory region (huge pages when available).
//
//   absl::StatusOr<std::unique_ptr<MbufPool>> pool = MbufPool::Create({.num_buffers = 4096});
//   uint32_t b = (*pool)->Alloc();                 // kNoBuffer when the pool is empty
//   uint8_t* frame = (*pool)->Data(b) + (*pool)->headroom();
//   ...
//   (*pool)->Free(b);
//
// Buffer i occupies bytes [i * buffer_size, (i + 1) * buffer_size) of the region, so the offset of
// a byte in the region is also its AF_XDP UMEM address: the region can be registered as a UMEM as
// is (see nic/af_xdp.h). Buffers are named by index, never by pointer, on every path that crosses a
// ring or a protection boundary.
//
// Threading: a pool has one owner thread. Alloc/Free take no locks and must not be called from two
// threads at once. Only Create and the destructor make system calls.
#ifndef IX_DATAPLANE_CORE_MBUF_H_
#define IX_DATAPLANE_CORE_MBUF_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ix::core {

// How the region is backed. kHugeTlb: 2 MiB hugetlb pages (MAP_HUGETLB). kNormal: ordinary pages
// (transparent huge pages are advised, not guaranteed).
enum class PageKind { kHugeTlb, kNormal };

enum class HugePagePolicy {
  kTry,      // use hugetlb pages if the kernel has enough free, else fall back to normal pages
  kRequire,  // fail Create with ResourceExhausted if hugetlb pages are not available
  kNever,    // normal pages only
};

struct MbufPoolOptions {
  uint32_t num_buffers = 4096;
  uint32_t buffer_size = 2048;  // bytes; a power of two in [256, 65536] (AF_XDP needs >= 2048)
  uint32_t headroom = 256;  // bytes kept free before a frame that the stack builds (< buffer_size)
  HugePagePolicy huge_pages = HugePagePolicy::kTry;
  // Back the region with a memfd (MAP_SHARED) so that another process can map it through fd().
  bool shareable = false;
  std::string name = "ix-mbuf";  // for log lines and the memfd name
};

struct MbufPoolStats {
  uint64_t allocs = 0;     // buffers handed out
  uint64_t frees = 0;      // buffers returned
  uint64_t exhausted = 0;  // Alloc calls (or AllocBulk shortfalls) that found the pool empty
  uint32_t min_free = 0;   // low-water mark of free buffers since Create
};

class MbufPool {
 public:
  static constexpr uint32_t kNoBuffer = UINT32_MAX;

  // Maps the region (populated, so no page faults on the data path) and puts every buffer on the
  // free stack. Logs one line saying which pages back it. Errors name the failing call and errno.
  static absl::StatusOr<std::unique_ptr<MbufPool>> Create(const MbufPoolOptions& options);

  MbufPool(const MbufPool&) = delete;
  MbufPool& operator=(const MbufPool&) = delete;
  ~MbufPool();  // unmaps the region; buffers still held by someone become invalid

  // O(1). Returns a free buffer index, or kNoBuffer (and counts an exhaustion) when none is left.
  [[nodiscard]] uint32_t Alloc() {
    if (top_ == 0) {
      ++stats_.exhausted;
      return kNoBuffer;
    }
    uint32_t index = free_stack_[--top_];
    in_use_[index] = 1;
    ++stats_.allocs;
    if (top_ < stats_.min_free) stats_.min_free = top_;
    return index;
  }

  // Allocates up to n buffers into out; returns how many (fewer than n only when the pool ran dry,
  // which counts one exhaustion).
  [[nodiscard]] int AllocBulk(uint32_t* out, int n);

  // O(1). Returns a buffer to the pool. Freeing a buffer that is not allocated, or an index out of
  // range, is a broken invariant of the caller and aborts.
  void Free(uint32_t index) {
    if (index >= num_buffers_ || !in_use_[index]) BadFree(index);
    in_use_[index] = 0;
    free_stack_[top_++] = index;
    ++stats_.frees;
  }
  void FreeBulk(const uint32_t* indices, int n) {
    for (int i = 0; i < n; ++i) Free(indices[i]);
  }

  // Start of buffer `index` (no range check on this hot path; index must come from this pool).
  uint8_t* Data(uint32_t index) const { return base_ + (uint64_t{index} << buffer_shift_); }
  // Offset of buffer `index` in the region == its UMEM frame address.
  uint64_t Offset(uint32_t index) const { return uint64_t{index} << buffer_shift_; }
  // Buffer that contains region offset `offset` (any byte inside the buffer).
  uint32_t IndexOf(uint64_t offset) const { return static_cast<uint32_t>(offset >> buffer_shift_); }
  // Offset of `offset` inside its buffer.
  uint32_t OffsetInBuffer(uint64_t offset) const {
    return static_cast<uint32_t>(offset & (buffer_size_ - 1));
  }
  bool Contains(uint32_t index) const { return index < num_buffers_; }
  bool IsAllocated(uint32_t index) const { return index < num_buffers_ && in_use_[index] != 0; }

  uint8_t* base() const { return base_; }
  // Bytes that hold buffers (num_buffers * buffer_size); the mapping may be rounded up past this.
  uint64_t region_bytes() const { return uint64_t{num_buffers_} << buffer_shift_; }
  uint64_t mapped_bytes() const { return mapped_bytes_; }
  uint32_t buffer_size() const { return buffer_size_; }
  uint32_t headroom() const { return headroom_; }
  uint32_t capacity() const { return num_buffers_; }
  uint32_t available() const { return top_; }
  uint32_t in_use() const { return num_buffers_ - top_; }
  PageKind page_kind() const { return page_kind_; }
  bool huge_pages() const { return page_kind_ == PageKind::kHugeTlb; }
  // The memfd behind a shareable pool, or -1.
  int fd() const { return fd_; }
  const MbufPoolStats& stats() const { return stats_; }
  const std::string& name() const { return name_; }

 private:
  MbufPool() = default;
  [[noreturn]] void BadFree(uint32_t index) const;

  uint8_t* base_ = nullptr;
  uint64_t mapped_bytes_ = 0;
  uint32_t num_buffers_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t buffer_shift_ = 0;
  uint32_t headroom_ = 0;
  uint32_t top_ = 0;  // free_stack_[0, top_) are free
  PageKind page_kind_ = PageKind::kNormal;
  int fd_ = -1;
  std::vector<uint32_t> free_stack_;
  std::vector<uint8_t> in_use_;
  MbufPoolStats stats_;
  std::string name_;
};

// Returns "hugetlb 2 MiB pages" or "normal pages" for log lines and reports.
const char* PageKindName(PageKind kind);

// Free 2 MiB hugetlb pages right now (HugePages_Free in /proc/meminfo), or 0 if unreadable.
uint64_t FreeHugePages2M();

}  // namespace ix::core

#endif  // IX_DATAPLANE_CORE_MBUF_H_

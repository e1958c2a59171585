// The guest's view of memory: guest-physical == host-virtual for the process's own mappings,
// covered on demand in 2 MiB chunks (memory slots + identity page-table entries), plus the
// VMM-private region that the guest sees only at a supervisor-only upper-half alias.
//
//   AddressSpace as;                               // lives in VMM-private memory (zero-filled)
//   as.Init(private_base, private_size, pt_pool, pt_pool_pages);
//   as.CoverFromProcMaps(vm_fd);                  // at start-up
//   as.Cover(vm_fd, addr, len);                   // after each forwarded mmap/mremap/brk/mprotect
//
// Chunks are never uncovered: a covered chunk whose host memory goes away makes KVM_RUN fail with
// EFAULT, which is the SIGSEGV Linux would give. Thread-safe (one lock), allocation-free, no errno:
// callable on the exit path.
#ifndef IX_VMM_ADDRESS_SPACE_H_
#define IX_VMM_ADDRESS_SPACE_H_

#include <cstddef>
#include <cstdint>

#include "vmm/spinlock.h"

namespace ix::vmm {

inline constexpr uint64_t kChunk = 2ull << 20;
// PROT_NONE guard on each side of the private region, counted as part of it by OverlapsPrivate.
inline constexpr uint64_t kPrivateGuard = 64ull << 10;
inline constexpr uint64_t kUserTop = 0x7ffffffff000ull;  // highest user address + 1 (page aligned)

inline constexpr uint64_t kPteP = 1, kPteW = 2, kPteU = 4, kPtePs = 0x80;
inline constexpr uint64_t kPteNx = 1ull << 63;
inline constexpr uint64_t kPteAddr = 0x000ffffffffff000ull;

class AddressSpace {
 public:
  static constexpr int kMaxRanges = 8192;
  static constexpr int kMaxSlots = 16384;

  struct Range {
    uint64_t start, end;  // [start, end), 2 MiB aligned
  };

  // `pt_pool` is page-aligned VMM-private memory of `pt_pages` pages for page tables; the private
  // region [private_base, private_base + private_size) is 2 MiB aligned and never identity-mapped.
  void Init(uint64_t private_base, uint64_t private_size, uint64_t pt_pool, uint64_t pt_pages);

  // Guest-physical address of the top-level page table (CR3).
  uint64_t cr3() const { return pml4_; }

  // Adds the slot for the private region and maps it at IX_PRIVATE_GVA (supervisor only), plus the
  // hypercall pages. Returns 0 or -errno.
  int MapPrivateAndHypercalls(int vm_fd);

  // Makes [addr, addr + len) reachable by the guest (rounded out to 2 MiB chunks, minus the
  // private region). Returns 0 or -errno (-ENOSPC when slots or page-table pages run out).
  int Cover(int vm_fd, uint64_t addr, uint64_t len);
  // Covers every accessible mapping in /proc/self/maps. Returns the number of chunks newly
  // covered (>= 0) or -errno.
  int CoverFromProcMaps(int vm_fd);
  bool IsCovered(uint64_t addr) const;
  // True if [addr, addr + len) touches the private region or its guard pages (or wraps).
  bool OverlapsPrivate(uint64_t addr, uint64_t len) const;

  // Re-creates every slot in a fresh VM (the child after fork); page tables are reused as they are.
  int ReplaySlots(int vm_fd) const;

  int slot_count() const { return nslots_; }
  uint64_t covered_bytes() const;
  uint64_t private_base() const { return private_base_; }
  uint64_t private_size() const { return private_size_; }
  // Guest-virtual alias of a VMM-private host address.
  uint64_t PrivateGva(uint64_t hva) const { return 0xfffff80000000000ull + (hva - private_base_); }

 private:
  uint64_t* NextTable(uint64_t* table, int index, uint64_t flags);
  int Map2M(uint64_t gva, uint64_t gpa, uint64_t flags);
  // The page directory covering gva, created on the way (null when page-table pages run out).
  uint64_t* PageDirectory(uint64_t gva, uint64_t inner);
  int Map4K(uint64_t gva, uint64_t gpa, uint64_t flags);
  int AddSlot(int vm_fd, uint64_t start, uint64_t end);
  int CoverLocked(int vm_fd, uint64_t start, uint64_t end);

  SpinLock lock_;
  uint64_t private_base_, private_size_;
  uint64_t pt_pool_, pt_pages_, pt_used_;
  uint64_t pml4_;
  int nranges_;
  int nslots_;
  Range ranges_[kMaxRanges];  // sorted, disjoint, merged when adjacent
  Range slots_[kMaxSlots];    // slot i = slots_[i] (private region is slot 0)
};

}  // namespace ix::vmm

#endif  // IX_VMM_ADDRESS_SPACE_H_

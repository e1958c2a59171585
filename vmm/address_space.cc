// The guest's view of memory (see address_space.h).
#include "vmm/address_space.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "ix/hypercall.h"
#include "vmm/raw_syscall.h"

namespace ix::vmm {
namespace {

uint64_t RoundDown(uint64_t v) { return v & ~(kChunk - 1); }
uint64_t RoundUp(uint64_t v) { return (v + kChunk - 1) & ~(kChunk - 1); }

int SetSlot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = gpa;  // GPA == HVA
  return static_cast<int>(RawSyscall(SYS_ioctl, vm_fd, KVM_SET_USER_MEMORY_REGION,
                                     reinterpret_cast<long>(&r)));
}

// Parses one hex number at *p, advancing it.
uint64_t ParseHex(const char*& p, const char* end) {
  uint64_t v = 0;
  for (; p < end; ++p) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

void AddressSpace::Init(uint64_t private_base, uint64_t private_size, uint64_t pt_pool,
                        uint64_t pt_pages) {
  private_base_ = private_base;
  private_size_ = private_size;
  pt_pool_ = pt_pool;
  pt_pages_ = pt_pages;
  pt_used_ = 1;
  pml4_ = pt_pool;
  memset(reinterpret_cast<void*>(pml4_), 0, 4096);
  nranges_ = 0;
  nslots_ = 0;
}

uint64_t* AddressSpace::NextTable(uint64_t* table, int index, uint64_t flags) {
  uint64_t e = __atomic_load_n(&table[index], __ATOMIC_ACQUIRE);
  if (!(e & kPteP)) {
    if (pt_used_ >= pt_pages_) return nullptr;
    uint64_t page = pt_pool_ + 4096 * pt_used_++;
    memset(reinterpret_cast<void*>(page), 0, 4096);
    e = page | kPteP | kPteW | flags;
    __atomic_store_n(&table[index], e, __ATOMIC_RELEASE);
  } else if ((e & flags) != flags) {
    __atomic_store_n(&table[index], e | flags, __ATOMIC_RELEASE);
  }
  return reinterpret_cast<uint64_t*>(e & kPteAddr);
}

uint64_t* AddressSpace::PageDirectory(uint64_t gva, uint64_t inner) {
  uint64_t* pdpt = NextTable(reinterpret_cast<uint64_t*>(pml4_), (gva >> 39) & 511, inner);
  return pdpt ? NextTable(pdpt, (gva >> 30) & 511, inner) : nullptr;
}

int AddressSpace::Map2M(uint64_t gva, uint64_t gpa, uint64_t flags) {
  uint64_t* pd = PageDirectory(gva, flags & kPteU);
  if (!pd) return -ENOSPC;
  __atomic_store_n(&pd[(gva >> 21) & 511], gpa | kPteP | kPtePs | flags, __ATOMIC_RELEASE);
  return 0;
}

int AddressSpace::Map4K(uint64_t gva, uint64_t gpa, uint64_t flags) {
  uint64_t* pd = PageDirectory(gva, flags & kPteU);
  uint64_t* pt = pd ? NextTable(pd, (gva >> 21) & 511, flags & kPteU) : nullptr;
  if (!pt) return -ENOSPC;
  __atomic_store_n(&pt[(gva >> 12) & 511], gpa | kPteP | flags, __ATOMIC_RELEASE);
  return 0;
}

int AddressSpace::MapPrivateAndHypercalls(int vm_fd) {
  SpinGuard g(lock_);
  int r = AddSlot(vm_fd, private_base_, private_base_ + private_size_);
  if (r < 0) return r;
  for (uint64_t off = 0; off < private_size_; off += kChunk) {
    if ((r = Map2M(PrivateGva(private_base_ + off), private_base_ + off, kPteW | kPteNx)) < 0) return r;
  }
  // The syscall page is user-reachable (the LSTAR stub stays at CPL 3 on kvm_pvm); the exception
  // page is supervisor-only so that ring-3 code cannot forge an exception report.
  if ((r = Map4K(IX_HC_SYSCALL_GVA, IX_HC_SYSCALL_GPA, kPteW | kPteU | kPteNx)) < 0) return r;
  if ((r = Map4K(IX_HC_NOP_GVA, IX_HC_NOP_GPA, kPteW | kPteU | kPteNx)) < 0) return r;
  return Map4K(IX_HC_EXCEPTION_GVA, IX_HC_EXCEPTION_GPA, kPteW | kPteNx);
}

// Slots end at or below kUserTop and are at most 8 TiB - 4 KiB (shared/platform.md): split big ones.
int AddressSpace::AddSlot(int vm_fd, uint64_t start, uint64_t end) {
  constexpr uint64_t kMaxSlotBytes = 4ull << 40;
  if (end > kUserTop) end = kUserTop;
  while (start < end) {
    uint64_t piece_end = end - start > kMaxSlotBytes ? start + kMaxSlotBytes : end;
    if (nslots_ >= kMaxSlots) return -ENOSPC;
    int r = SetSlot(vm_fd, nslots_, start, piece_end - start);
    if (r < 0) return r;
    slots_[nslots_++] = {start, piece_end};
    start = piece_end;
  }
  return 0;
}

bool AddressSpace::IsCovered(uint64_t addr) const {
  int lo = 0, hi = nranges_;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (ranges_[mid].end <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < nranges_ && ranges_[lo].start <= addr;
}

bool AddressSpace::OverlapsPrivate(uint64_t addr, uint64_t len) const {
  uint64_t end = addr + len;
  if (end < addr) return true;
  return addr < private_base_ + private_size_ + kPrivateGuard && end > private_base_ - kPrivateGuard;
}

uint64_t AddressSpace::covered_bytes() const {
  uint64_t total = 0;
  for (int i = 0; i < nranges_; ++i) total += ranges_[i].end - ranges_[i].start;
  return total;
}

// Covers the uncovered parts of [start, end) (2 MiB aligned, outside the private region).
int AddressSpace::CoverLocked(int vm_fd, uint64_t start, uint64_t end) {
  int added = 0;
  uint64_t cur = start;
  while (cur < end) {
    // Find the first range ending after cur.
    int i = 0;
    while (i < nranges_ && ranges_[i].end <= cur) ++i;
    if (i < nranges_ && ranges_[i].start <= cur) {
      cur = ranges_[i].end;
      continue;
    }
    uint64_t gap_end = end;
    if (i < nranges_ && ranges_[i].start < gap_end) gap_end = ranges_[i].start;
    if (nranges_ >= kMaxRanges) return -ENOSPC;
    int r = AddSlot(vm_fd, cur, gap_end);
    if (r < 0) return r;
    for (uint64_t va = cur; va < gap_end; va += kChunk) {
      if ((r = Map2M(va, va, kPteW | kPteU)) < 0) return r;
    }
    // Insert [cur, gap_end) at i, merging with neighbours.
    bool merge_prev = i > 0 && ranges_[i - 1].end == cur;
    bool merge_next = i < nranges_ && ranges_[i].start == gap_end;
    if (merge_prev && merge_next) {
      ranges_[i - 1].end = ranges_[i].end;
      memmove(&ranges_[i], &ranges_[i + 1], (nranges_ - i - 1) * sizeof(Range));
      --nranges_;
    } else if (merge_prev) {
      ranges_[i - 1].end = gap_end;
    } else if (merge_next) {
      ranges_[i].start = cur;
    } else {
      memmove(&ranges_[i + 1], &ranges_[i], (nranges_ - i) * sizeof(Range));
      ranges_[i] = {cur, gap_end};
      ++nranges_;
    }
    added += (gap_end - cur) / kChunk;
    cur = gap_end;
  }
  return added;
}

int AddressSpace::Cover(int vm_fd, uint64_t addr, uint64_t len) {
  if (len == 0) return 0;
  uint64_t start = RoundDown(addr), end = RoundUp(addr + len);
  if (end > (1ull << 47) || end < start) end = 1ull << 47;
  if (start == 0) start = kChunk;  // never map page 0's chunk: NULL dereferences must fault
  if (start >= end) return 0;
  SpinGuard g(lock_);
  uint64_t pb = private_base_, pe = private_base_ + private_size_;
  int total = 0;
  if (start < pb) {
    int r = CoverLocked(vm_fd, start, end < pb ? end : pb);
    if (r < 0) return r;
    total += r;
  }
  if (end > pe) {
    int r = CoverLocked(vm_fd, start > pe ? start : pe, end);
    if (r < 0) return r;
    total += r;
  }
  return total;
}

int AddressSpace::CoverFromProcMaps(int vm_fd) {
  int fd = static_cast<int>(RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/maps"),
                                       O_RDONLY | O_CLOEXEC));
  if (fd < 0) return fd;
  char buf[4096];
  size_t have = 0;
  int total = 0;
  int err = 0;
  for (;;) {
    long n = RawSyscall(SYS_read, fd, reinterpret_cast<long>(buf + have), sizeof(buf) - have);
    if (n < 0) {
      err = static_cast<int>(n);
      break;
    }
    have += n;
    size_t pos = 0;
    for (;;) {
      const char* line = buf + pos;
      const char* nl = static_cast<const char*>(memchr(line, '\n', have - pos));
      if (!nl) break;
      const char* p = line;
      uint64_t lo = ParseHex(p, nl);
      ++p;  // '-'
      uint64_t hi = ParseHex(p, nl);
      ++p;  // ' '
      bool accessible = p + 3 <= nl && (p[0] == 'r' || p[1] == 'w' || p[2] == 'x');
      if (accessible && hi <= kUserTop) {
        int r = Cover(vm_fd, lo, hi - lo);
        if (r < 0) {
          err = r;
          break;
        }
        total += r;
      }
      pos = nl + 1 - buf;
    }
    if (err) break;
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (n == 0) break;
  }
  RawSyscall(SYS_close, fd);
  return err ? err : total;
}

int AddressSpace::ReplaySlots(int vm_fd) const {
  for (int i = 0; i < nslots_; ++i) {
    int r = SetSlot(vm_fd, i, slots_[i].start, slots_[i].end - slots_[i].start);
    if (r < 0) return r;
  }
  return 0;
}

}  // namespace ix::vmm

// A tiny lock for VMM state shared by vCPU threads on the exit path (no futex wrapper, no errno).
#ifndef IX_VMM_SPINLOCK_H_
#define IX_VMM_SPINLOCK_H_

#include <sys/syscall.h>

#include <atomic>

#include "vmm/raw_syscall.h"

namespace ix::vmm {

// Trivially constructible so it can sit in zero-filled VMM-private memory.
struct SpinLock {
  std::atomic<int> held;
  void Lock() {
    while (held.exchange(1, std::memory_order_acquire)) {
      while (held.load(std::memory_order_relaxed)) RawSyscall(SYS_sched_yield);
    }
  }
  void Unlock() { held.store(0, std::memory_order_release); }
};

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) : l_(l) { l_.Lock(); }
  ~SpinGuard() { l_.Unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace ix::vmm

#endif  // IX_VMM_SPINLOCK_H_

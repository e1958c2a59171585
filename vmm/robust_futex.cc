// The VMM's walk of a thread's robust futex list (see robust_futex.h).
#include "vmm/robust_futex.h"

#include <linux/futex.h>

namespace ix::vmm {
namespace {

// Marks the futex word at `uaddr` FUTEX_OWNER_DIED if `tid` holds it, as the kernel's
// handle_futex_death does. The write is not atomic with the read (guest memory is reached through
// system calls, never dereferenced), so a waiter that set FUTEX_WAITERS in between could miss its
// wake-up: every death of a non-PI futex is followed by a wake. A PI futex's waiters belong to the
// kernel's PI state, which the kernel releases at exit itself.
void FutexDeath(uint64_t uaddr, int tid, bool pi, bool pending, const ArgCheckEnv& mem, FutexWaker wake,
                RobustListResult* r) {
  if (uaddr & 3) return;
  if (mem.forbidden.Overlaps(uaddr, sizeof(uint32_t))) {
    ++r->refused;
    return;
  }
  uint32_t val;
  if (!mem.read(mem.ctx, &val, uaddr, sizeof(val))) return;
  if (pending && !pi && val == 0) {  // unlocked, but the exiting thread had not woken a waiter yet
    wake(mem.ctx, uaddr);
    return;
  }
  if ((val & FUTEX_TID_MASK) != static_cast<uint32_t>(tid)) return;
  uint32_t dead = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
  if (!mem.write(mem.ctx, uaddr, &dead, sizeof(dead))) return;
  ++r->released;
  if (!pi) wake(mem.ctx, uaddr);
}

// Reads a list pointer; false (end of the walk) when it is unreadable or in the forbidden range.
bool ReadEntry(uint64_t addr, const ArgCheckEnv& mem, uint64_t* out, RobustListResult* r) {
  if (mem.forbidden.Overlaps(addr, sizeof(uint64_t))) {
    ++r->refused;
    return false;
  }
  return mem.read(mem.ctx, out, addr, sizeof(*out));
}

}  // namespace

RobustListResult ReleaseRobustList(uint64_t head, int tid, const ArgCheckEnv& mem, FutexWaker wake) {
  RobustListResult r;
  if (head == 0) return r;
  if (mem.forbidden.Overlaps(head, kRobustHeadSize)) {
    ++r.refused;
    return r;
  }
  struct {
    uint64_t next;
    int64_t futex_offset;
    uint64_t pending;
  } h;
  if (!mem.read(mem.ctx, &h, head, sizeof(h))) return r;
  const uint64_t pending = h.pending & ~1ull;
  const bool pending_pi = h.pending & 1;
  uint64_t entry = h.next;
  for (int n = 0; (entry & ~1ull) != head && n < kRobustListLimit; ++n) {
    const uint64_t e = entry & ~1ull;
    uint64_t next;
    if (!ReadEntry(e, mem, &next, &r)) break;
    if (e != pending) FutexDeath(e + h.futex_offset, tid, entry & 1, false, mem, wake, &r);
    entry = next;
  }
  if (pending != 0) FutexDeath(pending + h.futex_offset, tid, pending_pi, true, mem, wake, &r);
  return r;
}

}  // namespace ix::vmm

// Robust futex lists, kept by the VMM instead of the kernel. A thread's robust list (glibc's
// robust and process-shared mutexes, set_robust_list(2)) is walked at the thread's exit to mark
// each futex it still holds FUTEX_OWNER_DIED and wake a waiter. The kernel would walk it with no
// check, writing wherever the guest's list points; so the VMM emulates set_robust_list and
// get_robust_list, never registers a guest list with the kernel, and walks the list itself with
// the same rules as the kernel (kernel/futex/core.c: at most 2048 entries, list_op_pending
// handled last, the low bit of a pointer marking a PI futex), skipping every futex word that is
// misaligned, unreadable or in the forbidden range.
//
// Walked: at the thread's exit, and for every thread at exit_group and fatal signals.
// Not walked (documented limits): SIGKILL from outside, and a successful execve (the kernel walks
// lists there after its point of no return, which the VMM cannot see).
#ifndef IX_VMM_ROBUST_FUTEX_H_
#define IX_VMM_ROBUST_FUTEX_H_

#include <cstdint>

#include "vmm/arg_check.h"

namespace ix::vmm {

inline constexpr int kRobustListLimit = 2048;  // ROBUST_LIST_LIMIT
inline constexpr uint64_t kRobustHeadSize = 24;  // sizeof(struct robust_list_head)

struct RobustListResult {
  int released = 0;  // futexes marked FUTEX_OWNER_DIED
  int refused = 0;   // entries or futex words in the forbidden range (protection violations)
};

// Wakes one waiter of the futex word at `uaddr` (shared and private waiters both).
using FutexWaker = void (*)(const void* ctx, uint64_t uaddr);

// Walks the robust list whose head is at guest address `head` for the exiting thread `tid`.
// Pure: guest memory through mem.read/mem.write, wake-ups through `wake` (mem.ctx is passed).
RobustListResult ReleaseRobustList(uint64_t head, int tid, const ArgCheckEnv& mem, FutexWaker wake);

}  // namespace ix::vmm

#endif  // IX_VMM_ROBUST_FUTEX_H_

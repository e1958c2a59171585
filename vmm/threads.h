// Threads, processes and images of a guest program: clone of a thread (a new vCPU run by the new
// host thread), fork (the child gets a fresh VM), execve (the new image comes under ix again),
// thread exit, and leaving the guest altogether.
#ifndef IX_VMM_THREADS_H_
#define IX_VMM_THREADS_H_

#include <cstdint>

#include "vmm/vmm_state.h"

namespace ix::vmm {

// SysClone's result in a forked child whose new vCPU already holds the complete guest state.
inline constexpr long kCloneChildReady = 1l << 40;

// clone / fork / vfork. Returns the child's id, -errno, or kCloneChildReady in a forked child.
long SysClone(Vmm* vmm, VcpuThread* t, long nr, const uint64_t* args);
// execve / execveat with the environment that brings the new image under ix. Returns -errno.
long SysExecve(Vmm* vmm, long nr, const uint64_t* args);
// set_robust_list / get_robust_list, emulated (robust_futex.h): the kernel never holds a guest list.
long SysRobustList(Vmm* vmm, VcpuThread* t, long nr, const uint64_t* args);
// Walks every in-use thread's robust list (exit_group, fatal signals).
void ReleaseAllRobustLists(Vmm* vmm);

// Ends the calling thread after walking its robust list.
[[noreturn]] void ExitThread(Vmm* vmm, VcpuThread* t, int code);
// Continues natively at the guest's state after its IX_SYSCALL_GUEST_EXIT (returning 0).
[[noreturn]] void LeaveGuest(Vmm* vmm, VcpuThread* t);

// Claims a free thread block (-1 if none) and resets its per-thread state.
int ClaimThreadBlock(Vmm* vmm);

}  // namespace ix::vmm

#endif  // IX_VMM_THREADS_H_

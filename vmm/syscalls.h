// Syscall hypercalls: the policy check, forwarding to Linux in the same host thread, and the calls
// the VMM must handle itself (memory mapping, signals, threads, fork, execve, its own descriptors).
#ifndef IX_VMM_SYSCALLS_H_
#define IX_VMM_SYSCALLS_H_

#include "vmm/arg_check.h"
#include "vmm/vmm_state.h"

namespace ix::vmm {

// Handles the syscall hypercall whose registers are in t->run's sync regs, and leaves the guest's
// registers ready to resume. Exit path: no allocation, no errno, no glibc locks.
void HandleSyscall(Vmm* vmm, VcpuThread* t);

// The guest's memory (read and written through guest_memory.h), the range the kernel must not
// touch for it, and the VMM's descriptors, for arg_check.h, arg_copy.h and exec_args.h.
ArgCheckEnv GuestArgEnv(const Vmm* vmm);

bool IsVmmFd(const Vmm* vmm, int fd);
void AddVmmFd(Vmm* vmm, int fd);

// Writes a line to the trace descriptor (no allocation). `text` need not be NUL-terminated.
void TraceWrite(const Vmm* vmm, const char* text, int len);

}  // namespace ix::vmm

#endif  // IX_VMM_SYSCALLS_H_

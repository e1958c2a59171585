// Checks of forwarded syscalls against the VMM's own state: the kernel must never read or write
// VMM-private memory (page tables, the policy, vCPU state) on the guest's behalf, and the guest
// must never reach the VMM's descriptors (a KVM VM fd would let it remap its own memory).
//
// What is checked (pure code; guest memory is read through the caller's GuestReader):
//  - every argument of the syscall (SyscallArgCount) that lies in the forbidden range, so any
//    pointer argument into it (the range includes guard pages around the private region, so a
//    fixed-size struct that starts outside cannot reach inside);
//  - buffers given as pointer + length (read, write, recvfrom, getrandom, poll, epoll_wait, ...);
//  - iovec arrays (readv/writev families, process_vm_readv/writev both sides, vmsplice) and
//    msghdr/mmsghdr (names, iovecs, control buffers), including SCM_RIGHTS carrying VMM fds;
//  - VMM descriptors used by ioctl, mmap, dup, dup2, dup3, fcntl(F_DUPFD*), pidfd_getfd.
// Refused outright: io_uring_* and Linux AIO (io_submit) — the kernel accesses memory from them
// later, where no check can follow — and ptrace (a tracer could rewrite a traced child's host side).
// Not covered (documented limits): robust-futex lists walked at thread exit.
#ifndef IX_VMM_ARG_CHECK_H_
#define IX_VMM_ARG_CHECK_H_

#include <cstddef>
#include <cstdint>

namespace ix::vmm {

// [lo, hi): addresses the kernel must not touch for the guest.
struct ForbiddenRange {
  uint64_t lo = 0, hi = 0;
  bool Overlaps(uint64_t addr, uint64_t len) const {
    if (len == 0) return false;
    uint64_t end = addr + len;
    if (end < addr) return true;  // wraps: certainly reaches something it should not
    return addr < hi && end > lo;
  }
};

// Reads guest memory; false when it is not readable (the call then proceeds and the kernel reports
// EFAULT itself, since nothing unreadable can carry a pointer into the range).
using GuestReader = bool (*)(const void* ctx, void* dst, uint64_t gva, size_t len);
// True for descriptors the VMM owns.
using VmmFdTest = bool (*)(const void* ctx, int fd);

enum class ArgVerdict {
  kOk,
  kFault,    // touches the forbidden range: return -EFAULT
  kBadFd,    // uses a VMM descriptor: return -EBADF
  kRefused,  // a syscall ix-run does not forward: return -ENOSYS (io_uring, AIO) or -EPERM (ptrace)
};

struct ArgCheckEnv {
  ForbiddenRange forbidden;
  GuestReader read;
  VmmFdTest is_vmm_fd;
  const void* ctx;  // passed to read and is_vmm_fd
};

// Decides whether syscall `nr` with arguments a[0..5] may be forwarded. Does not allocate.
ArgVerdict CheckSyscallArgs(long nr, const uint64_t* a, const ArgCheckEnv& env);

// The errno (positive) a refused call returns.
int ArgVerdictErrno(long nr, ArgVerdict v);

// True if `fd` is this process's own memory file (/proc/<pid>/mem, /proc/<pid>/task/<tid>/mem for
// a pid or tid of this process), which would let writes bypass every check above. Uses raw
// syscalls only.
bool IsOwnMemFile(int fd, int pid);

}  // namespace ix::vmm

#endif  // IX_VMM_ARG_CHECK_H_

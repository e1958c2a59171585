// Checks of forwarded syscalls against the VMM's own state: the kernel must never read or write
// VMM-private memory (page tables, the policy, vCPU state) on the guest's behalf, and the guest
// must never reach the VMM's descriptors (a KVM VM fd would let it remap its own memory).
//
// What is checked here (pure code, on the argument registers only):
//  - every argument of the syscall (SyscallArgCount) that lies in the forbidden range, so any
//    pointer argument into it (the range includes guard pages around the private region, so a
//    fixed-size struct that starts outside cannot reach inside);
//  - buffers given as pointer + length (read, write, recvfrom, getrandom, poll, epoll_wait,
//    select's fd sets, move_pages' arrays, ...);
//  - VMM descriptors used by ioctl, mmap, dup, dup2, dup3, fcntl(F_DUPFD*), pidfd_getfd, and by
//    the calls that read, write, truncate or seek a file (the statistics memfd is one).
// Structures in guest memory that hold pointers or lengths (iovecs, msghdrs, socklen_t words,
// SCM_RIGHTS descriptors) are checked on a copy by arg_copy.h, which the kernel then reads.
// Refused outright: io_uring_* and Linux AIO (io_submit) — the kernel accesses memory from them
// later, where no check can follow — ptrace (a tracer could rewrite a traced child's host side),
// bpf (its attributes carry pointers to any memory), prctl(PR_SET_MM) (rewrites the memory
// map's bookkeeping, auxv among it, from any memory) and userfaultfd with its ioctls (they
// would let the guest register, and so fill, the VMM-private region): EPERM.
// Robust-futex lists are emulated by the VMM (threads.h) and never given to the kernel.
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

// Reads and writes guest memory; false when it is not readable or writable.
using GuestReader = bool (*)(const void* ctx, void* dst, uint64_t gva, size_t len);
using GuestWriter = bool (*)(const void* ctx, uint64_t gva, const void* src, size_t len);
// True for descriptors the VMM owns.
using VmmFdTest = bool (*)(const void* ctx, int fd);

enum class ArgVerdict {
  kOk,
  kFault,    // touches the forbidden range: return -EFAULT
  kBadFd,    // uses a VMM descriptor: return -EBADF
  kRefused,  // a call ix-run does not forward: -ENOSYS (io_uring, AIO) or -EPERM (the others)
};

// The guest's memory and the VMM's descriptors, as the checks and copies see them.
struct ArgCheckEnv {
  ForbiddenRange forbidden;
  GuestReader read;
  GuestWriter write;
  VmmFdTest is_vmm_fd;
  const void* ctx;  // passed to read, write and is_vmm_fd
};

// Decides whether syscall `nr` with arguments a[0..5] may be forwarded, as far as the registers
// tell (the structures they point to are arg_copy.h's). Does not allocate or read memory.
ArgVerdict CheckSyscallArgs(long nr, const uint64_t* a, const ArgCheckEnv& env);

// The errno (positive) a refused call returns.
int ArgVerdictErrno(long nr, ArgVerdict v);

// True if `fd` is this process's own memory file (/proc/<pid>/mem, /proc/<pid>/task/<tid>/mem for
// a pid or tid of this process), which would let writes bypass every check above. Uses raw
// syscalls only.
bool IsOwnMemFile(int fd, int pid);

}  // namespace ix::vmm

#endif  // IX_VMM_ARG_CHECK_H_

// Unit tests of the forwarded-syscall argument checks (arg_check.h), over a fake forbidden range.
#include "vmm/arg_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr uint64_t kLo = 0x100000000000ull;
constexpr uint64_t kHi = kLo + (256ull << 20);
constexpr int kVmmFd = 1000;

bool IsVmmFd(const void*, int fd) { return fd == kVmmFd; }

// The checks never touch memory: no reader or writer.
const ArgCheckEnv kEnv{.forbidden = {kLo, kHi}, .is_vmm_fd = IsVmmFd, .ctx = nullptr};

ArgVerdict Check(long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                 uint64_t a4 = 0, uint64_t a5 = 0) {
  const uint64_t a[6] = {a0, a1, a2, a3, a4, a5};
  return CheckSyscallArgs(nr, a, kEnv);
}

uint64_t Ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }

TEST(ArgCheck, DirectPointerIntoRangeFaults) {
  EXPECT_EQ(Check(SYS_read, 0, kLo + 16, 8), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_fstat, 3, kHi - 1), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_set_tid_address, kLo), ArgVerdict::kFault);
  char buf[16];
  EXPECT_EQ(Check(SYS_read, 0, Ptr(buf), sizeof(buf)), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_fstat, 3, kHi), ArgVerdict::kOk);  // just past the end
}

TEST(ArgCheck, BufferCrossingIntoRangeFaults) {
  EXPECT_EQ(Check(SYS_read, 0, kLo - 100, 101), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_read, 0, kLo - 100, 100), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_pwrite64, 1, kLo - 4096, 1 << 20, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_getrandom, kLo - 8, 64, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_poll, kLo - 16, 3, 0), ArgVerdict::kFault);  // 3 pollfds = 24 bytes
  EXPECT_EQ(Check(SYS_poll, kLo - 16, 2, 0), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_epoll_wait, 4, kLo - 12, 2, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_read, 0, 0x1000, ~0ull), ArgVerdict::kFault);  // wraps around
}

TEST(ArgCheck, FdSetsAndMovePagesArrays) {
  // 1M descriptors' worth of fd_set bits is 128 KiB: more than the guard pages.
  EXPECT_EQ(Check(SYS_select, 1 << 20, kLo - (64 << 10), 0, 0, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_pselect6, 1 << 20, 0, 0, kLo - (64 << 10), 0, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_select, 1024, kLo - 128, 0, 0, 0), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_move_pages, 0, 1 << 16, 0, 0, kLo - (64 << 10), 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_move_pages, 0, 16, 0, 0, kLo - 64, 0), ArgVerdict::kOk);
}

TEST(ArgCheck, VmmDescriptorsUnreachable) {
  EXPECT_EQ(Check(SYS_ioctl, kVmmFd, 0xae80), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_ioctl, 3, 0x5401), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_dup, kVmmFd), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_dup3, kVmmFd, 50, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_fcntl, kVmmFd, F_DUPFD_CLOEXEC, 10), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_fcntl, kVmmFd, F_GETFD), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, kVmmFd, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, kVmmFd, 0), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_pidfd_getfd, 5, kVmmFd, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_ftruncate, kVmmFd, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_write, kVmmFd, 0x5000, 8), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_splice, 3, 0, kVmmFd, 0, 8, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_write, 1, 0x5000, 8), ArgVerdict::kOk);
  // The kernel takes fcntl's command as 32 bits: high bits do not hide F_DUPFD.
  EXPECT_EQ(Check(SYS_fcntl, kVmmFd, (1ull << 32) | F_DUPFD, 10), ArgVerdict::kBadFd);
}

TEST(ArgCheck, MemoryCallsLeftToTheirOwnChecks) {
  // An mmap hint inside the range is only a hint; the memory calls check ranges themselves.
  EXPECT_EQ(Check(SYS_mmap, kLo, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_exit_group, kLo), ArgVerdict::kOk);
}

TEST(ArgCheck, RefusedCalls) {
  EXPECT_EQ(Check(SYS_io_uring_setup, 8, 0), ArgVerdict::kRefused);
  EXPECT_EQ(ArgVerdictErrno(SYS_io_uring_setup, ArgVerdict::kRefused), ENOSYS);
  EXPECT_EQ(Check(SYS_ptrace, 0), ArgVerdict::kRefused);
  EXPECT_EQ(ArgVerdictErrno(SYS_ptrace, ArgVerdict::kRefused), EPERM);
  EXPECT_EQ(Check(SYS_bpf, 1, 0x1000, 64), ArgVerdict::kRefused);
  EXPECT_EQ(Check(SYS_prctl, PR_SET_MM, PR_SET_MM_AUXV, 0x1000, 64), ArgVerdict::kRefused);
  EXPECT_EQ(ArgVerdictErrno(SYS_prctl, ArgVerdict::kRefused), EPERM);
  EXPECT_EQ(Check(SYS_prctl, PR_SET_NAME, 0x1000), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_prctl, (1ull << 32) | PR_SET_MM, PR_SET_MM_AUXV, 0x1000, 64), ArgVerdict::kRefused);
  EXPECT_EQ(Check(SYS_userfaultfd, 0), ArgVerdict::kRefused);
  EXPECT_EQ(Check(SYS_ioctl, 3, 0xc020aa00), ArgVerdict::kRefused);  // UFFDIO_REGISTER
  EXPECT_EQ(ArgVerdictErrno(SYS_userfaultfd, ArgVerdict::kRefused), EPERM);
  EXPECT_EQ(ArgVerdictErrno(SYS_read, ArgVerdict::kFault), EFAULT);
  EXPECT_EQ(ArgVerdictErrno(SYS_ioctl, ArgVerdict::kBadFd), EBADF);
}

TEST(ArgCheck, OwnMemFileDetected) {
  int self = open("/proc/self/mem", O_RDONLY);
  ASSERT_GE(self, 0);
  EXPECT_TRUE(IsOwnMemFile(self, getpid()));
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/mem", static_cast<int>(gettid()));
  int task = open(path, O_RDONLY);
  ASSERT_GE(task, 0);
  EXPECT_TRUE(IsOwnMemFile(task, getpid()));
  int devnull = open("/dev/null", O_RDONLY);
  EXPECT_FALSE(IsOwnMemFile(devnull, getpid()));
  int maps = open("/proc/self/maps", O_RDONLY);
  EXPECT_FALSE(IsOwnMemFile(maps, getpid()));
  int init_mem = open("/proc/1/mem", O_RDONLY);  // someone else's (root may open it)
  if (init_mem >= 0) {
    EXPECT_FALSE(IsOwnMemFile(init_mem, getpid()));
  }
  for (int fd : {self, task, devnull, maps, init_mem}) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace
}  // namespace ix::vmm

// Unit tests of the forwarded-syscall argument checks (arg_check.h), over a fake forbidden range.
#include "vmm/arg_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr uint64_t kLo = 0x100000000000ull;
constexpr uint64_t kHi = kLo + (256ull << 20);
constexpr int kVmmFd = 1000;

// Guest memory is this process's memory; the forbidden range is never dereferenced.
bool Read(const void*, void* dst, uint64_t gva, size_t len) {
  if (gva >= kLo && gva < kHi) return false;
  memcpy(dst, reinterpret_cast<const void*>(gva), len);
  return true;
}
bool IsVmmFd(const void*, int fd) { return fd == kVmmFd; }

const ArgCheckEnv kEnv{.forbidden = {kLo, kHi}, .read = Read, .is_vmm_fd = IsVmmFd, .ctx = nullptr};

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

TEST(ArgCheck, LengthReadThroughPointer) {
  socklen_t len = 200;
  EXPECT_EQ(Check(SYS_accept, 3, kLo - 100, Ptr(&len)), ArgVerdict::kFault);
  len = 50;
  EXPECT_EQ(Check(SYS_accept, 3, kLo - 100, Ptr(&len)), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_accept, 3, 0, 0), ArgVerdict::kOk);
}

TEST(ArgCheck, IovecEntriesChecked) {
  char a[8];
  iovec iov[3] = {{a, sizeof(a)}, {a, sizeof(a)}, {reinterpret_cast<void*>(kLo - 4), 8}};
  EXPECT_EQ(Check(SYS_readv, 0, Ptr(iov), 3), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_readv, 0, Ptr(iov), 2), ArgVerdict::kOk);
  EXPECT_EQ(Check(SYS_pwritev2, 1, Ptr(iov), 3, 0, 0, 0), ArgVerdict::kFault);
  // process_vm_writev: both the local and the remote vectors.
  EXPECT_EQ(Check(SYS_process_vm_writev, getpid(), Ptr(iov), 1, Ptr(&iov[2]), 1, 0), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_process_vm_writev, getpid(), Ptr(&iov[2]), 1, Ptr(iov), 1, 0), ArgVerdict::kFault);
  // A vector longer than the kernel accepts is left to the kernel (EINVAL).
  EXPECT_EQ(Check(SYS_writev, 1, Ptr(iov), 5000), ArgVerdict::kOk);
  // Many entries, read in chunks: the bad one is the 70th.
  iovec many[100];
  for (auto& v : many) v = {a, sizeof(a)};
  many[69].iov_base = reinterpret_cast<void*>(kLo);
  EXPECT_EQ(Check(SYS_writev, 1, Ptr(many), 100), ArgVerdict::kFault);
  EXPECT_EQ(Check(SYS_writev, 1, Ptr(many), 69), ArgVerdict::kOk);
}

TEST(ArgCheck, MsghdrNameIovAndControl) {
  char data[4];
  iovec iov = {data, sizeof(data)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  EXPECT_EQ(Check(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  m.msg_name = reinterpret_cast<void*>(kLo - 8);
  m.msg_namelen = 16;
  EXPECT_EQ(Check(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kFault);
  m.msg_name = nullptr;
  m.msg_namelen = 0;

  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(3 * sizeof(int));
  int fds[3] = {0, 1, 2};
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  EXPECT_EQ(Check(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  fds[2] = kVmmFd;
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  EXPECT_EQ(Check(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);  // receiving is harmless

  mmsghdr mm[2] = {};
  mm[0].msg_hdr.msg_iov = &iov;
  mm[0].msg_hdr.msg_iovlen = 1;
  mm[1].msg_hdr = m;
  EXPECT_EQ(Check(SYS_sendmmsg, 3, Ptr(mm), 2, 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Check(SYS_sendmmsg, 3, Ptr(mm), 1, 0), ArgVerdict::kOk);
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

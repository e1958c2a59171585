// Unit tests of the generated x86-64 syscall table: argument counts against the man pages'
// signatures, names and numbers against glibc's <sys/syscall.h>, errno names.
#include "vmm/syscall_table.h"

#include <sys/syscall.h>

#include <cerrno>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr long kMaxNr = 512;  // beyond every x86-64 number (syscall_table.cc's kMaxNr)

struct Known {
  long nr;
  const char* name;
  int args;
};

// Signatures from the man pages (section 2), as the x86-64 kernel takes them: a 64-bit offset is
// one register, and the raw syscall may take more than the glibc wrapper (ppoll's sigsetsize).
constexpr Known kKnown[] = {
    {SYS_read, "read", 3},
    {SYS_write, "write", 3},
    {SYS_open, "open", 3},
    {SYS_close, "close", 1},
    {SYS_mmap, "mmap", 6},                      // x86-only entry point (arch/x86/kernel)
    {SYS_eventfd, "eventfd", 1},                // the old hand table said 2
    {SYS_eventfd2, "eventfd2", 2},              // the old hand table said 3
    {SYS_clone, "clone", 5},                    // flags, newsp, parent_tid, child_tid, tls
    {SYS_clone3, "clone3", 2},
    {SYS_futex, "futex", 6},
    {SYS_getpid, "getpid", 0},
    {SYS_rt_sigreturn, "rt_sigreturn", 0},      // x86-only entry point
    {SYS_arch_prctl, "arch_prctl", 2},          // x86-only entry point
    {SYS_modify_ldt, "modify_ldt", 3},          // x86-only entry point
    {SYS_iopl, "iopl", 1},                      // x86-only entry point
    {SYS_ioperm, "ioperm", 3},
    {SYS_pread64, "pread64", 4},
    {SYS_recvfrom, "recvfrom", 6},
    {SYS_sendmsg, "sendmsg", 3},
    {SYS_recvmmsg, "recvmmsg", 5},
    {SYS_io_uring_enter, "io_uring_enter", 6},
    {SYS_process_vm_readv, "process_vm_readv", 6},
    {SYS_epoll_pwait, "epoll_pwait", 6},
    {SYS_epoll_pwait2, "epoll_pwait2", 6},
    {SYS_mremap, "mremap", 5},
    {SYS_ppoll, "ppoll", 5},
    {SYS_pselect6, "pselect6", 6},
    {SYS_openat2, "openat2", 4},
    {SYS_statx, "statx", 5},
    {SYS_faccessat2, "faccessat2", 4},
    {SYS_preadv, "preadv", 5},                  // fd, iov, iovcnt, pos_l, pos_h
    {SYS_preadv2, "preadv2", 6},
    {SYS_fanotify_mark, "fanotify_mark", 5},    // mask is one register on x86-64
    {SYS_sync_file_range, "sync_file_range", 4},
    {SYS_futex_waitv, "futex_waitv", 5},
    // Entry points named differently from the syscall (syscall_64.tbl).
    {SYS_stat, "stat", 2},                      // sys_newstat
    {SYS_uname, "uname", 1},                    // sys_newuname
    {SYS_umount2, "umount2", 2},                // sys_umount
    {SYS_sendfile, "sendfile", 4},              // sys_sendfile64
    // Removed from the kernel: the entry point is sys_ni_syscall(void), ENOSYS without a look
    // at any argument.
    {SYS_uselib, "uselib", 0},
    {SYS_set_thread_area, "set_thread_area", 0},
};

TEST(SyscallTable, ArgCountsMatchManPages) {
  for (const Known& k : kKnown) {
    EXPECT_EQ(SyscallArgCount(k.nr), k.args) << k.name;
    EXPECT_STREQ(SyscallName(k.nr), k.name);
    EXPECT_EQ(SyscallNumber(k.name), k.nr) << k.name;
  }
}

TEST(SyscallTable, EveryNamedSyscallHasACountOfAtMostSix) {
  int named = 0;
  for (long nr = 0; nr < kMaxNr; ++nr) {
    if (SyscallName(nr) == nullptr) continue;
    ++named;
    int n = SyscallArgCount(nr);
    EXPECT_GE(n, 0) << SyscallName(nr);
    EXPECT_LE(n, 6) << SyscallName(nr);
  }
  EXPECT_GT(named, 300);  // Linux 6.1 has 363 on x86-64
}

TEST(SyscallTable, UnknownNumbersGetAllSixArguments) {
  for (long nr : {-1L, 335L, 423L, kMaxNr, 100000L}) {
    EXPECT_EQ(SyscallName(nr), nullptr) << nr;
    EXPECT_EQ(SyscallArgCount(nr), 6) << nr;
  }
}

TEST(SyscallTable, EveryNameMapsBackToItsNumber) {
  int named = 0;
  for (long nr = 0; nr < kMaxNr; ++nr) {
    const char* name = SyscallName(nr);
    if (name == nullptr) continue;
    ++named;
    EXPECT_EQ(SyscallNumber(name), nr) << name;
  }
  EXPECT_GT(named, 300);
  EXPECT_EQ(SyscallNumber(SyscallName(SYS_set_mempolicy_home_node)), SYS_set_mempolicy_home_node);
  EXPECT_FALSE(SyscallNumber("").has_value());
  EXPECT_FALSE(SyscallNumber("getpi").has_value());
  EXPECT_FALSE(SyscallNumber("getpid ").has_value());
  EXPECT_FALSE(SyscallNumber("39").has_value());  // numbers are the policy parser's business
}

TEST(ErrnoNumber, NamesAndNumbers) {
  EXPECT_EQ(ErrnoNumber("EPERM"), EPERM);
  EXPECT_EQ(ErrnoNumber("EACCES"), EACCES);
  EXPECT_EQ(ErrnoNumber("EHWPOISON"), EHWPOISON);  // the last one, 133
  EXPECT_EQ(ErrnoNumber("13"), 13);
  EXPECT_EQ(ErrnoNumber("4095"), 4095);
  EXPECT_FALSE(ErrnoNumber("0").has_value());
  EXPECT_FALSE(ErrnoNumber("-1").has_value());
  EXPECT_FALSE(ErrnoNumber("4096").has_value());
  EXPECT_FALSE(ErrnoNumber("eperm").has_value());
  EXPECT_FALSE(ErrnoNumber("").has_value());
}

}  // namespace
}  // namespace ix::vmm

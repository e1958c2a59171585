// Checks of forwarded syscalls against VMM-private memory and descriptors (see arg_check.h).
#include "vmm/arg_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>

#include "vmm/line_buf.h"
#include "vmm/raw_syscall.h"
#include "vmm/syscall_table.h"

namespace ix::vmm {
namespace {

// A pointer argument whose length is another argument (times a unit) or a constant.
struct BufferArg {
  long nr;
  int ptr;       // argument index of the pointer
  int len;       // argument index of the length, or -1 for `unit` bytes
  uint64_t unit;
};

// Variable-length buffers. Fixed-size structs need no entry: the forbidden range carries guard
// pages larger than any of them, so the plain per-argument check covers them.
constexpr BufferArg kBuffers[] = {
    {SYS_read, 1, 2, 1},           {SYS_write, 1, 2, 1},          {SYS_pread64, 1, 2, 1},
    {SYS_pwrite64, 1, 2, 1},       {SYS_recvfrom, 1, 2, 1},       {SYS_sendto, 1, 2, 1},
    {SYS_sendto, 4, 5, 1},         {SYS_getrandom, 0, 1, 1},      {SYS_getdents, 1, 2, 1},
    {SYS_getdents64, 1, 2, 1},     {SYS_readlink, 1, 2, 1},       {SYS_readlinkat, 2, 3, 1},
    {SYS_getcwd, 0, 1, 1},         {SYS_getxattr, 2, 3, 1},       {SYS_lgetxattr, 2, 3, 1},
    {SYS_fgetxattr, 2, 3, 1},      {SYS_setxattr, 2, 3, 1},       {SYS_lsetxattr, 2, 3, 1},
    {SYS_fsetxattr, 2, 3, 1},      {SYS_listxattr, 1, 2, 1},      {SYS_llistxattr, 1, 2, 1},
    {SYS_flistxattr, 1, 2, 1},     {SYS_rseq, 0, 1, 1},           {SYS_sched_getaffinity, 2, 1, 1},
    {SYS_sched_setaffinity, 2, 1, 1}, {SYS_connect, 1, 2, 1},     {SYS_bind, 1, 2, 1},
    {SYS_setsockopt, 3, 4, 1},     {SYS_poll, 0, 1, 8},           {SYS_ppoll, 0, 1, 8},
    {SYS_epoll_wait, 1, 2, 12},    {SYS_epoll_pwait, 1, 2, 12},   {SYS_epoll_pwait2, 1, 2, 12},
    {SYS_getgroups, 1, 0, 4},      {SYS_setgroups, 1, 0, 4},      {SYS_syslog, 1, 2, 1},
    {SYS_msgrcv, 1, 2, 1},         {SYS_msgsnd, 1, 2, 1},         {SYS_add_key, 2, 3, 1},
    {SYS_mq_timedsend, 1, 2, 1},   {SYS_mq_timedreceive, 1, 2, 1},
    {SYS_futex_waitv, 0, 1, 24},   {SYS_io_getevents, 3, 2, 32},  {SYS_move_pages, 2, 1, 8},
    {SYS_move_pages, 3, 1, 4},     {SYS_move_pages, 4, 1, 4},
};

// select and pselect6: three fd sets of nfds bits (the kernel caps nfds at the descriptor table
// size, which RLIMIT_NOFILE lets exceed the guard pages).
bool FdSetsReach(const ArgCheckEnv& env, const uint64_t* a) {
  uint64_t bytes = ((a[0] & 0xffffffffull) + 63) / 64 * 8;
  for (int i = 1; i <= 3; ++i) {
    if (a[i] != 0 && env.forbidden.Overlaps(a[i], bytes)) return true;
  }
  return false;
}

// Memory-management calls have their own checks in syscalls.cc (an mmap hint inside the range is
// harmless, for one); exit codes are not pointers.
bool SkipsArgumentCheck(long nr) {
  switch (nr) {
    case SYS_mmap: case SYS_mprotect: case SYS_pkey_mprotect: case SYS_munmap: case SYS_madvise:
    case SYS_mlock: case SYS_munlock: case SYS_msync: case SYS_remap_file_pages: case SYS_mremap:
    case SYS_brk: case SYS_shmat: case SYS_exit: case SYS_exit_group:
      return true;
  }
  return false;
}

// Descriptor arguments through which the guest could change a VMM file (the statistics memfd
// ix-run maps: truncating it would fault both) or read it: (syscall, argument index).
constexpr struct {
  long nr;
  int arg;
} kFdArgs[] = {
    {SYS_read, 0},      {SYS_write, 0},          {SYS_pread64, 0},         {SYS_pwrite64, 0},
    {SYS_readv, 0},     {SYS_writev, 0},         {SYS_preadv, 0},          {SYS_pwritev, 0},
    {SYS_preadv2, 0},   {SYS_pwritev2, 0},       {SYS_ftruncate, 0},       {SYS_fallocate, 0},
    {SYS_lseek, 0},     {SYS_sendfile, 0},       {SYS_sendfile, 1},        {SYS_splice, 0},
    {SYS_splice, 2},    {SYS_tee, 0},            {SYS_tee, 1},             {SYS_copy_file_range, 0},
    {SYS_copy_file_range, 2}, {SYS_vmsplice, 0}, {SYS_fchmod, 0},          {SYS_fchown, 0},
    {SYS_fsetxattr, 0}, {SYS_fremovexattr, 0},   {SYS_flock, 0},           {SYS_fadvise64, 0},
    {SYS_readahead, 0}, {SYS_sync_file_range, 0}
};

ArgVerdict CheckFds(long nr, const uint64_t* a, const ArgCheckEnv& env) {
  auto vmm_fd = [&](uint64_t v) { return env.is_vmm_fd(env.ctx, static_cast<int>(v)); };
  for (const auto& f : kFdArgs) {
    if (f.nr == nr && vmm_fd(a[f.arg])) return ArgVerdict::kBadFd;
  }
  switch (nr) {
    case SYS_ioctl: case SYS_dup: case SYS_dup2: case SYS_dup3:
      return vmm_fd(a[0]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
    case SYS_fcntl: {  // the kernel takes cmd as an unsigned int
      uint32_t cmd = static_cast<uint32_t>(a[1]);
      return (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && vmm_fd(a[0]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
    }
    case SYS_mmap:
      return !(a[3] & MAP_ANONYMOUS) && vmm_fd(a[4]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
    case SYS_pidfd_getfd:
      return vmm_fd(a[1]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
  }
  return ArgVerdict::kOk;
}

}  // namespace

ArgVerdict CheckSyscallArgs(long nr, const uint64_t* a, const ArgCheckEnv& env) {
  switch (nr) {
    case SYS_io_uring_setup: case SYS_io_uring_enter: case SYS_io_uring_register: case SYS_io_submit:
    case SYS_ptrace: case SYS_bpf: case SYS_userfaultfd:
      return ArgVerdict::kRefused;
    case SYS_ioctl:  // userfaultfd's ioctls (/dev/userfaultfd, UFFDIO_*): they register any range
      if (((a[1] >> 8) & 0xff) == 0xaa) return ArgVerdict::kRefused;
      break;
    case SYS_prctl:
      if (static_cast<int>(a[0]) == PR_SET_MM) return ArgVerdict::kRefused;  // option is an int
      break;
  }
  if (ArgVerdict v = CheckFds(nr, a, env); v != ArgVerdict::kOk) return v;
  // Numbers the kernel does not know get ENOSYS without touching memory (ix's own among them).
  if (SkipsArgumentCheck(nr) || SyscallName(nr) == nullptr) return ArgVerdict::kOk;

  const int nargs = SyscallArgCount(nr);
  for (int i = 0; i < nargs; ++i) {
    if (env.forbidden.Overlaps(a[i], 1)) return ArgVerdict::kFault;
  }
  for (const BufferArg& b : kBuffers) {
    if (b.nr != nr) continue;
    uint64_t len = b.len < 0 ? b.unit : a[b.len] * b.unit;
    if (b.len >= 0 && b.unit > 1 && a[b.len] > (~0ull / b.unit)) return ArgVerdict::kFault;
    if (a[b.ptr] != 0 && env.forbidden.Overlaps(a[b.ptr], len)) return ArgVerdict::kFault;
  }
  switch (nr) {
    case SYS_select: case SYS_pselect6:
      return FdSetsReach(env, a) ? ArgVerdict::kFault : ArgVerdict::kOk;
    case SYS_mincore: {
      uint64_t pages = ((a[0] & 4095) + a[1] + 4095) / 4096;
      return env.forbidden.Overlaps(a[2], pages) ? ArgVerdict::kFault : ArgVerdict::kOk;
    }
  }
  return ArgVerdict::kOk;
}

int ArgVerdictErrno(long nr, ArgVerdict v) {
  switch (v) {
    case ArgVerdict::kOk: return 0;
    case ArgVerdict::kFault: return EFAULT;
    case ArgVerdict::kBadFd: return EBADF;
    case ArgVerdict::kRefused:
      return nr == SYS_io_uring_setup || nr == SYS_io_uring_enter || nr == SYS_io_uring_register || nr == SYS_io_submit
                 ? ENOSYS
                 : EPERM;
  }
  return EFAULT;
}

namespace {

// Parses a decimal number at s[*i]; false if there is none.
bool ParseDec(const char* s, int len, int* i, long* out) {
  long v = 0;
  int start = *i;
  while (*i < len && s[*i] >= '0' && s[*i] <= '9' && *i - start < 10) v = v * 10 + (s[(*i)++] - '0');
  *out = v;
  return *i > start;
}

bool Match(const char* s, int len, int* i, const char* lit) {
  for (; *lit; ++lit, ++*i) {
    if (*i >= len || s[*i] != *lit) return false;
  }
  return true;
}

bool IsOwnTask(long id, int pid) {
  if (id == pid) return true;
  LineBuf p;
  p.Put("/proc/self/task/");
  p.Dec(id);
  p.buf[p.len] = 0;
  return RawSyscall(SYS_faccessat, AT_FDCWD, reinterpret_cast<long>(p.buf), F_OK, 0) == 0;
}

}  // namespace

bool IsOwnMemFile(int fd, int pid) {
  LineBuf p;
  p.Put("/proc/self/fd/");
  p.Dec(fd);
  p.buf[p.len] = 0;
  char link[128];
  long n = RawSyscall(SYS_readlink, reinterpret_cast<long>(p.buf), reinterpret_cast<long>(link), sizeof(link));
  if (n <= 0 || n >= static_cast<long>(sizeof(link))) return false;
  int len = static_cast<int>(n), i = 0;
  long id = 0, tid = 0;
  if (!Match(link, len, &i, "/proc/") || !ParseDec(link, len, &i, &id)) return false;
  if (int j = i; Match(link, len, &j, "/task/")) {
    i = j;
    if (!ParseDec(link, len, &i, &tid)) return false;
    id = tid;
  }
  if (!Match(link, len, &i, "/mem") || i != len) return false;
  return IsOwnTask(id, pid);
}

}  // namespace ix::vmm

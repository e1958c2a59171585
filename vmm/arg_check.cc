// Checks of forwarded syscalls against VMM-private memory and descriptors (see arg_check.h).
#include "vmm/arg_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>

#include "vmm/line_buf.h"
#include "vmm/raw_syscall.h"
#include "vmm/syscall_table.h"

namespace ix::vmm {
namespace {

constexpr uint64_t kMaxVec = 1024;  // UIO_MAXIOV: the kernel refuses longer vectors itself

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
    {SYS_mq_timedsend, 1, 2, 1},   {SYS_mq_timedreceive, 1, 2, 1}, {SYS_bpf, 1, 2, 1},
    {SYS_futex_waitv, 0, 1, 24},   {SYS_io_getevents, 3, 2, 32},
};

// Pointers whose length is an int the kernel reads through another pointer argument.
struct IndirectLenArg {
  long nr;
  int ptr;
  int len_ptr;
};
constexpr IndirectLenArg kIndirect[] = {
    {SYS_accept, 1, 2},      {SYS_accept4, 1, 2},     {SYS_getsockname, 1, 2},
    {SYS_getpeername, 1, 2}, {SYS_recvfrom, 4, 5},    {SYS_getsockopt, 3, 4},
};

// iovec arrays: (array argument, count argument).
struct VecArg {
  long nr;
  int iov;
  int cnt;
};
constexpr VecArg kVecs[] = {
    {SYS_readv, 1, 2},   {SYS_writev, 1, 2},   {SYS_preadv, 1, 2},           {SYS_pwritev, 1, 2},
    {SYS_preadv2, 1, 2}, {SYS_pwritev2, 1, 2}, {SYS_process_vm_readv, 1, 2}, {SYS_process_vm_readv, 3, 4},
    {SYS_process_vm_writev, 1, 2}, {SYS_process_vm_writev, 3, 4}, {SYS_vmsplice, 1, 2},
    {SYS_process_madvise, 1, 2},
};

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

ArgVerdict CheckVec(const ArgCheckEnv& env, uint64_t iov, uint64_t cnt) {
  if (cnt == 0 || cnt > kMaxVec) return ArgVerdict::kOk;  // nothing, or EINVAL from the kernel
  if (env.forbidden.Overlaps(iov, cnt * sizeof(iovec))) return ArgVerdict::kFault;
  iovec chunk[32];
  for (uint64_t done = 0; done < cnt;) {
    uint64_t n = cnt - done < 32 ? cnt - done : 32;
    if (!env.read(env.ctx, chunk, iov + done * sizeof(iovec), n * sizeof(iovec))) return ArgVerdict::kOk;
    for (uint64_t i = 0; i < n; ++i) {
      if (env.forbidden.Overlaps(reinterpret_cast<uint64_t>(chunk[i].iov_base), chunk[i].iov_len)) {
        return ArgVerdict::kFault;
      }
    }
    done += n;
  }
  return ArgVerdict::kOk;
}

// SCM_RIGHTS messages in a control buffer must not carry the VMM's descriptors.
ArgVerdict CheckControl(const ArgCheckEnv& env, uint64_t control, uint64_t len) {
  uint64_t off = 0;
  for (int headers = 0; off + sizeof(cmsghdr) <= len && headers < 1024; ++headers) {
    cmsghdr h;
    if (!env.read(env.ctx, &h, control + off, sizeof(h))) return ArgVerdict::kOk;
    if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > len - off) return ArgVerdict::kOk;  // EINVAL
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
      uint64_t nfds = (h.cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int fds[64];
      for (uint64_t done = 0; done < nfds;) {
        uint64_t n = nfds - done < 64 ? nfds - done : 64;
        if (!env.read(env.ctx, fds, control + off + CMSG_LEN(0) + done * sizeof(int), n * sizeof(int))) {
          return ArgVerdict::kOk;
        }
        for (uint64_t i = 0; i < n; ++i) {
          if (env.is_vmm_fd(env.ctx, fds[i])) return ArgVerdict::kBadFd;
        }
        done += n;
      }
    }
    off += CMSG_ALIGN(h.cmsg_len);
  }
  return ArgVerdict::kOk;
}

ArgVerdict CheckMsghdr(const ArgCheckEnv& env, uint64_t addr, bool sending) {
  if (env.forbidden.Overlaps(addr, sizeof(msghdr))) return ArgVerdict::kFault;
  msghdr m;
  if (!env.read(env.ctx, &m, addr, sizeof(m))) return ArgVerdict::kOk;
  if (env.forbidden.Overlaps(reinterpret_cast<uint64_t>(m.msg_name), m.msg_namelen) ||
      env.forbidden.Overlaps(reinterpret_cast<uint64_t>(m.msg_control), m.msg_controllen)) {
    return ArgVerdict::kFault;
  }
  if (ArgVerdict v = CheckVec(env, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen); v != ArgVerdict::kOk) {
    return v;
  }
  if (sending && m.msg_control != nullptr) {
    return CheckControl(env, reinterpret_cast<uint64_t>(m.msg_control), m.msg_controllen);
  }
  return ArgVerdict::kOk;
}

ArgVerdict CheckMmsghdr(const ArgCheckEnv& env, uint64_t addr, uint64_t vlen, bool sending) {
  if (vlen > kMaxVec) vlen = kMaxVec;  // the kernel clamps vlen the same way
  if (env.forbidden.Overlaps(addr, vlen * sizeof(mmsghdr))) return ArgVerdict::kFault;
  for (uint64_t i = 0; i < vlen; ++i) {
    if (ArgVerdict v = CheckMsghdr(env, addr + i * sizeof(mmsghdr), sending); v != ArgVerdict::kOk) return v;
  }
  return ArgVerdict::kOk;
}

ArgVerdict CheckFds(long nr, const uint64_t* a, const ArgCheckEnv& env) {
  auto vmm_fd = [&](uint64_t v) { return env.is_vmm_fd(env.ctx, static_cast<int>(v)); };
  switch (nr) {
    case SYS_ioctl: case SYS_dup: case SYS_dup2: case SYS_dup3:
      return vmm_fd(a[0]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
    case SYS_fcntl:
      return (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) && vmm_fd(a[0]) ? ArgVerdict::kBadFd : ArgVerdict::kOk;
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
    case SYS_ptrace:
      return ArgVerdict::kRefused;
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
  for (const IndirectLenArg& b : kIndirect) {
    if (b.nr != nr || a[b.ptr] == 0 || a[b.len_ptr] == 0) continue;
    uint32_t len = 0;
    if (env.read(env.ctx, &len, a[b.len_ptr], sizeof(len)) && env.forbidden.Overlaps(a[b.ptr], len)) {
      return ArgVerdict::kFault;
    }
  }
  for (const VecArg& v : kVecs) {
    if (v.nr != nr) continue;
    if (ArgVerdict r = CheckVec(env, a[v.iov], a[v.cnt]); r != ArgVerdict::kOk) return r;
  }
  switch (nr) {
    case SYS_sendmsg: return CheckMsghdr(env, a[1], true);
    case SYS_recvmsg: return CheckMsghdr(env, a[1], false);
    case SYS_sendmmsg: return CheckMmsghdr(env, a[1], a[2], true);
    case SYS_recvmmsg: return CheckMmsghdr(env, a[1], a[2], false);
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
    case ArgVerdict::kRefused: return nr == SYS_ptrace ? EPERM : ENOSYS;
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

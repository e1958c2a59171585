// Copies of syscall arguments held in guest memory (see arg_copy.h).
#include "vmm/arg_copy.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace ix::vmm {

void* ArgArena::Alloc(size_t n, size_t align) {
  size_t start = (used_ + align - 1) & ~(align - 1);
  if (start > size_ || n > size_ - start) return nullptr;
  used_ = start + n;
  return base_ + start;
}

namespace {

constexpr uint64_t kMaxVec = 1024;        // UIO_MAXIOV: longer vectors get EINVAL from the kernel
constexpr uint64_t kMaxWaitv = 128;       // FUTEX_WAITV_MAX
constexpr uint64_t kMaxMessages = 1024;   // the kernel clamps sendmmsg/recvmmsg's vlen to UIO_MAXIOV

// The outcome of one copy step: go on, refuse with a verdict, or fail the call with -errno.
struct Step {
  ArgVerdict verdict = ArgVerdict::kOk;
  long err = 0;
  bool ok() const { return verdict == ArgVerdict::kOk && err == 0; }
};
constexpr Step kGo{};
constexpr Step Fail(long err) { return Step{ArgVerdict::kOk, err}; }
constexpr Step Refuse(ArgVerdict v) { return Step{v, 0}; }

// Copies `len` bytes at guest `gva` into the arena; *copy is set on success.
Step CopyIn(const ArgCheckEnv& mem, ArgArena* arena, uint64_t gva, size_t len, void** copy) {
  void* dst = arena->Alloc(len);
  if (dst == nullptr) return Fail(-ENOMEM);
  if (!mem.read(mem.ctx, dst, gva, len)) return Fail(-EFAULT);
  *copy = dst;
  return kGo;
}

bool Reaches(const ArgCheckEnv& mem, const void* ptr, uint64_t len) {
  return mem.forbidden.Overlaps(reinterpret_cast<uint64_t>(ptr), len);
}

// Replaces the iovec array pointer *iov (cnt entries) by a checked copy. Vectors the kernel
// rejects without reading them (empty, longer than UIO_MAXIOV) are left alone.
Step CopyIovecs(const ArgCheckEnv& mem, ArgArena* arena, uint64_t* iov, uint64_t cnt) {
  if (cnt == 0 || cnt > kMaxVec) return kGo;
  void* copy;
  if (Step s = CopyIn(mem, arena, *iov, cnt * sizeof(iovec), &copy); !s.ok()) return s;
  const auto* v = static_cast<const iovec*>(copy);
  for (uint64_t i = 0; i < cnt; ++i) {
    if (Reaches(mem, v[i].iov_base, v[i].iov_len)) return Refuse(ArgVerdict::kFault);
  }
  *iov = reinterpret_cast<uint64_t>(copy);
  return kGo;
}

// SCM_RIGHTS messages in a (copied) control buffer must not carry the VMM's descriptors.
Step CheckRights(const ArgCheckEnv& mem, const char* control, uint64_t len) {
  uint64_t off = 0;
  while (off + sizeof(cmsghdr) <= len) {
    cmsghdr h;
    memcpy(&h, control + off, sizeof(h));
    if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > len - off) return kGo;  // the kernel: EINVAL
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
      for (uint64_t p = CMSG_LEN(0); p + sizeof(int) <= h.cmsg_len; p += sizeof(int)) {
        int fd;
        memcpy(&fd, control + off + p, sizeof(fd));
        if (mem.is_vmm_fd(mem.ctx, fd)) return Refuse(ArgVerdict::kBadFd);
      }
    }
    off += CMSG_ALIGN(h.cmsg_len);
  }
  return kGo;
}

// Fixes up an already copied msghdr: checks its name and control ranges, and replaces its iovec
// array (and, when sending, its control buffer) by checked copies.
Step CopyMsgParts(const ArgCheckEnv& mem, ArgArena* arena, msghdr* m, bool sending) {
  if (Reaches(mem, m->msg_name, m->msg_namelen) || Reaches(mem, m->msg_control, m->msg_controllen)) {
    return Refuse(ArgVerdict::kFault);
  }
  uint64_t iov = reinterpret_cast<uint64_t>(m->msg_iov);
  if (Step s = CopyIovecs(mem, arena, &iov, m->msg_iovlen); !s.ok()) return s;
  m->msg_iov = reinterpret_cast<iovec*>(iov);
  if (sending && m->msg_control != nullptr && m->msg_controllen > 0) {
    if (m->msg_controllen > kMaxCopiedControl) return Fail(-ENOBUFS);
    void* copy;
    if (Step s = CopyIn(mem, arena, reinterpret_cast<uint64_t>(m->msg_control), m->msg_controllen, &copy);
        !s.ok()) {
      return s;
    }
    if (Step s = CheckRights(mem, static_cast<const char*>(copy), m->msg_controllen); !s.ok()) return s;
    m->msg_control = copy;
  }
  return kGo;
}

Step CopyMsghdr(const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c, bool sending) {
  void* copy;
  if (Step s = CopyIn(mem, arena, c->a[1], sizeof(msghdr), &copy); !s.ok()) return s;
  if (Step s = CopyMsgParts(mem, arena, static_cast<msghdr*>(copy), sending); !s.ok()) return s;
  if (!sending) {
    c->back = CopyBack::kMsghdr;
    c->back_gva = c->a[1];
    c->back_copy = copy;
  }
  c->a[1] = reinterpret_cast<uint64_t>(copy);
  return kGo;
}

// sendmmsg/recvmmsg: as many messages as the arena holds (at least one, or the call fails).
Step CopyMmsghdrs(const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c, bool sending) {
  const uint64_t asked = static_cast<uint32_t>(c->a[2]);  // vlen is an unsigned int
  uint64_t vlen = asked < kMaxMessages ? asked : kMaxMessages;
  if (vlen == 0) return kGo;
  const uint64_t gva = c->a[1];
  void* copy;
  if (Step s = CopyIn(mem, arena, gva, vlen * sizeof(mmsghdr), &copy); !s.ok()) return s;
  auto* msgs = static_cast<mmsghdr*>(copy);
  uint64_t n = 0;
  for (; n < vlen; ++n) {
    Step s = CopyMsgParts(mem, arena, &msgs[n].msg_hdr, sending);
    if (s.err == -ENOMEM && n > 0) break;  // the arena is full: send or receive fewer
    if (!s.ok()) return s;
  }
  c->a[1] = reinterpret_cast<uint64_t>(copy);
  c->a[2] = n;
  c->back = CopyBack::kMmsghdr;
  c->back_gva = gva;
  c->back_copy = copy;
  c->back_count = n;
  c->back_recv = !sending;
  return kGo;
}

// A pointer whose length is a socklen_t the kernel reads (and writes back) through `len_arg`.
Step CopyLength(const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c, int ptr_arg, int len_arg) {
  if (c->a[len_arg] == 0) return kGo;
  void* copy;
  if (Step s = CopyIn(mem, arena, c->a[len_arg], sizeof(socklen_t), &copy); !s.ok()) return s;
  socklen_t len = *static_cast<socklen_t*>(copy);
  if (c->a[ptr_arg] != 0 && mem.forbidden.Overlaps(c->a[ptr_arg], len)) return Refuse(ArgVerdict::kFault);
  c->back = CopyBack::kLen32;
  c->back_gva = c->a[len_arg];
  c->back_copy = copy;
  c->a[len_arg] = reinterpret_cast<uint64_t>(copy);
  return kGo;
}

// futex_waitv: each waiter names a futex word by address.
Step CopyWaiters(const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c) {
  uint64_t n = static_cast<uint32_t>(c->a[1]);  // nr_futexes is an unsigned int
  if (c->a[0] == 0 || n == 0 || n > kMaxWaitv) return kGo;  // EINVAL from the kernel
  void* copy;
  if (Step s = CopyIn(mem, arena, c->a[0], n * sizeof(futex_waitv), &copy); !s.ok()) return s;
  const auto* w = static_cast<const futex_waitv*>(copy);
  for (uint64_t i = 0; i < n; ++i) {
    if (mem.forbidden.Overlaps(w[i].uaddr, sizeof(uint64_t))) return Refuse(ArgVerdict::kFault);
  }
  c->a[0] = reinterpret_cast<uint64_t>(copy);
  return kGo;
}

// pselect6's sixth argument: {const sigset_t* ss; size_t ss_len}.
Step CopySigsetArg(const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c) {
  if (c->a[5] == 0) return kGo;
  void* copy;
  if (Step s = CopyIn(mem, arena, c->a[5], 2 * sizeof(uint64_t), &copy); !s.ok()) return s;
  const auto* pair = static_cast<const uint64_t*>(copy);
  if (pair[0] != 0 && mem.forbidden.Overlaps(pair[0], pair[1])) return Refuse(ArgVerdict::kFault);
  c->a[5] = reinterpret_cast<uint64_t>(copy);
  return kGo;
}

Step CopyFor(long nr, const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* c) {
  switch (nr) {
    case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_preadv2:
    case SYS_pwritev2: case SYS_vmsplice: case SYS_process_madvise:
      return CopyIovecs(mem, arena, &c->a[1], c->a[2]);
    case SYS_process_vm_readv: case SYS_process_vm_writev:
      if (Step s = CopyIovecs(mem, arena, &c->a[1], c->a[2]); !s.ok()) return s;
      return CopyIovecs(mem, arena, &c->a[3], c->a[4]);
    case SYS_sendmsg: return CopyMsghdr(mem, arena, c, true);
    case SYS_recvmsg: return CopyMsghdr(mem, arena, c, false);
    case SYS_sendmmsg: return CopyMmsghdrs(mem, arena, c, true);
    case SYS_recvmmsg: return CopyMmsghdrs(mem, arena, c, false);
    case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
      return CopyLength(mem, arena, c, 1, 2);
    case SYS_recvfrom: return CopyLength(mem, arena, c, 4, 5);
    case SYS_getsockopt: return CopyLength(mem, arena, c, 3, 4);
    case SYS_futex_waitv: return CopyWaiters(mem, arena, c);
    case SYS_pselect6: return CopySigsetArg(mem, arena, c);
  }
  return kGo;
}

// What recvmsg writes into a msghdr: msg_namelen, and msg_controllen with msg_flags (adjacent).
bool PutMsgResult(const ArgCheckEnv& mem, uint64_t gva, const msghdr& m) {
  static_assert(offsetof(msghdr, msg_flags) == offsetof(msghdr, msg_controllen) + sizeof(m.msg_controllen));
  return mem.write(mem.ctx, gva + offsetof(msghdr, msg_namelen), &m.msg_namelen, sizeof(m.msg_namelen)) &&
         mem.write(mem.ctx, gva + offsetof(msghdr, msg_controllen), &m.msg_controllen,
                   sizeof(m.msg_controllen) + sizeof(m.msg_flags));
}

}  // namespace

ArgVerdict CopyInArgs(long nr, const uint64_t* a, const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* out) {
  *out = ArgCopy{};
  memcpy(out->a, a, sizeof(out->a));
  Step s = CopyFor(nr, mem, arena, out);
  if (s.verdict != ArgVerdict::kOk) return s.verdict;
  if (s.err != 0) out->back = CopyBack::kNone;
  out->ret = s.err;
  return ArgVerdict::kOk;
}

bool CopyOutArgs(long ret, const ArgCopy& c, const ArgCheckEnv& mem) {
  if (ret < 0) return true;  // the kernel wrote nothing back on failure
  switch (c.back) {
    case CopyBack::kNone:
      return true;
    case CopyBack::kLen32:
      return mem.write(mem.ctx, c.back_gva, c.back_copy, sizeof(socklen_t));
    case CopyBack::kMsghdr:
      return PutMsgResult(mem, c.back_gva, *static_cast<const msghdr*>(c.back_copy));
    case CopyBack::kMmsghdr: {
      const auto* msgs = static_cast<const mmsghdr*>(c.back_copy);
      uint64_t done = static_cast<uint64_t>(ret) < c.back_count ? static_cast<uint64_t>(ret) : c.back_count;
      for (uint64_t i = 0; i < done; ++i) {
        uint64_t g = c.back_gva + i * sizeof(mmsghdr);
        if (!mem.write(mem.ctx, g + offsetof(mmsghdr, msg_len), &msgs[i].msg_len, sizeof(msgs[i].msg_len))) {
          return false;
        }
        if (c.back_recv && !PutMsgResult(mem, g, msgs[i].msg_hdr)) return false;
      }
      return true;
    }
  }
  return true;
}

}  // namespace ix::vmm

// Copies of the syscall arguments the kernel reads from guest memory after the VMM checked them:
// iovec arrays, msghdr/mmsghdr (and their iovecs and sent control buffers), socket address and
// option length words, futex_waitv arrays and pselect6's sigset pointer. Another guest thread can
// rewrite guest memory between a check and the kernel's read (a double fetch), so the VMM copies
// each such structure into memory the guest cannot write, checks the copy, and hands the kernel the
// copy. What the kernel writes back into the structures themselves (lengths, flags, msg_len) is
// copied back to the guest after the call.
//
//   ArgArena arena(t_arena, kArgArenaSize);
//   ArgCopy c;
//   ArgVerdict v = CopyInArgs(nr, a, mem, &arena, &c);   // c.a: the arguments to forward
//   if (v == kOk && c.ret == 0) ret = syscall(nr, c.a...), CopyOutArgs(ret, c, mem);
//
// Pure code: guest memory is reached only through ArgCheckEnv's read and write, so unit tests and
// the fuzz target run it over fake memory. Buffers the structures point to (iov_base, msg_name, ...) stay in guest
// memory: their addresses are fixed by the copy and checked against the forbidden range here.
#ifndef IX_VMM_ARG_COPY_H_
#define IX_VMM_ARG_COPY_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "vmm/arg_check.h"

namespace ix::vmm {

// A bump allocator over VMM-owned memory (one per vCPU thread; reset per syscall).
class ArgArena {
 public:
  ArgArena(void* base, size_t size) : base_(static_cast<char*>(base)), size_(size) {}
  // `n` bytes at an `align` (a power of two) boundary, or nullptr when the arena is full.
  // Allocations with align 1 follow each other without a gap.
  void* Alloc(size_t n, size_t align = 16);
  // Gives back the last `n` bytes of the latest allocation.
  void Shrink(size_t n) { used_ -= n; }
  size_t left() const { return size_ - used_; }

 private:
  char* base_;
  size_t size_;
  size_t used_ = 0;
};

// Largest control buffer sendmsg copies; longer ones get ENOBUFS, as they do from a kernel whose
// optmem_max (20480 by default on Linux 6.1) is below it.
inline constexpr uint64_t kMaxCopiedControl = 32 << 10;

// How to return the kernel's writes into copied structures to the guest.
enum class CopyBack : uint8_t {
  kNone,
  kLen32,    // a socklen_t: guest `gva` <- *len32, when the call succeeded
  kMsghdr,   // recvmsg: msg_namelen, msg_controllen, msg_flags
  kMmsghdr,  // sendmmsg/recvmmsg: per message sent or received, msg_len (and for recv as kMsghdr)
};

struct ArgCopy {
  uint64_t a[6];       // the arguments to forward (pointers to copies where copied)
  long ret = 0;        // nonzero: do not make the call, return this (-errno) instead
  CopyBack back = CopyBack::kNone;
  uint64_t back_gva = 0;
  void* back_copy = nullptr;  // the copy (socklen_t*, msghdr* or mmsghdr*)
  uint64_t back_count = 0;    // messages in a kMmsghdr copy
  bool back_recv = false;     // kMmsghdr: recvmmsg (names, control and flags too)
};

// Prepares `out` for syscall `nr` with guest arguments a[0..5]. kOk with out->ret == 0: forward
// out->a. kOk with out->ret < 0: return that error without the call (an unreadable structure:
// -EFAULT, an over-long control buffer: -ENOBUFS). Other verdicts: refuse as CheckSyscallArgs's
// do (a copied structure points into the forbidden range, or passes a VMM descriptor).
// sendmmsg/recvmmsg may be given fewer messages than asked for when the arena cannot hold them
// all (a short count, as the kernel itself may return).
ArgVerdict CopyInArgs(long nr, const uint64_t* a, const ArgCheckEnv& mem, ArgArena* arena, ArgCopy* out);

// After the call returned `ret`: copies what the kernel wrote into the copies back to the guest.
// Returns false if that guest memory is no longer writable; the caller then returns -EFAULT, as
// Linux does when its own write-back faults (closing a descriptor accept made first).
bool CopyOutArgs(long ret, const ArgCopy& c, const ArgCheckEnv& mem);

}  // namespace ix::vmm

#endif  // IX_VMM_ARG_COPY_H_

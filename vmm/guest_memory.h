// The one checked way the host side reads and writes guest memory (signal frames, sigaction
// structs, execve vectors): through process_vm_readv/writev on the process itself, so a bad guest
// pointer is an error return (EFAULT), never a host crash, and never VMM-private memory.
#ifndef IX_VMM_GUEST_MEMORY_H_
#define IX_VMM_GUEST_MEMORY_H_

#include <sys/syscall.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "vmm/raw_syscall.h"
#include "vmm/vmm_state.h"

namespace ix::vmm {

inline bool CopyFromGuest(const Vmm* vmm, void* dst, uint64_t gva, size_t len) {
  if (len == 0) return true;
  if (vmm->as.OverlapsPrivate(gva, len)) return false;
  iovec local{dst, len}, remote{reinterpret_cast<void*>(gva), len};
  long n = RawSyscall6(SYS_process_vm_readv, vmm->pid, reinterpret_cast<long>(&local), 1,
                       reinterpret_cast<long>(&remote), 1, 0);
  return n == static_cast<long>(len);
}

inline bool CopyToGuest(const Vmm* vmm, uint64_t gva, const void* src, size_t len) {
  if (len == 0) return true;
  if (vmm->as.OverlapsPrivate(gva, len)) return false;
  iovec local{const_cast<void*>(src), len}, remote{reinterpret_cast<void*>(gva), len};
  long n = RawSyscall6(SYS_process_vm_writev, vmm->pid, reinterpret_cast<long>(&local), 1,
                       reinterpret_cast<long>(&remote), 1, 0);
  return n == static_cast<long>(len);
}

// Reads a NUL-terminated guest string of at most `cap - 1` bytes into dst. Returns its length, or
// -1 if it is unreadable or longer.
inline long CopyStringFromGuest(const Vmm* vmm, char* dst, uint64_t gva, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    size_t to_page_end = 4096 - ((gva + got) & 4095);
    size_t n = cap - got < to_page_end ? cap - got : to_page_end;
    if (!CopyFromGuest(vmm, dst + got, gva + got, n)) return -1;
    for (size_t i = got; i < got + n; ++i) {
      if (dst[i] == 0) return static_cast<long>(i);
    }
    got += n;
  }
  return -1;
}

}  // namespace ix::vmm

#endif  // IX_VMM_GUEST_MEMORY_H_

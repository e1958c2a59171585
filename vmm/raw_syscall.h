// Raw Linux syscalls for the VMM's host side: no errno, no glibc wrapper, results as -errno.
//
// The host side runs between guest instructions, like a signal handler: the guest may hold glibc
// locks and its errno lives in the same TLS, so everything on the exit path calls the kernel
// through these and never through glibc.
#ifndef IX_VMM_RAW_SYSCALL_H_
#define IX_VMM_RAW_SYSCALL_H_

#include <cstdint>

namespace ix::vmm {

inline long RawSyscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  long ret;
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register long r9 __asm__("r9") = a5;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
inline long RawSyscall(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0) {
  return RawSyscall6(nr, a0, a1, a2, a3, 0, 0);
}

inline uint64_t ReadTsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t{hi} << 32) | lo;
}

}  // namespace ix::vmm

#endif  // IX_VMM_RAW_SYSCALL_H_

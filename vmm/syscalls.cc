// Syscall hypercalls (see syscalls.h).
#include "vmm/syscalls.h"

#include <asm/prctl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "ix/hypercall.h"
#include "vmm/arg_check.h"
#include "vmm/arg_copy.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"
#include "vmm/line_buf.h"
#include "vmm/raw_syscall.h"
#include "vmm/signals.h"
#include "vmm/syscall_table.h"
#include "vmm/threads.h"

namespace ix::vmm {
namespace {

bool IsError(long r) { return r < 0 && r > -4096; }

// The syscall the kernel would run for `rax`: it reads only the low 32 bits (and x32 calls with
// bit 30). ix's own hypercall numbers and syscalls in ix's table stay what they are; anything
// else (x32 calls, numbers newer than the table) is -1, refused with ENOSYS rather than
// forwarded with arguments nobody checked.
long SyscallNumberOf(uint64_t rax) {
  const uint32_t n = static_cast<uint32_t>(rax);
  if (n == IX_SYSCALL_GUEST_EXIT || n == IX_SYSCALL_GUEST_RING) return n;
  return SyscallName(n) != nullptr ? static_cast<long>(n) : -1;
}

void CountViolation(Vmm* vmm) {
  __atomic_add_fetch(&vmm->stats->protection_violations, 1, __ATOMIC_RELAXED);
}

// --- tracing ---------------------------------------------------------------------------------

void TraceCall(const Vmm* vmm, long nr, const uint64_t* a, const char* result_prefix, long ret,
               bool has_result, const char* note) {
  LineBuf b;
  b.Put("[ix ");
  b.Dec(RawSyscall(SYS_gettid));
  b.Put("] ");
  const char* name = SyscallName(nr);
  if (name) b.Put(name);
  else {
    b.Put("syscall_");
    b.Dec(nr);
  }
  b.Put("(");
  int nargs = SyscallArgCount(nr);
  for (int i = 0; i < nargs; ++i) {
    if (i) b.Put(", ");
    if (a[i] < 4096) b.Dec(static_cast<long>(a[i]));
    else b.Hex(a[i]);
  }
  b.Put(") = ");
  if (!has_result) b.Put("?");
  else if (IsError(ret)) {
    b.Dec(-1);
    b.Put(" ");
    const char* en = strerrorname_np(static_cast<int>(-ret));
    b.Put(en ? en : "E?");
  } else if (nr == SYS_mmap || nr == SYS_mremap || nr == SYS_brk || nr == SYS_shmat) {
    b.Hex(ret);
  } else {
    b.Dec(ret);
  }
  if (result_prefix) b.Put(result_prefix);
  if (note) {
    b.Put(" (");
    b.Put(note);
    b.Put(")");
  }
  b.Put("\n");
  TraceWrite(vmm, b.buf, b.len);
}

// --- memory ----------------------------------------------------------------------------------

// Makes a successful mapping reachable by the guest; undoes it if the VM cannot cover it.
long CoverResult(Vmm* vmm, long ret, uint64_t len) {
  if (IsError(ret)) return ret;
  if (vmm->as.Cover(vmm->vm_fd, ret, len) < 0) {
    RawSyscall(SYS_munmap, ret, len);
    return -ENOMEM;
  }
  return ret;
}

long SysMemory(Vmm* vmm, long nr, const uint64_t* a) {
  switch (nr) {
    case SYS_mmap: {
      if ((a[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && vmm->as.OverlapsPrivate(a[0], a[1])) {
        CountViolation(vmm);
        return -EINVAL;
      }
      long ret = RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      return a[2] == PROT_NONE ? ret : CoverResult(vmm, ret, a[1]);
    }
    case SYS_mprotect:
    case SYS_pkey_mprotect: {
      if (vmm->as.OverlapsPrivate(a[0], a[1])) {
        CountViolation(vmm);
        return -ENOMEM;
      }
      long ret = RawSyscall6(nr, a[0], a[1], a[2], a[3], 0, 0);
      if (!IsError(ret) && a[2] != PROT_NONE) vmm->as.Cover(vmm->vm_fd, a[0], a[1]);
      return ret;
    }
    case SYS_munmap:
    case SYS_madvise:
    case SYS_mlock:
    case SYS_munlock:
    case SYS_msync:
    case SYS_remap_file_pages:
      if (vmm->as.OverlapsPrivate(a[0], a[1])) {
        CountViolation(vmm);
        return -EINVAL;
      }
      return RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    case SYS_mremap: {
      if (vmm->as.OverlapsPrivate(a[0], a[1]) ||
          ((a[3] & MREMAP_FIXED) && vmm->as.OverlapsPrivate(a[4], a[2]))) {
        CountViolation(vmm);
        return -EINVAL;
      }
      return CoverResult(vmm, RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], 0), a[2]);
    }
    case SYS_brk: {
      long ret = RawSyscall(SYS_brk, a[0]);
      if (static_cast<uint64_t>(ret) > vmm->brk_base) {
        vmm->as.Cover(vmm->vm_fd, vmm->brk_base, ret - vmm->brk_base);
      }
      return ret;
    }
    case SYS_shmat: {
      if (a[1] != 0) {  // an attach address: the segment must not land on the private region
        shmid_ds ds;
        if (RawSyscall(SYS_shmctl, a[0], IPC_STAT, reinterpret_cast<long>(&ds)) == 0 &&
            vmm->as.OverlapsPrivate(a[1] & ~(SHMLBA - 1ull), ds.shm_segsz + SHMLBA)) {
          CountViolation(vmm);
          return -EINVAL;
        }
      }
      long ret = RawSyscall(nr, a[0], a[1], a[2]);
      if (!IsError(ret)) vmm->as.CoverFromProcMaps(vmm->vm_fd);
      return ret;
    }
  }
  return -ENOSYS;
}

// --- descriptors -----------------------------------------------------------------------------

long SysCloseRange(Vmm* vmm, uint64_t first, uint64_t last, uint64_t flags) {
  // Close everything asked for except the VMM's descriptors, in the pieces between them.
  if (first > last) return -EINVAL;
  uint64_t cur = first;
  for (;;) {
    uint64_t hole = ~0ull;
    for (int i = 0; i < vmm->nvmm_fds; ++i) {
      uint64_t fd = vmm->vmm_fds[i];
      if (fd >= cur && fd <= last && fd < hole) hole = fd;
    }
    if (hole == ~0ull) return RawSyscall(SYS_close_range, cur, last, flags);
    if (hole > cur) {
      long r = RawSyscall(SYS_close_range, cur, hole - 1, flags);
      if (IsError(r)) return r;
    }
    if (hole == last) return 0;
    cur = hole + 1;
  }
}

long SysFd(Vmm* vmm, long nr, const uint64_t* a) {
  switch (nr) {
    case SYS_close:
      // The program may close "everything"; the VMM's own descriptors stay open (and the call
      // reports success, as it would have for a descriptor the program had).
      if (IsVmmFd(vmm, static_cast<int>(a[0]))) return 0;
      return RawSyscall(nr, a[0]);
    case SYS_dup2:
    case SYS_dup3:
      if (IsVmmFd(vmm, static_cast<int>(a[1]))) {
        CountViolation(vmm);
        return -EBUSY;
      }
      return RawSyscall(nr, a[0], a[1], a[2]);
    case SYS_close_range:
      return SysCloseRange(vmm, a[0], a[1], a[2]);
  }
  return -ENOSYS;
}

// --- FS/GS base ------------------------------------------------------------------------------

long SysArchPrctl(Vmm* vmm, VcpuThread* t, const uint64_t* a) {
  int code = static_cast<int>(a[0]);
  if (code != ARCH_SET_FS && code != ARCH_GET_FS && code != ARCH_SET_GS && code != ARCH_GET_GS) {
    return RawSyscall(SYS_arch_prctl, a[0], a[1]);
  }
  kvm_sregs s;
  long r = RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_GET_SREGS, reinterpret_cast<long>(&s));
  if (r < 0) return r;
  switch (code) {
    case ARCH_GET_FS:
      return CopyToGuest(vmm, a[1], &s.fs.base, 8) ? 0 : -EFAULT;
    case ARCH_GET_GS:
      return CopyToGuest(vmm, a[1], &s.gs.base, 8) ? 0 : -EFAULT;
    case ARCH_SET_FS:
    case ARCH_SET_GS: {
      if (a[1] >= (1ull << 47)) return -EPERM;
      // Keep the host thread's base equal to the guest's, as the kernel would see it.
      r = RawSyscall(SYS_arch_prctl, a[0], a[1]);
      if (r < 0) return r;
      (code == ARCH_SET_FS ? s.fs.base : s.gs.base) = a[1];
      r = RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_SET_SREGS, reinterpret_cast<long>(&s));
      // ReturnToUserSegments writes the synced copy back on entry: it must hold the new base.
      if (t->run->kvm_valid_regs & KVM_SYNC_X86_SREGS) t->run->s.regs.sregs = s;
      return r < 0 ? r : 0;
    }
  }
  return -EINVAL;
}

// Makes the call the policy decided on; returns true when it was refused (ret set).
bool ApplyPolicy(Vmm* vmm, long nr, const uint64_t* a, long* ret) {
  PolicyEntry p = vmm->policy.For(nr);
  if (p.action == PolicyAction::kAllow) return false;
  if (nr >= 0 && nr < kRunStatsSyscalls) __atomic_add_fetch(&vmm->stats->denied[nr], 1, __ATOMIC_RELAXED);
  if (p.action == PolicyAction::kKill) {
    TraceCall(vmm, nr, a, nullptr, 0, false, "killed by policy");
    static const char kMsg[] = "ix-run: syscall refused by policy (kill): ";
    LineBuf b;
    b.Put(kMsg);
    const char* name = SyscallName(nr);
    b.Put(name ? name : "?");
    b.Put("\n");
    RawSyscall(SYS_write, 2, reinterpret_cast<long>(b.buf), b.len);
    KillWithSignal(SIGSYS);
  }
  *ret = -static_cast<long>(p.err);
  return true;
}

bool ReadGuest(const void* ctx, void* dst, uint64_t gva, size_t len) {
  return CopyFromGuest(static_cast<const Vmm*>(ctx), dst, gva, len);
}
bool WriteGuest(const void* ctx, uint64_t gva, const void* src, size_t len) {
  return CopyToGuest(static_cast<const Vmm*>(ctx), gva, src, len);
}
bool VmmFd(const void* ctx, int fd) { return IsVmmFd(static_cast<const Vmm*>(ctx), fd); }

// Refuses a call that would make the kernel touch VMM-private memory or descriptors, and copies
// the structures it reads from guest memory into `c` (arg_copy.h). Returns why the call is not
// made (ret set), or nullptr to make it with c->a.
const char* RefuseUnsafeArgs(Vmm* vmm, VcpuThread* t, long nr, const uint64_t* a, ArgCopy* c, long* ret) {
  const ArgCheckEnv env = GuestArgEnv(vmm);
  ArgVerdict v = CheckSyscallArgs(nr, a, env);
  if (v == ArgVerdict::kOk) {
    ArgArena arena(reinterpret_cast<char*>(ThreadBlockBase(t) + kArgArenaOffset), kArgArenaSize);
    v = CopyInArgs(nr, a, env, &arena, c);
    if (v == ArgVerdict::kOk) {
      *ret = c->ret;
      return c->ret != 0 ? "arguments unreadable or too long" : nullptr;
    }
  }
  CountViolation(vmm);
  *ret = -ArgVerdictErrno(nr, v);
  return "refused: VMM memory or descriptor";
}

// Returns what the kernel wrote into copied structures to the guest; the call's result, or
// -EFAULT as Linux gives when that write-back faults (undoing accept's new descriptor).
long FinishCopiedArgs(Vmm* vmm, long nr, long ret, const ArgCopy& c) {
  if (CopyOutArgs(ret, c, GuestArgEnv(vmm))) return ret;
  if (nr == SYS_accept || nr == SYS_accept4) RawSyscall(SYS_close, ret);
  return -EFAULT;
}

// A descriptor for this process's own /proc/<pid>/mem would let writes bypass every check.
// A second descriptor for one of the VMM's files (the statistics or policy memfd, reopened
// through /proc/self/fd or map_files) would bypass the checks on the VMM's own descriptors.
bool IsVmmFileAgain(const Vmm* vmm, int fd) {
  struct stat opened;
  if (vmm->nvmm_files == 0 || RawSyscall(SYS_fstat, fd, reinterpret_cast<long>(&opened)) != 0) return false;
  for (int i = 0; i < vmm->nvmm_files; ++i) {
    if (vmm->vmm_files[i].dev == opened.st_dev && vmm->vmm_files[i].ino == opened.st_ino) return true;
  }
  return false;
}

long RefuseOwnMemFile(Vmm* vmm, long ret) {
  if (IsError(ret)) return ret;
  if (!IsOwnMemFile(static_cast<int>(ret), vmm->pid) && !IsVmmFileAgain(vmm, static_cast<int>(ret))) return ret;
  RawSyscall(SYS_close, ret);
  CountViolation(vmm);
  return -EACCES;
}

}  // namespace

ArgCheckEnv GuestArgEnv(const Vmm* vmm) {
  return ArgCheckEnv{
      .forbidden = {vmm->as.private_base() - kPrivateGuard,
                    vmm->as.private_base() + vmm->as.private_size() + kPrivateGuard},
      .read = ReadGuest,
      .write = WriteGuest,
      .is_vmm_fd = VmmFd,
      .ctx = vmm,
  };
}

void TraceWrite(const Vmm* vmm, const char* text, int len) {
  if (vmm->opts.trace_fd >= 0) RawSyscall(SYS_write, vmm->opts.trace_fd, reinterpret_cast<long>(text), len);
}

bool IsVmmFd(const Vmm* vmm, int fd) {
  if (fd < 0) return false;
  for (int i = 0; i < vmm->nvmm_fds; ++i) {
    if (vmm->vmm_fds[i] == fd) return true;
  }
  return false;
}

void AddVmmFd(Vmm* vmm, int fd) {
  if (fd < 0 || IsVmmFd(vmm, fd)) return;
  if (vmm->nvmm_fds < static_cast<int>(sizeof(vmm->vmm_fds) / sizeof(int))) vmm->vmm_fds[vmm->nvmm_fds++] = fd;
}

void HandleSyscall(Vmm* vmm, VcpuThread* t) {
  kvm_regs& regs = t->run->s.regs.regs;
  const long nr = SyscallNumberOf(regs.rax);
  const uint64_t a[6] = {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9};
  if (nr >= 0 && nr < kRunStatsSyscalls) __atomic_add_fetch(&vmm->stats->syscalls[nr], 1, __ATOMIC_RELAXED);
  else __atomic_add_fetch(&vmm->stats->other_syscalls, 1, __ATOMIC_RELAXED);
  t->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;

  long ret = 0;
  const char* refused = nullptr;
  ArgCopy c;
  if (ApplyPolicy(vmm, nr, a, &ret)) refused = "denied by policy";
  else if (nr < 0) {
    ret = -ENOSYS;  // a number that is not the kernel's (nor ix's): never forwarded unchecked
    refused = "unknown to ix";
  } else {
    refused = RefuseUnsafeArgs(vmm, t, nr, a, &c, &ret);
  }
  if (refused) {
    if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, ret, true, refused);
    regs.rax = ret;
    regs.rip = regs.rcx;
    regs.rflags = SyscallReturnRflags(regs.r11);
    return;
  }
  switch (nr) {
    case SYS_rt_sigaction:
      ret = SysRtSigaction(vmm, static_cast<int>(a[0]), a[1], a[2], a[3]);
      break;
    case SYS_sigaltstack:
      ret = SysSigaltstack(vmm, t, regs, a[0], a[1]);
      break;
    case SYS_rt_sigreturn:
      if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, 0, false, nullptr);
      if (!SysRtSigreturn(vmm, t, regs)) KillWithSignal(SIGSEGV);
      return;  // every register comes from the frame
    case SYS_clone:
    case SYS_fork:
    case SYS_vfork:
      ret = SysClone(vmm, t, nr, a);
      if (ret == kCloneChildReady) return;  // a forked child: its new vCPU holds the state
      break;
    case SYS_clone3:
      ret = -ENOSYS;  // glibc falls back to clone, which the VMM handles
      break;
    case SYS_execve:
    case SYS_execveat:
      if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, 0, false, nullptr);
      ret = SysExecve(vmm, nr, a);
      break;
    case SYS_exit:
      if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, 0, false, nullptr);
      ExitThread(vmm, t, static_cast<int>(a[0]));
    case SYS_exit_group:
      if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, 0, false, nullptr);
      ReleaseAllRobustLists(vmm);
      for (;;) RawSyscall(SYS_exit_group, a[0]);
    case SYS_mmap: case SYS_mprotect: case SYS_pkey_mprotect: case SYS_munmap: case SYS_madvise:
    case SYS_mlock: case SYS_munlock: case SYS_msync: case SYS_remap_file_pages:
    case SYS_mremap: case SYS_brk: case SYS_shmat:
      ret = SysMemory(vmm, nr, a);
      break;
    case SYS_close: case SYS_dup2: case SYS_dup3: case SYS_close_range:
      ret = SysFd(vmm, nr, a);
      break;
    case SYS_arch_prctl:
      ret = SysArchPrctl(vmm, t, a);
      break;
    case SYS_set_robust_list:
    case SYS_get_robust_list:
      ret = SysRobustList(vmm, t, nr, a);
      break;
    case IX_SYSCALL_GUEST_RING:
      ret = vmm->opts.ring;
      break;
    case IX_SYSCALL_GUEST_EXIT:
      if (vmm->opts.allow_guest_exit) LeaveGuest(vmm, t);  // does not return
      ret = -EPERM;
      break;
    case SYS_open: case SYS_openat: case SYS_openat2: case SYS_open_by_handle_at:
      ret = RefuseOwnMemFile(vmm, RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
      break;
    default:
      ret = FinishCopiedArgs(vmm, nr, RawSyscall6(nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5]), c);
      break;
  }
  if (vmm->opts.trace_fd >= 0) TraceCall(vmm, nr, a, nullptr, ret, true, nullptr);
  regs.rflags = SyscallReturnRflags(regs.r11);
  if (ret == -EINTR && t->npending > 0 && ShouldRestartSyscall(vmm, t, nr)) {
    regs.rip = regs.rcx - 2;  // re-execute the `syscall` instruction after the handler
    regs.rax = nr;
    return;
  }
  regs.rax = ret;
  regs.rip = regs.rcx;
}

}  // namespace ix::vmm

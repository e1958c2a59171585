// Threads, processes and images of a guest program (see threads.h).
#include "vmm/threads.h"

#include <linux/futex.h>
#include <linux/kvm.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "vmm/cpu.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"
#include "vmm/raw_syscall.h"
#include "vmm/robust_futex.h"
#include "vmm/signals.h"
#include "vmm/syscalls.h"

extern "C" long ix_vmm_clone_thread(unsigned long flags, uint64_t host_stack_top, uint64_t ptid,
                                    uint64_t ctid, uint64_t tls, ix::vmm::VcpuThread* t);
extern "C" [[noreturn]] void ix_vmm_exit_thread(std::atomic<int>* in_use, int code);
extern "C" [[noreturn]] void ix_vmm_resume_native(const kvm_regs* regs);

namespace ix::vmm {

[[noreturn]] void RunLoop(VcpuThread* t);  // vmm.cc

namespace {

void WriteStderr(const char* msg) {
  RawSyscall(SYS_write, 2, reinterpret_cast<long>(msg), strlen(msg));
}

bool GuestBases(VcpuThread* t, uint64_t* fs, uint64_t* gs) {
  kvm_sregs s;
  if (RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_GET_SREGS, reinterpret_cast<long>(&s)) < 0) return false;
  *fs = s.fs.base;
  *gs = s.gs.base;
  return true;
}

// In the child of a fork: the parent's VM belongs to the parent's address space, so build a new
// one from the (copied) VMM-private state and give this thread vCPU 0 with `regs` and the FPU
// state the parent saved in self->xsave.
void ReinitAfterFork(Vmm* vmm, VcpuThread* self, const kvm_regs& regs, uint64_t fs, uint64_t gs) {
  vmm->pid = static_cast<int>(RawSyscall(SYS_getpid));
  for (int i = 0; i < kMaxThreads; ++i) {
    VcpuThread* t = ThreadBlock(vmm, i);
    if (t->vcpu_fd >= 0) {
      RawSyscall(SYS_munmap, ThreadBlockBase(t) + kRunOffset, vmm->run_size);
      RawSyscall(SYS_close, t->vcpu_fd);
      t->vcpu_fd = -1;
      t->run = nullptr;
    }
    if (t != self) t->in_use.store(0);
  }
  RawSyscall(SYS_close, vmm->vm_fd);
  vmm->nvmm_fds = 0;
  AddVmmFd(vmm, vmm->kvm_fd);
  AddVmmFd(vmm, vmm->opts.trace_fd);
  AddVmmFd(vmm, vmm->opts.stats_fd);
  AddVmmFd(vmm, vmm->opts.policy_fd);
  long vm = RawSyscall(SYS_ioctl, vmm->kvm_fd, KVM_CREATE_VM, 0);
  if (vm >= 0) {
    long hi = RawSyscall(SYS_fcntl, vm, F_DUPFD_CLOEXEC, 800);
    if (hi >= 0) {
      RawSyscall(SYS_close, vm);
      vm = hi;
    }
  }
  if (vm < 0 || (vmm->vm_fd = static_cast<int>(vm), vmm->as.ReplaySlots(vmm->vm_fd)) < 0) {
    WriteStderr("ix-run: cannot create the VM of a forked child\n");
    RawSyscall(SYS_exit_group, 127);
  }
  AddVmmFd(vmm, vmm->vm_fd);
  self->index = 0;  // the vCPU id; the block stays where it is
  if (InitVcpu(vmm, self, regs, fs, gs) < 0 ||
      RawSyscall(SYS_ioctl, self->vcpu_fd, kIoctlSetXsave, reinterpret_cast<long>(&self->xsave)) < 0) {
    WriteStderr("ix-run: cannot create the vCPU of a forked child\n");
    RawSyscall(SYS_exit_group, 127);
  }
  AddVmmFd(vmm, self->vcpu_fd);
  self->run->kvm_dirty_regs = 0;
  self->tid = static_cast<int>(RawSyscall(SYS_gettid));
  self->robust_head = 0;  // as the kernel clears a child's list; glibc's fork sets it again
  self->robust_len = 0;
  __atomic_add_fetch(&vmm->stats->vms_created, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&vmm->stats->vcpus_created, 1, __ATOMIC_RELAXED);
}

long CloneThread(Vmm* vmm, VcpuThread* t, uint64_t flags, uint64_t stack, uint64_t ptid,
                 uint64_t ctid, uint64_t tls) {
  const kvm_regs& regs = t->run->s.regs.regs;
  uint64_t fs, gs;
  if (!GuestBases(t, &fs, &gs)) return -EAGAIN;
  if (flags & CLONE_SETTLS) fs = tls;
  int index = ClaimThreadBlock(vmm);
  if (index < 0) return -EAGAIN;
  VcpuThread* c = ThreadBlock(vmm, index);
  kvm_regs cr = regs;
  cr.rax = 0;
  cr.rip = regs.rcx;
  cr.rflags = SyscallReturnRflags(regs.r11);
  if (stack) cr.rsp = stack;
  bool fresh = c->vcpu_fd < 0;
  int r = InitVcpu(vmm, c, cr, fs, gs);
  if (r < 0) {
    c->in_use.store(0);
    return r == -ENOMEM || r == -EMFILE ? -EAGAIN : r;
  }
  r = CopyFpuState(t->vcpu_fd, c->vcpu_fd, &c->xsave);
  if (r < 0) {
    c->in_use.store(0);
    return -EAGAIN;
  }
  if (fresh) {
    AddVmmFd(vmm, c->vcpu_fd);
    __atomic_add_fetch(&vmm->stats->vcpus_created, 1, __ATOMIC_RELAXED);
  }
  c->run->kvm_dirty_regs = 0;
  c->run->immediate_exit = 0;
  uint64_t top = ThreadBlockBase(c) + kThreadBlockSize - 64;
  long tid = ix_vmm_clone_thread(flags, top, ptid, ctid, tls, c);
  if (tid < 0) c->in_use.store(0);
  else __atomic_add_fetch(&vmm->stats->threads_started, 1, __ATOMIC_RELAXED);
  return tid;
}

}  // namespace

int ClaimThreadBlock(Vmm* vmm) {
  SpinGuard g(vmm->thread_lock);
  for (int i = 0; i < kMaxThreads; ++i) {
    VcpuThread* t = ThreadBlock(vmm, i);
    int expected = 0;
    if (t->in_use.compare_exchange_strong(expected, 1)) {
      if (t->vmm == nullptr) t->vcpu_fd = -1;  // never used: zero-filled
      t->vmm = vmm;
      t->index = i;
      t->npending = 0;
      t->altstack = stack_t{nullptr, SS_DISABLE, 0};
      t->robust_head = 0;
      t->robust_len = 0;
      t->tid = 0;
      return i;
    }
  }
  return -1;
}

long SysClone(Vmm* vmm, VcpuThread* t, long nr, const uint64_t* a) {
  uint64_t flags, stack = 0, ptid = 0, ctid = 0, tls = 0;
  if (nr == SYS_fork) flags = SIGCHLD;
  else if (nr == SYS_vfork) flags = CLONE_VFORK | SIGCHLD;
  else flags = a[0], stack = a[1], ptid = a[2], ctid = a[3], tls = a[4];
  if (flags & CLONE_THREAD) {
    if (!(flags & CLONE_VM)) return -EINVAL;
    return CloneThread(vmm, t, flags, stack, ptid, ctid, tls);
  }
  // A new process. It cannot share this VM (KVM ties a VM to one address space), so a vfork-style
  // CLONE_VM child gets a copy of memory instead: posix_spawn and vfork users work, but a child's
  // writes before its exec are not seen by the parent.
  kvm_regs snapshot = t->run->s.regs.regs;  // the run page is shared with the child until remapped
  uint64_t fs, gs;
  if (!GuestBases(t, &fs, &gs)) return -EAGAIN;
  // The FPU state too: the child's new vCPU starts from it (t->xsave is copied with memory).
  if (RawSyscall(SYS_ioctl, t->vcpu_fd, kIoctlGetXsave, reinterpret_cast<long>(&t->xsave)) < 0) return -EAGAIN;
  // The child reports on `ready` once its vCPU can run: KVM starts a per-VM worker at the first
  // KVM_RUN, which counts against RLIMIT_NPROC, so a fork at the limit can leave a child that
  // cannot run. The parent then reaps it and fails the fork with EAGAIN, as Linux's fork at the
  // limit does (the program may see one SIGCHLD for it).
  // A socket pair, so that the child's send never raises SIGPIPE (MSG_NOSIGNAL).
  int ready[2];
  if (RawSyscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reinterpret_cast<long>(ready)) < 0) {
    return -EAGAIN;
  }
  long pid = RawSyscall6(SYS_clone, flags & ~CLONE_VM, 0, ptid, ctid, tls, 0);
  if (pid != 0) {
    RawSyscall(SYS_close, ready[1]);
    char ok = 0;
    long n = 1;
    if (pid > 0) {
      do n = RawSyscall(SYS_read, ready[0], reinterpret_cast<long>(&ok), 1);
      while (n == -EINTR);  // a signal for the guest (queued by the host handler)
    }
    RawSyscall(SYS_close, ready[0]);
    if (n != 0) return pid;  // ready, clone failed, or the pipe unreadable: as before
    RawSyscall6(SYS_wait4, pid, 0, __WALL, 0, 0, 0);
    return -EAGAIN;
  }
  RawSyscall(SYS_close, ready[0]);
  snapshot.rax = 0;
  snapshot.rip = snapshot.rcx;
  snapshot.rflags = SyscallReturnRflags(snapshot.r11);
  if (stack) snapshot.rsp = stack;
  if (flags & CLONE_SETTLS) fs = tls;
  ReinitAfterFork(vmm, t, snapshot, fs, gs);
  // KVM_RUN with immediate_exit does KVM's first-run set-up and returns EINTR without entering.
  t->run->immediate_exit = 1;
  long r = RawSyscall(SYS_ioctl, t->vcpu_fd, KVM_RUN, 0);
  t->run->immediate_exit = 0;
  if (r != -EINTR && r != 0) RawSyscall(SYS_exit_group, 127);  // the parent says EAGAIN
  const char yes = 1;
  RawSyscall6(SYS_sendto, ready[1], reinterpret_cast<long>(&yes), 1, MSG_NOSIGNAL, 0, 0);
  RawSyscall(SYS_close, ready[1]);
  return kCloneChildReady;
}

namespace {

void WakeFutex(const void*, uint64_t uaddr) {
  RawSyscall(SYS_futex, uaddr, FUTEX_WAKE, 1);  // glibc waits on robust futexes as shared ones
  RawSyscall(SYS_futex, uaddr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1);
}

void ReleaseThreadRobustList(Vmm* vmm, VcpuThread* t) {
  RobustListResult r = ReleaseRobustList(t->robust_head, t->tid, GuestArgEnv(vmm), WakeFutex);
  t->robust_head = 0;
  if (r.refused > 0) __atomic_add_fetch(&vmm->stats->protection_violations, r.refused, __ATOMIC_RELAXED);
}

VcpuThread* ThreadWithTid(Vmm* vmm, long tid) {
  for (int i = 0; i < kMaxThreads; ++i) {
    VcpuThread* t = ThreadBlock(vmm, i);
    if (t->in_use.load() && t->tid == tid) return t;
  }
  return nullptr;
}

}  // namespace

long SysRobustList(Vmm* vmm, VcpuThread* t, long nr, const uint64_t* a) {
  if (nr == SYS_set_robust_list) {
    if (a[1] != kRobustHeadSize) return -EINVAL;
    t->robust_head = a[0];
    t->robust_len = a[1];
    return 0;
  }
  // get_robust_list(pid, head_ptr, len_ptr): ours for this process's threads, the kernel's else.
  VcpuThread* of = a[0] == 0 ? t : ThreadWithTid(vmm, static_cast<long>(a[0]));
  if (of == nullptr) return RawSyscall(SYS_get_robust_list, a[0], a[1], a[2]);
  uint64_t len = kRobustHeadSize;
  if (!CopyToGuest(vmm, a[1], &of->robust_head, 8) || !CopyToGuest(vmm, a[2], &len, 8)) return -EFAULT;
  return 0;
}

void ReleaseAllRobustLists(Vmm* vmm) {
  for (int i = 0; i < kMaxThreads; ++i) {
    VcpuThread* t = ThreadBlock(vmm, i);
    if (t->in_use.load() && t->robust_head != 0) ReleaseThreadRobustList(vmm, t);
  }
}

[[noreturn]] void ExitThread(Vmm* vmm, VcpuThread* t, int code) {
  ReleaseThreadRobustList(vmm, t);
  t->npending = 0;
  ix_vmm_exit_thread(&t->in_use, code);
}

[[noreturn]] void LeaveGuest(Vmm* vmm, VcpuThread* t) {
  kvm_regs r = t->run->s.regs.regs;
  r.rax = 0;
  r.rip = r.rcx;
  r.rflags = SyscallReturnRflags(r.r11);
  // Give the program's handlers back to the kernel.
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (vmm->sigactions[sig].handler > 1) {
      RawSyscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&vmm->sigactions[sig]), 0, 8);
    }
  }
  // Hand the robust list back to the kernel, which walks it from now on.
  RawSyscall(SYS_set_robust_list, t->robust_head, kRobustHeadSize);
  t->in_use.store(0);
  ix_vmm_resume_native(&r);
}

}  // namespace ix::vmm

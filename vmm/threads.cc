// Threads, processes and images of a guest program (see threads.h).
#include "vmm/threads.h"

#include <linux/kvm.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "vmm/cpu.h"
#include "vmm/exec_target.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"
#include "vmm/raw_syscall.h"
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

bool StartsWith(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

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
  long pid = RawSyscall6(SYS_clone, flags & ~CLONE_VM, 0, ptid, ctid, tls, 0);
  if (pid != 0) return pid;
  snapshot.rax = 0;
  snapshot.rip = snapshot.rcx;
  snapshot.rflags = SyscallReturnRflags(snapshot.r11);
  if (stack) snapshot.rsp = stack;
  if (flags & CLONE_SETTLS) fs = tls;
  ReinitAfterFork(vmm, t, snapshot, fs, gs);
  return kCloneChildReady;
}

long SysExecve(Vmm* vmm, long nr, const uint64_t* a) {
  uint64_t envp = nr == SYS_execve ? a[2] : a[3];
  SpinGuard g(vmm->thread_lock);
  // scratch: [0, 128K) the new envp vector, [128K, 256K) strings the VMM adds, [256K, 384K) the
  // argv vector of a static program's loader, [384K, 388K) its path.
  constexpr size_t kMaxEnv = (128 << 10) / 8 - 1;
  auto* vec = reinterpret_cast<uint64_t*>(vmm->scratch);
  char* strings = vmm->scratch + (128 << 10);
  size_t n = 0, used = 0;
  auto add_string = [&](const char* s, size_t len) -> bool {
    if (used + len + 1 > (128 << 10) || n >= kMaxEnv) return false;
    memcpy(strings + used, s, len);
    strings[used + len] = 0;
    vec[n++] = reinterpret_cast<uint64_t>(strings + used);
    used += len + 1;
    return true;
  };
  // The variables that bring the new image under ix: LD_PRELOAD first, then IX_*.
  char preload[4096];
  size_t plen = strlen("LD_PRELOAD=");
  memcpy(preload, "LD_PRELOAD=", plen);
  size_t ours = strlen(vmm->opts.preload_path);
  memcpy(preload + plen, vmm->opts.preload_path, ours);
  plen += ours;
  for (int off = 0; off < vmm->opts.env_extra_len;) {
    const char* s = vmm->opts.env_extra + off;
    size_t len = strlen(s);
    if (!add_string(s, len)) return -E2BIG;
    off += len + 1;
  }
  size_t preload_slot = n++;
  char str[4096];
  for (size_t i = 0; envp != 0; ++i) {
    uint64_t p;
    if (!CopyFromGuest(vmm, &p, envp + 8 * i, 8)) return -EFAULT;
    if (p == 0) break;
    if (n >= kMaxEnv) return -E2BIG;
    long len = CopyStringFromGuest(vmm, str, p, sizeof(str));
    if (len >= 0 && StartsWith(str, "IX_")) continue;  // replaced by ours
    if (len >= 0 && StartsWith(str, "LD_PRELOAD=")) {
      // Keep the program's own preloads after ix's.
      const char* theirs = str + strlen("LD_PRELOAD=");
      if (strcmp(theirs, vmm->opts.preload_path) != 0 && plen + 1 + (len - 11) < sizeof(preload)) {
        preload[plen++] = ':';
        memcpy(preload + plen, theirs, len - 11);
        plen += len - 11;
      }
      continue;
    }
    vec[n++] = p;
  }
  size_t saved_n = n;
  n = preload_slot;
  if (!add_string(preload, plen)) return -E2BIG;
  n = saved_n;
  vec[n] = 0;
  char* path = vmm->scratch + (384 << 10);
  if (CopyStringFromGuest(vmm, path, nr == SYS_execve ? a[0] : a[1], 4096) < 0) return -EFAULT;
  const ExecTarget target = ClassifyExecTarget(nr == SYS_execve ? AT_FDCWD : static_cast<int>(a[0]), path,
                                               nr == SYS_execve ? 0 : static_cast<int>(a[4]));
  if (target == ExecTarget::kEscapes) {
    __atomic_add_fetch(&vmm->stats->protection_violations, 1, __ATOMIC_RELAXED);
    return -EPERM;
  }
  if (target == ExecTarget::kStatic) {
    // ix-exec-static PATH ARGV0 ARGS...: the loader runs under ix and maps the program.
    if (vmm->opts.static_loader[0] == 0) return -ENOEXEC;
    bool relative_to_dirfd = nr == SYS_execveat && path[0] != '/' && static_cast<int>(a[0]) != AT_FDCWD;
    if (relative_to_dirfd) return -ENOEXEC;  // documented limit: fexecve/execveat of a static program
    constexpr size_t kMaxArgs = (128 << 10) / 8 - 3;
    auto* args = reinterpret_cast<uint64_t*>(vmm->scratch + (256 << 10));
    args[0] = reinterpret_cast<uint64_t>(vmm->opts.static_loader);
    args[1] = reinterpret_cast<uint64_t>(path);
    uint64_t argv = nr == SYS_execve ? a[1] : a[2];
    size_t m = 2;
    for (size_t i = 0; argv != 0; ++i, ++m) {
      if (m >= kMaxArgs) return -E2BIG;
      if (!CopyFromGuest(vmm, &args[m], argv + 8 * i, 8)) return -EFAULT;
      if (args[m] == 0) break;
    }
    if (m == 2) args[m++] = reinterpret_cast<uint64_t>(path);  // argv[0] for an empty argv
    args[m] = 0;
    return RawSyscall(SYS_execve, reinterpret_cast<long>(vmm->opts.static_loader), reinterpret_cast<long>(args),
                      reinterpret_cast<long>(vec));
  }
  if (nr == SYS_execve) return RawSyscall(SYS_execve, a[0], a[1], reinterpret_cast<long>(vec));
  return RawSyscall6(SYS_execveat, a[0], a[1], a[2], reinterpret_cast<long>(vec), a[4], 0);
}

[[noreturn]] void ExitThread(Vmm* vmm, VcpuThread* t, int code) {
  (void)vmm;
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
  t->in_use.store(0);
  ix_vmm_resume_native(&r);
}

}  // namespace ix::vmm

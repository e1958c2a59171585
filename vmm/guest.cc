// Entering and leaving the guest (see guest.h): builds the VMM-private region, the VM mirroring
// the process, vCPU 0 for the calling thread, then continues in the guest.
#include "vmm/guest.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"
#include "ix/hypercall.h"
#include "vmm/cpu.h"
#include "vmm/cpu_features.h"
#include "vmm/policy.h"
#include "vmm/raw_syscall.h"
#include "vmm/robust_futex.h"
#include "vmm/signals.h"
#include "vmm/syscalls.h"
#include "vmm/threads.h"

namespace ix::vmm {

namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrFormat("%s: %s (errno %d)", what, strerror(errno), errno));
}

// The region, 2 MiB aligned, with kPrivateGuard bytes of PROT_NONE on each side: the guards keep
// a fixed-size struct that starts outside the region from reaching into it (arg_check.h).
absl::StatusOr<uint64_t> MapPrivateRegion() {
  const uint64_t span = kPrivateSize + 2 * kChunk;
  void* p = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return Errno("mmap of the VMM-private region");
  uint64_t raw = reinterpret_cast<uint64_t>(p);
  uint64_t base = (raw + kPrivateGuard + kChunk - 1) & ~(kChunk - 1);
  uint64_t lo = base - kPrivateGuard, hi = base + kPrivateSize + kPrivateGuard;
  if (lo > raw) munmap(p, lo - raw);
  if (raw + span > hi) munmap(reinterpret_cast<void*>(hi), raw + span - hi);
  if (mprotect(reinterpret_cast<void*>(base), kPrivateSize, PROT_READ | PROT_WRITE) != 0) {
    munmap(reinterpret_cast<void*>(lo), hi - lo);
    return Errno("mprotect of the VMM-private region");
  }
  return base;
}

// The main thread's [stack] mapping and how far RLIMIT_STACK lets it grow.
void FindStack(Vmm* vmm) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("[stack]") == std::string::npos) continue;
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) break;
    rlimit lim{};
    getrlimit(RLIMIT_STACK, &lim);
    uint64_t limit = lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > (256ull << 20) ? (256ull << 20) : lim.rlim_cur;
    vmm->stack_top = hi;
    vmm->stack_low = lo;
    vmm->stack_floor = hi > limit ? hi - limit : 0;
    if (vmm->stack_floor > lo) vmm->stack_floor = lo;
    return;
  }
}

absl::Status SetUpVm(Vmm* vmm, KvmSystem& kvm, const GuestOptions& o, int ring, bool pvm) {
  vmm->magic = 0x4958564d4d;
  vmm->opts.ring = ring;
  vmm->syscall_enters_cpl0 = ring == 3 && !pvm;
  vmm->opts.allow_guest_exit = o.allow_guest_exit;
  vmm->opts.trace_fd = o.trace_fd;
  vmm->opts.stats_fd = o.stats_fd;
  vmm->opts.policy_fd = o.policy_fd;
  if (o.preload_path.size() >= sizeof(vmm->opts.preload_path) || o.env_extra.size() >= sizeof(vmm->opts.env_extra) ||
      o.static_loader.size() >= sizeof(vmm->opts.static_loader)) {
    return absl::InvalidArgumentError("preload path or IX_* environment too long");
  }
  memcpy(vmm->opts.preload_path, o.preload_path.data(), o.preload_path.size());
  memcpy(vmm->opts.static_loader, o.static_loader.data(), o.static_loader.size());
  memcpy(vmm->opts.env_extra, o.env_extra.data(), o.env_extra.size());
  vmm->opts.env_extra_len = static_cast<int>(o.env_extra.size());
  vmm->policy = o.policy;
  vmm->pid = getpid();
  vmm->run_size = kvm.vcpu_mmap_size();
  if (vmm->run_size > static_cast<int>(kIstOffset - kRunOffset)) {
    return absl::FailedPreconditionError(absl::StrFormat("kvm_run is %d bytes, more than ix reserves", vmm->run_size));
  }
  // Statistics: the memfd ix-run shares, mapped inside the private region; else private zeros.
  uint64_t stats_hva = vmm->base + kStatsOffset;
  if (o.stats_fd >= 0) {
    void* p = mmap(reinterpret_cast<void*>(stats_hva), sizeof(RunStats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED, o.stats_fd, 0);
    if (p == MAP_FAILED) return Errno("mmap of the ix-run statistics memfd");
  }
  vmm->stats = reinterpret_cast<RunStats*>(stats_hva);
  __atomic_add_fetch(&vmm->stats->vms_created, 1, __ATOMIC_RELAXED);

  absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid = kvm.SupportedCpuid();
  if (!cpuid.ok()) return cpuid.status();
  vmm->ncpuid = static_cast<int>(std::min<size_t>(cpuid->size(), 256));
  memcpy(vmm->cpuid, cpuid->data(), vmm->ncpuid * sizeof(kvm_cpuid_entry2));
  GuestFpuConfig fpu = FitCpuToHost(vmm->cpuid, vmm->ncpuid);
  vmm->osxsave = fpu.osxsave;
  vmm->guest_xcr0 = fpu.xcr0;

  absl::StatusOr<Vm> vm = Vm::Create(kvm);
  if (!vm.ok()) return vm.status();
  int vm_fd = vm->Release();
  int hi = fcntl(vm_fd, F_DUPFD_CLOEXEC, 800);
  if (hi >= 0) {
    close(vm_fd);
    vm_fd = hi;
  }
  vmm->vm_fd = vm_fd;
  vmm->kvm_fd = kvm.fd();

  vmm->as.Init(vmm->base, kPrivateSize, vmm->base + kPageTablePoolOffset, kPtPages);
  int r = vmm->as.MapPrivateAndHypercalls(vm_fd);
  if (r < 0) return absl::InternalError(absl::StrFormat("mapping the VMM-private region: %s", strerror(-r)));
  vmm->brk_base = static_cast<uint64_t>(RawSyscall(SYS_brk, 0));
  FindStack(vmm);
  if (vmm->stack_top) vmm->as.Cover(vm_fd, vmm->stack_floor, vmm->stack_top - vmm->stack_floor);
  r = vmm->as.CoverFromProcMaps(vm_fd);
  if (r < 0) return absl::InternalError(absl::StrFormat("mirroring /proc/self/maps: %s", strerror(-r)));
  BuildIdt(vmm);

  // vCPU 0 for this thread; its reset state seeds the template every vCPU starts from.
  int index = ClaimThreadBlock(vmm);
  VcpuThread* t = ThreadBlock(vmm, index);
  r = CreateVcpu(vmm, t);  // its full state is loaded in ix_vmm_thread_main
  if (r < 0) return absl::InternalError(absl::StrFormat("creating vCPU 0: %s", strerror(-r)));
  kvm_sregs reset;
  if (ioctl(t->vcpu_fd, KVM_GET_SREGS, &reset) < 0) return Errno("ioctl KVM_GET_SREGS");
  BuildSregsTemplate(vmm, reset);
  __atomic_add_fetch(&vmm->stats->vcpus_created, 1, __ATOMIC_RELAXED);

  AddVmmFd(vmm, vmm->kvm_fd);
  AddVmmFd(vmm, vmm->vm_fd);
  AddVmmFd(vmm, t->vcpu_fd);
  AddVmmFd(vmm, o.trace_fd);
  AddVmmFd(vmm, o.stats_fd);
  AddVmmFd(vmm, vmm->opts.policy_fd);
  for (int fd : {vmm->opts.stats_fd, vmm->opts.policy_fd}) {
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) vmm->vmm_files[vmm->nvmm_files++] = {st.st_dev, st.st_ino};
  }
  uint64_t slots = vmm->as.slot_count();
  uint64_t prev = __atomic_load_n(&vmm->stats->slots_max, __ATOMIC_RELAXED);
  if (slots > prev) __atomic_store_n(&vmm->stats->slots_max, slots, __ATOMIC_RELAXED);

  // The program's signal dispositions so far become the guest's.
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    RawSyscall(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&vmm->sigactions[sig]), 8);
  }
  // The robust list glibc registered natively becomes the VMM's to walk (robust_futex.h).
  uint64_t head = 0, len = 0;
  if (RawSyscall(SYS_get_robust_list, 0, reinterpret_cast<long>(&head), reinterpret_cast<long>(&len)) == 0) {
    t->robust_head = head;
    t->robust_len = len;
  }
  RawSyscall(SYS_set_robust_list, 0, kRobustHeadSize);
  t->entry.host_stack_top = ThreadBlockBase(t) + kThreadBlockSize - 64;
  return absl::OkStatus();
}

}  // namespace

int DefaultRing(const KvmInfo& info) { return info.pvm ? 3 : 0; }

absl::StatusOr<VcpuThread*> PrepareGuest(const GuestOptions& o) {
  if (o.ring != -1 && o.ring != 0 && o.ring != 3) {
    return absl::InvalidArgumentError(absl::StrFormat("guest ring must be 0 or 3, not %d", o.ring));
  }
  absl::StatusOr<KvmSystem> kvm = KvmSystem::Open(o.kvm_path.c_str());
  if (!kvm.ok()) return kvm.status();
  absl::Status s = kvm->Relocate(800);
  if (!s.ok()) return s;
  const bool restricted = !AllowsEverything(o.policy);
  if (restricted && o.ring == 0) {
    return absl::InvalidArgumentError(
        "a policy binds only guest ring 3: code in guest ring 0 can rewrite the VMM's own state, "
        "policy included (use ring 3 or auto)");
  }
  absl::StatusOr<KvmInfo> info = kvm->Probe();
  if (!info.ok()) return info.status();
  int ring = o.ring;
  if (ring == -1) ring = restricted ? 3 : DefaultRing(*info);
  absl::StatusOr<uint64_t> base = MapPrivateRegion();
  if (!base.ok()) return base.status();
  auto* vmm = reinterpret_cast<Vmm*>(*base);
  vmm->base = *base;
  s = SetUpVm(vmm, *kvm, o, ring, info->pvm);
  if (!s.ok()) {
    if (vmm->vm_fd > 0) close(vmm->vm_fd);
    munmap(reinterpret_cast<void*>(*base - kPrivateGuard), kPrivateSize + 2 * kPrivateGuard);
    return s;
  }
  kvm->ReleaseFd();  // the VMM owns /dev/kvm from here on (vmm->kvm_fd)
  SetCurrentVmm(vmm);
  SyncHostSignalHandlers(vmm);
  return ThreadBlock(vmm, 0);
}

absl::Status EnterGuest(const GuestOptions& o) {
  absl::StatusOr<VcpuThread*> t = PrepareGuest(o);
  if (!t.ok()) return t.status();
  long r = ix_vmm_enter(*t);
  if (r != 0) {
    ReleaseGuest();
    return absl::InternalError(absl::StrFormat("entering the guest: %s", strerror(static_cast<int>(-r))));
  }
  return absl::OkStatus();  // now in the guest
}

long LeaveGuest() {
  long r = syscall(IX_SYSCALL_GUEST_EXIT);
  if (r != 0) return -errno;
  ReleaseGuest();
  return 0;
}

void ReleaseGuest() {
  Vmm* vmm = CurrentVmm();
  SetCurrentVmm(nullptr);
  if (vmm != nullptr) {
    for (int i = 0; i < kMaxThreads; ++i) {
      VcpuThread* t = ThreadBlock(vmm, i);
      if (t->vcpu_fd > 0) close(t->vcpu_fd);
    }
    close(vmm->vm_fd);
    close(vmm->kvm_fd);
    munmap(reinterpret_cast<void*>(vmm->base - kPrivateGuard), kPrivateSize + 2 * kPrivateGuard);
  }
}

int CurrentGuestRing() {
  long r = syscall(IX_SYSCALL_GUEST_RING);
  return r < 0 ? -1 : static_cast<int>(r);
}

}  // namespace ix::vmm

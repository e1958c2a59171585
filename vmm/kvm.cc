// RAII wrappers over /dev/kvm, a VM and a vCPU (see kvm.h).
#include "vmm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "vmm/kvm_abi.h"
#include "vmm/raw_syscall.h"

namespace ix::vmm {
namespace {

// kvm_pvm answers this MSR with "PVM" (shared/platform.md).
constexpr uint32_t kPvmIdMsr = 0x4b564d11;
constexpr uint64_t kPvmIdValue = 0x4d5650;

absl::Status ErrnoStatus(int err, const char* what) {
  std::string msg = absl::StrFormat("%s: %s (errno %d)", what, strerror(err), err);
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(msg);
    case EINVAL: return absl::InvalidArgumentError(msg);
    case ENOMEM:
    case ENOSPC:
    case EMFILE: return absl::ResourceExhaustedError(msg);
    default: return absl::InternalError(msg);
  }
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.Release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<KvmSystem> KvmSystem::Open(const char* path) {
  KvmSystem k;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrFormat("open %s", path).c_str());
  k.fd_ = Fd(fd);
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: KVM API version %d, ix needs %d", path, version, KVM_API_VERSION));
  }
  k.vcpu_mmap_size_ = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (k.vcpu_mmap_size_ <= 0) return ErrnoStatus(errno, "ioctl KVM_GET_VCPU_MMAP_SIZE");
  if (k.CheckExtension(KVM_CAP_SYNC_REGS) <= 0) {
    return absl::FailedPreconditionError("KVM lacks KVM_CAP_SYNC_REGS, which ix-run needs");
  }
  return k;
}

int KvmSystem::CheckExtension(long cap) const { return ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

absl::Status KvmSystem::Relocate(int min_fd) {
  int nfd = fcntl(fd_.get(), F_DUPFD_CLOEXEC, min_fd);
  if (nfd < 0) return ErrnoStatus(errno, "fcntl F_DUPFD_CLOEXEC (/dev/kvm)");
  fd_ = Fd(nfd);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> KvmSystem::SupportedCpuid() const {
  auto c = std::make_unique<CpuidBuffer>();
  c->nent = 256;
  if (ioctl(fd_.get(), kIoctlGetSupportedCpuid, c.get()) < 0) {
    return ErrnoStatus(errno, "ioctl KVM_GET_SUPPORTED_CPUID");
  }
  return std::vector<kvm_cpuid_entry2>(c->entries, c->entries + c->nent);
}

absl::StatusOr<KvmInfo> KvmSystem::Probe() const {
  KvmInfo info;
  info.api_version = ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  info.max_vcpus = CheckExtension(KVM_CAP_MAX_VCPUS);
  info.max_memslots = CheckExtension(KVM_CAP_NR_MEMSLOTS);
  info.sync_regs = CheckExtension(KVM_CAP_SYNC_REGS) > 0;
  absl::StatusOr<Vm> vm = Vm::Create(*this);
  if (!vm.ok()) return vm.status();
  absl::StatusOr<Vcpu> vcpu = vm->CreateVcpu(0, *this);
  if (!vcpu.ok()) return vcpu.status();
  absl::StatusOr<uint64_t> id = vcpu->GetMsr(kPvmIdMsr);
  info.pvm = id.ok() && *id == kPvmIdValue;
  munmap(vcpu->run(), vcpu_mmap_size_);
  return info;
}

absl::StatusOr<Vm> Vm::Create(const KvmSystem& kvm) {
  Vm vm;
  int fd;
  do {
    fd = ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "ioctl KVM_CREATE_VM");
  vm.fd_ = Fd(fd);
  return vm;
}

absl::Status Vm::SetMemorySlot(uint32_t slot, uint64_t gpa, uint64_t size, uint64_t hva) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = hva;
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("ioctl KVM_SET_USER_MEMORY_REGION slot %u gpa %#x size %#x",
                                              slot, gpa, size).c_str());
  }
  return absl::OkStatus();
}

absl::StatusOr<Vcpu> Vm::CreateVcpu(int id, const KvmSystem& kvm, uint64_t run_hva) {
  int fd = ioctl(fd_.get(), KVM_CREATE_VCPU, id);
  if (fd < 0) return ErrnoStatus(errno, absl::StrFormat("ioctl KVM_CREATE_VCPU %d", id).c_str());
  Fd owned(fd);
  int flags = MAP_SHARED | (run_hva ? MAP_FIXED : 0);
  void* run = mmap(reinterpret_cast<void*>(run_hva), kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE,
                   flags, fd, 0);
  if (run == MAP_FAILED) return ErrnoStatus(errno, "mmap kvm_run");
  auto* r = static_cast<kvm_run*>(run);
  r->kvm_valid_regs = KVM_SYNC_X86_REGS;
  return Vcpu(std::move(owned), r, id, kvm.vcpu_mmap_size());
}

int Vcpu::Run() const {
  return static_cast<int>(RawSyscall(SYS_ioctl, fd_.get(), KVM_RUN, 0));
}

absl::Status Vcpu::GetSregs(kvm_sregs* s) const {
  if (ioctl(fd_.get(), KVM_GET_SREGS, s) < 0) return ErrnoStatus(errno, "ioctl KVM_GET_SREGS");
  return absl::OkStatus();
}
absl::Status Vcpu::SetSregs(const kvm_sregs& s) const {
  if (ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) return ErrnoStatus(errno, "ioctl KVM_SET_SREGS");
  return absl::OkStatus();
}
absl::Status Vcpu::SetRegs(const kvm_regs& r) const {
  if (ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) return ErrnoStatus(errno, "ioctl KVM_SET_REGS");
  return absl::OkStatus();
}

absl::Status Vcpu::SetMsrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const {
  MsrBuffer mb{};
  MsrBuffer* m = &mb;
  if (msrs.size() > 16) return absl::InvalidArgumentError("at most 16 MSRs at once");
  m->nmsrs = msrs.size();
  for (size_t i = 0; i < msrs.size(); ++i) {
    m->entries[i].index = msrs[i].first;
    m->entries[i].data = msrs[i].second;
  }
  int n = ioctl(fd_.get(), kIoctlSetMsrs, m);
  if (n < 0) return ErrnoStatus(errno, "ioctl KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) {
    return absl::InternalError(absl::StrFormat("ioctl KVM_SET_MSRS: MSR %#x rejected", msrs[n].first));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Vcpu::GetMsr(uint32_t index) const {
  MsrBuffer m{};
  m.nmsrs = 1;
  m.entries[0].index = index;
  int n = ioctl(fd_.get(), kIoctlGetMsrs, &m);
  if (n < 0) return ErrnoStatus(errno, "ioctl KVM_GET_MSRS");
  if (n != 1) return absl::NotFoundError(absl::StrFormat("MSR %#x not readable", index));
  return m.entries[0].data;
}

absl::Status Vcpu::SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) const {
  auto c = std::make_unique<CpuidBuffer>();
  if (entries.size() > 256) return absl::InvalidArgumentError("more than 256 CPUID entries");
  c->nent = entries.size();
  memcpy(c->entries, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  if (ioctl(fd_.get(), kIoctlSetCpuid2, c.get()) < 0) return ErrnoStatus(errno, "ioctl KVM_SET_CPUID2");
  return absl::OkStatus();
}

int Vcpu::RawGetSregs(kvm_sregs* s) const { return RawSyscall(SYS_ioctl, fd_.get(), KVM_GET_SREGS, reinterpret_cast<long>(s)); }
int Vcpu::RawSetSregs(const kvm_sregs* s) const { return RawSyscall(SYS_ioctl, fd_.get(), KVM_SET_SREGS, reinterpret_cast<long>(s)); }
int Vcpu::RawGetFpu(kvm_fpu* f) const { return RawSyscall(SYS_ioctl, fd_.get(), KVM_GET_FPU, reinterpret_cast<long>(f)); }
int Vcpu::RawSetFpu(const kvm_fpu* f) const { return RawSyscall(SYS_ioctl, fd_.get(), KVM_SET_FPU, reinterpret_cast<long>(f)); }

}  // namespace ix::vmm

// RAII wrappers over /dev/kvm, a VM and a vCPU: the only place in ix that issues KVM ioctls.
//
//   absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
//   absl::StatusOr<Vm> vm = Vm::Create(*kvm);
//   RETURN_IF_ERROR(vm->SetMemorySlot(0, gpa, size, hva));
//   absl::StatusOr<Vcpu> vcpu = vm->CreateVcpu(0, *kvm, run_hva);
//   int r = vcpu->Run();   // raw: 0 or -errno, safe on the exit path
//
// Control-path calls return absl::Status naming the ioctl and errno. Run() and the sync-register
// accessors are the hot path and touch no errno, lock or heap.
#ifndef IX_VMM_KVM_H_
#define IX_VMM_KVM_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ix::vmm {

// An owned file descriptor; closes on destruction unless released.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// What the host's KVM offers, as ix needs to know it.
struct KvmInfo {
  int api_version = 0;
  int max_vcpus = 0;
  int max_memslots = 0;
  bool sync_regs = false;
  bool pvm = false;  // kvm_pvm backend: guest ring 0 is emulated instruction by instruction
};

class KvmSystem {
 public:
  // Opens `path` (normally /dev/kvm). Errors name the path and errno (NotFound / PermissionDenied).
  static absl::StatusOr<KvmSystem> Open(const char* path = "/dev/kvm");
  int fd() const { return fd_.get(); }
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }
  int CheckExtension(long cap) const;
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;
  // Probes capabilities, creating a throwaway VM and vCPU to read the PVM identification MSR.
  absl::StatusOr<KvmInfo> Probe() const;
  // Moves the descriptor to a number >= min_fd (so guest programs are unlikely to collide with it).
  absl::Status Relocate(int min_fd);
  // Gives up ownership of the descriptor (it stays open).
  int ReleaseFd() { return fd_.Release(); }

 private:
  Fd fd_;
  int vcpu_mmap_size_ = 0;
};

class Vcpu;

class Vm {
 public:
  static absl::StatusOr<Vm> Create(const KvmSystem& kvm);
  int fd() const { return fd_.get(); }
  // KVM_SET_USER_MEMORY_REGION; size 0 deletes the slot.
  absl::Status SetMemorySlot(uint32_t slot, uint64_t gpa, uint64_t size, uint64_t hva);
  // Creates vCPU `id`; maps its kvm_run at `run_hva` (MAP_FIXED) when non-zero, else anywhere.
  absl::StatusOr<Vcpu> CreateVcpu(int id, const KvmSystem& kvm, uint64_t run_hva = 0);
  int Release() { return fd_.Release(); }

 private:
  Fd fd_;
};

class Vcpu {
 public:
  Vcpu() = default;
  Vcpu(Fd fd, kvm_run* run, int id, int run_size) : fd_(std::move(fd)), run_(run), id_(id), run_size_(run_size) {}
  Vcpu(Vcpu&&) noexcept = default;
  Vcpu& operator=(Vcpu&&) noexcept = default;

  int fd() const { return fd_.get(); }
  int id() const { return id_; }
  kvm_run* run() const { return run_; }
  // Enters the guest. Returns 0 after an exit or -errno (EINTR, EFAULT, ...). No errno, no locks.
  int Run() const;
  kvm_regs& regs() const { return run_->s.regs.regs; }  // valid after Run() with sync regs on
  void MarkRegsDirty() const { run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }

  absl::Status GetSregs(kvm_sregs* s) const;
  absl::Status SetSregs(const kvm_sregs& s) const;
  absl::Status SetRegs(const kvm_regs& r) const;
  absl::Status SetMsrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const;
  absl::StatusOr<uint64_t> GetMsr(uint32_t index) const;
  absl::Status SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) const;
  // Raw variants for the exit path: 0 or -errno.
  int RawGetSregs(kvm_sregs* s) const;
  int RawSetSregs(const kvm_sregs* s) const;
  int RawGetFpu(kvm_fpu* f) const;
  int RawSetFpu(const kvm_fpu* f) const;
  int Release() { return fd_.Release(); }

 private:
  Fd fd_;
  kvm_run* run_ = nullptr;
  int id_ = -1;
  int run_size_ = 0;
};

}  // namespace ix::vmm

#endif  // IX_VMM_KVM_H_

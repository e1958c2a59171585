// Running the calling process inside a KVM guest that mirrors its own address space ("Dune enter").
//
//   ix::vmm::GuestOptions opts;              // ring auto-detected; see GuestOptions
//   absl::Status s = ix::vmm::EnterGuest(opts);
//   // On success this thread now runs in the guest: every syscall is a hypercall the VMM checks
//   // and executes in this same thread. Threads it creates get vCPUs; fork children get new VMs.
//   printf("ring %d\n", ix::vmm::CurrentGuestRing());
//   ix::vmm::LeaveGuest();                   // only with opts.allow_guest_exit
//
// EnterGuest must be called from a single-threaded process (ix-run calls it from a constructor of
// its preloaded library); on failure nothing has changed and the caller still runs natively.
#ifndef IX_VMM_GUEST_H_
#define IX_VMM_GUEST_H_

#include <string>

#include "absl/status/status.h"
#include "vmm/kvm.h"
#include "vmm/vmm_state.h"

namespace ix::vmm {

struct GuestOptions {
  int ring = -1;                  // 0, 3, or -1: 3 where guest ring 0 is emulated (kvm_pvm), else 0
  bool allow_guest_exit = false;  // let the program leave the guest (LeaveGuest); tests only
  int trace_fd = -1;              // strace-like lines (not closed by the VMM)
  int stats_fd = -1;              // memfd holding struct ix::RunStats shared with ix-run
  std::string preload_path;       // LD_PRELOAD value that brings exec'd images under ix
  std::string static_loader;      // ix-exec-static, which brings exec'd static programs under ix
  std::string env_extra;          // NUL-separated IX_* variables carried across execve
  Policy policy;                  // one that restricts anything binds only guest ring 3 (below)
  int policy_fd = -1;             // the sealed memfd it came from, kept open across execve
  std::string kvm_path = "/dev/kvm";
};

// The ring EnterGuest would pick for `ring == -1` on this host.
int DefaultRing(const KvmInfo& info);

// Refuses (InvalidArgument) ring 0 with a policy that restricts anything: guest ring 0 can write
// the VMM-private region (its supervisor alias) and so could undo any policy. Ring -1 then picks 3.
absl::Status EnterGuest(const GuestOptions& options);

// The two halves of EnterGuest, for callers whose code after entry must be freestanding (guest
// ring 0 where it is emulated, as in tests): PrepareGuest builds the VM and vCPU 0 for the calling
// thread; ix_vmm_enter(t) then continues in the guest, returning 0 there (-errno natively if the
// vCPU cannot start). After the guest's IX_SYSCALL_GUEST_EXIT, ReleaseGuest frees the VM.
absl::StatusOr<VcpuThread*> PrepareGuest(const GuestOptions& options);
void ReleaseGuest();

// From inside the guest: continues natively and releases the VM. Returns 0, or -EPERM when the
// VMM was not told to allow it, -ENOSYS when not in a guest.
long LeaveGuest();

// The guest ring this thread runs in, or -1 when it runs natively.
int CurrentGuestRing();

}  // namespace ix::vmm

extern "C" long ix_vmm_enter(ix::vmm::VcpuThread* t);

#endif  // IX_VMM_GUEST_H_

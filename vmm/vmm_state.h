// Internal state of the VMM's host side, all of it in the VMM-private region that the guest cannot
// address (it is never identity-mapped; the guest sees it only through supervisor-only pages).
//
// Region layout (kPrivateSize bytes, 2 MiB aligned, MAP_NORESERVE):
//   [0, kStateBytes)                       struct Vmm (VM-wide state)
//   [kPageTablePoolOffset, +kPtPages*4K)   guest page tables
//   [kIdtOffset, +4K)                      the IDT (shared by every vCPU)
//   [kExecArenaOffset, +kExecArenaSize)    execve's copied path, arguments and environment
//   [kThreadBlocksOffset, ...)             kMaxThreads blocks of kThreadBlockSize, each:
//        VcpuThread | GDT | TSS | kvm_run | IST stack | argument copies | host stack (grows down
//        from the block's end)
// A host thread finds its VcpuThread by masking its stack pointer with ~(kThreadBlockSize - 1).
#ifndef IX_VMM_VMM_STATE_H_
#define IX_VMM_VMM_STATE_H_

#include <linux/kvm.h>
#include <signal.h>

#include <atomic>
#include <cstdint>

#include "ix/run_stats.h"
#include "vmm/address_space.h"
#include "vmm/kvm_abi.h"
#include "vmm/spinlock.h"

namespace ix::vmm {

inline constexpr uint64_t kPrivateSize = 256ull << 20;
inline constexpr uint64_t kStateBytes = 4ull << 20;
inline constexpr uint64_t kStatsOffset = 3ull << 20;  // RunStats mapping (memfd or private)
inline constexpr uint64_t kPageTablePoolOffset = 4ull << 20;
inline constexpr uint64_t kPtPages = 8192;  // 32 MiB of page tables
inline constexpr uint64_t kIdtOffset = kPageTablePoolOffset + kPtPages * 4096;
inline constexpr uint64_t kExecArenaOffset = 40ull << 20;
inline constexpr uint64_t kExecArenaSize = 24ull << 20;  // Linux itself stops at 6 MiB (E2BIG)
inline constexpr uint64_t kThreadBlocksOffset = 64ull << 20;
static_assert(kIdtOffset + 4096 <= kExecArenaOffset && kExecArenaOffset + kExecArenaSize <= kThreadBlocksOffset);
inline constexpr uint64_t kThreadBlockSize = 512ull << 10;
inline constexpr int kMaxThreads = (kPrivateSize - kThreadBlocksOffset) / kThreadBlockSize;  // 384

// Offsets inside a thread block.
inline constexpr uint64_t kGdtOffset = 32ull << 10;
inline constexpr uint64_t kTssOffset = 36ull << 10;
inline constexpr uint64_t kRunOffset = 64ull << 10;      // kvm_run mapping, up to 64 KiB
inline constexpr uint64_t kIstOffset = 128ull << 10;     // IST stack: [128K, 192K)
inline constexpr uint64_t kIstTop = 192ull << 10;
inline constexpr uint64_t kArgArenaOffset = 192ull << 10;  // arg_copy.h's copies: [192K, 320K)
inline constexpr uint64_t kArgArenaSize = 128ull << 10;   // the host stack has [320K, 512K)

inline constexpr int kMaxPendingSignals = 32;
inline constexpr int kMaxSignal = 64;
inline constexpr int kMaxPolicy = 512;

// Guest sigaction as the kernel's rt_sigaction takes it (x86-64 layout).
struct KernelSigaction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

enum class PolicyAction : uint8_t { kAllow = 0, kDeny = 1, kKill = 2 };
struct PolicyEntry {
  PolicyAction action;
  uint16_t err;  // errno for kDeny
};

// Per-syscall decisions (parsed by policy.h); trivially copyable into VMM-private memory.
struct Policy {
  PolicyEntry fallback{PolicyAction::kAllow, 0};
  PolicyEntry rules[kMaxPolicy];
  bool has_rule[kMaxPolicy] = {};

  PolicyEntry For(long nr) const {
    if (nr >= 0 && nr < kMaxPolicy && has_rule[nr]) return rules[nr];
    return fallback;
  }
};

struct VmmOptions {
  int ring = 3;                    // 0 or 3
  bool allow_guest_exit = false;   // honour IX_SYSCALL_GUEST_EXIT (tests and the library API)
  int trace_fd = -1;               // strace-like lines go here when >= 0
  int stats_fd = -1;               // memfd with struct RunStats, or -1
  int policy_fd = -1;              // sealed memfd with the policy text (policy.h), or -1
  char preload_path[512];          // for execve: LD_PRELOAD value that brings a new image under ix
  char static_loader[512];         // for execve of a static program: ix-exec-static ("": none)
  char env_extra[2048];            // NUL-separated "IX_...=..." strings to carry across execve
  int env_extra_len;
};

struct PendingSignal {
  siginfo_t info;
};

struct VcpuThread;

// Callee-saved registers and resume point captured by ix_vmm_enter (enter.S uses these offsets).
struct EntryContext {
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;  // offsets 0..56
  uint64_t host_stack_top;                          // offset 64
};

// A native single-step of one guest instruction (probe.h): where the host side resumes, and what
// the probe's signal handler saw.
struct ProbeState {
  EntryContext host;
  uint64_t start_rip;
  int traps;
  int signo, code;
  uint64_t addr, trapno, err;
  kvm_regs regs;
};

struct VcpuThread {
  EntryContext entry;       // must stay first (enter.S)
  struct Vmm* vmm;
  int index;
  std::atomic<int> in_use;  // cleared by the exiting thread as its last store (enter.S)
  int vcpu_fd;
  kvm_run* run;
  int tid;
  // Guest state for a thread that has not run yet (clone child).
  kvm_regs start_regs;
  uint64_t start_fs_base;
  // Signals taken by the host handler and not yet delivered to the guest (single producer: the
  // handler on this thread; single consumer: this thread's exit loop).
  PendingSignal pending[kMaxPendingSignals];
  int npending;
  stack_t altstack;         // the guest's sigaltstack (emulated, never given to the host)
  uint64_t robust_head;     // the guest's robust futex list (emulated, robust_futex.h)
  uint64_t robust_len;
  uint64_t last_fault_rip;  // memory-fault retry detection
  uint64_t last_fault_rsp;
  ProbeState probe;
  alignas(64) uint8_t probe_fpu[4096];  // the host's own FPU state during a probe
  XsaveBuffer xsave;                    // scratch for signal frames and probes
};

struct Vmm {
  uint64_t magic;
  VmmOptions opts;
  int kvm_fd;
  int vm_fd;
  int pid;                // this process (refreshed after fork)
  int run_size;
  uint64_t base;          // the private region
  uint64_t brk_base;
  uint64_t stack_floor, stack_low, stack_top;  // main thread stack: RLIMIT_STACK below its top
  uint64_t tsc_hz;
  RunStats* stats;        // shared memfd mapping, or a private zeroed copy
  SpinLock thread_lock;
  SpinLock signal_lock;
  KernelSigaction sigactions[kMaxSignal + 1];
  Policy policy;
  int vmm_fds[kMaxThreads + 8];  // descriptors the guest may not close or replace
  int nvmm_fds;
  struct FileId {
    uint64_t dev, ino;
  } vmm_files[2];  // the statistics and policy memfds (st_dev, st_ino): never opened a second time
  int nvmm_files;
  int ncpuid;
  kvm_cpuid_entry2 cpuid[256];  // KVM's supported table fitted to the host (cpu_features.h)
  bool osxsave;                 // CR4.OSXSAVE and XCR0 = guest_xcr0 on every vCPU
  uint64_t guest_xcr0;
  // Ring 3 on VT-x/SVM: `syscall` enters the LSTAR stub at CPL 0 (kernel CS/SS), so every syscall
  // return reloads the user segments (ReturnToUserSegments). Not on kvm_pvm, where the stub runs
  // at the guest's own CPL.
  bool syscall_enters_cpl0;
  kvm_sregs sregs_template;  // long mode, ring chosen; per-thread GDT/TSS patched in
  AddressSpace as;           // large; keep last
};

static_assert(sizeof(Vmm) <= kStatsOffset, "Vmm must fit in its part of the private region");
static_assert(sizeof(VcpuThread) <= kGdtOffset, "VcpuThread must fit below the GDT");

inline VcpuThread* ThreadBlock(const Vmm* vmm, int index) {
  return reinterpret_cast<VcpuThread*>(vmm->base + kThreadBlocksOffset + index * kThreadBlockSize);
}
inline uint64_t ThreadBlockBase(const VcpuThread* t) { return reinterpret_cast<uint64_t>(t); }

// The VcpuThread whose host stack the caller runs on, or nullptr when the caller is not on one
// (native code before entry or after leaving the guest). `region_base` is the private region.
VcpuThread* CurrentVcpuThread();

// The VMM of this process while it runs in a guest, else nullptr.
Vmm* CurrentVmm();
void SetCurrentVmm(Vmm* vmm);

}  // namespace ix::vmm

#endif  // IX_VMM_VMM_STATE_H_

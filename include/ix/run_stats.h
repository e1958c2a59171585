// Statistics a process under ix-run's VMM writes into a memfd shared with ix-run (and with every
// forked or exec'd descendant, which add to the same counters). Fixed-size, no pointers, valid when
// zero-filled; written with relaxed atomics. Bump kRunStatsVersion on any layout change.
#ifndef IX_RUN_STATS_H_
#define IX_RUN_STATS_H_

#include <cstdint>

#include "common/histogram.h"

namespace ix {

inline constexpr uint64_t kRunStatsMagic = 0x5354415453525849ull;  // "IXRSTATS"
inline constexpr uint32_t kRunStatsVersion = 1;
inline constexpr int kRunStatsSyscalls = 512;
inline constexpr int kRunStatsExitKinds = 16;  // > the number of vmm::ExitKind values

struct RunStats {
  uint64_t magic;    // kRunStatsMagic, set by ix-run
  uint32_t version;  // kRunStatsVersion, set by ix-run
  uint32_t reserved;
  uint64_t syscalls[kRunStatsSyscalls];  // forwarded or emulated, by number
  uint64_t denied[kRunStatsSyscalls];    // refused by the policy (deny or kill)
  uint64_t other_syscalls;               // numbers >= kRunStatsSyscalls (answered -ENOSYS)
  uint64_t exits[kRunStatsExitKinds];    // by vmm::ExitKind
  uint64_t signals_delivered;            // guest handlers invoked
  uint64_t faults;                       // synchronous faults turned into signals
  uint64_t fault_retries;                // page faults fixed by covering new host mappings
  uint64_t protection_violations;        // guest attempts on VMM-private memory or descriptors
  uint64_t vms_created;                  // one per process image (start-up, fork, exec)
  uint64_t vcpus_created;
  uint64_t threads_started;
  uint64_t slots_max;                    // most memory slots one VM had
  uint64_t signals_dropped;              // pending-signal queue overflow
  LatencyHistogram hypercall_cycles;     // host time per syscall hypercall, exit to re-entry (TSC)
};

}  // namespace ix

#endif  // IX_RUN_STATS_H_

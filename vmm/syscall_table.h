// x86-64 syscall names and argument counts (generated from the kernel's headers) and errno names.
#ifndef IX_VMM_SYSCALL_TABLE_H_
#define IX_VMM_SYSCALL_TABLE_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace ix::vmm {

// "getpid" for 39; nullptr for numbers the kernel does not define.
const char* SyscallName(long nr);
std::optional<long> SyscallNumber(absl::string_view name);
// How many arguments syscall `nr` takes: the parameters of its x86-64 kernel entry point, from the
// kernel headers at build time (tools/gen_syscall_table.py); 6 for a number not in the table.
// Security-relevant: CheckSyscallArgs (arg_check.h) checks exactly the first SyscallArgCount
// arguments against VMM-private memory, so an under-count lets a pointer through unchecked (6,
// the over-count, can only cause a spurious EFAULT). Also bounds the arguments --trace prints.
int SyscallArgCount(long nr);
// "EPERM" -> 1, also accepts decimal numbers; nullopt for anything else.
std::optional<int> ErrnoNumber(absl::string_view name);

}  // namespace ix::vmm

#endif  // IX_VMM_SYSCALL_TABLE_H_

// x86-64 syscall names (generated from the kernel's uapi header) and errno names.
#ifndef IX_VMM_SYSCALL_TABLE_H_
#define IX_VMM_SYSCALL_TABLE_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace ix::vmm {

// "getpid" for 39; nullptr for numbers the kernel does not define.
const char* SyscallName(long nr);
std::optional<long> SyscallNumber(absl::string_view name);
// How many arguments syscall `nr` takes (for tracing); 6 when not known.
int SyscallArgCount(long nr);
// "EPERM" -> 1, also accepts decimal numbers; nullopt for anything else.
std::optional<int> ErrnoNumber(absl::string_view name);

}  // namespace ix::vmm

#endif  // IX_VMM_SYSCALL_TABLE_H_

// Checks, with libelf, whether ix-run can bring a program under the VMM: a dynamically linked ELF
// (the preloaded VMM needs the dynamic loader) or a script (its interpreter is checked by the
// kernel at exec and preloaded the same way).
#ifndef IX_TOOLS_ELF_CHECK_H_
#define IX_TOOLS_ELF_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace ix::tools {

// OK for dynamically linked x86-64 ELF executables and for "#!" scripts. FailedPrecondition for
// static executables, InvalidArgument for other ELF files (wrong class or machine).
absl::Status CheckRunnable(const std::string& path);

}  // namespace ix::tools

#endif  // IX_TOOLS_ELF_CHECK_H_

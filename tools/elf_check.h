// Checks, with libelf, how ix-run can bring a program under the VMM: a dynamically linked ELF or a
// script is started with libixrun.so preloaded; a static ELF through ix-exec-static.
#ifndef IX_TOOLS_ELF_CHECK_H_
#define IX_TOOLS_ELF_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace ix::tools {

// OK for dynamically linked x86-64 ELF executables and for "#!" scripts. FailedPrecondition for
// static executables (run them through ix-exec-static), InvalidArgument for other ELF files
// (wrong class or machine).
absl::Status CheckRunnable(const std::string& path);

}  // namespace ix::tools

#endif  // IX_TOOLS_ELF_CHECK_H_

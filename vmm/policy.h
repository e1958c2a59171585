// ix-run's syscall policy: a text file that allows, denies (with an errno) or kills per syscall.
//
// Format, one rule a line; `#` starts a comment; blank lines are ignored:
//
//   default allow            # what unlisted syscalls get: allow (the default), deny [ERRNO], kill
//   getpid allow
//   socket deny EACCES       # the call fails with EACCES and is never made
//   ptrace kill              # the process is killed with SIGSYS
//   openat deny              # ERRNO defaults to EPERM; names (EPERM) or numbers (1)
//
// Syscalls are named as in the kernel (asm/unistd_64.h) or given by number. A later rule for the
// same syscall replaces an earlier one.
#ifndef IX_VMM_POLICY_H_
#define IX_VMM_POLICY_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "vmm/vmm_state.h"

namespace ix::vmm {

// Parses policy text; errors name `source` and the line ("policy.txt:3: unknown syscall 'gtpid'").
absl::StatusOr<Policy> ParsePolicy(absl::string_view text, absl::string_view source);
absl::StatusOr<Policy> LoadPolicyFile(const std::string& path);

}  // namespace ix::vmm

#endif  // IX_VMM_POLICY_H_

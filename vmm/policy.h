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
absl::StatusOr<std::string> ReadPolicyFile(const std::string& path);
absl::StatusOr<Policy> LoadPolicyFile(const std::string& path);

// True when the policy allows every syscall (no rules, default allow): it restricts nothing.
bool AllowsEverything(const Policy& p);

// A policy is handed from ix-run to the program, and across each execve, as its text in a sealed
// memfd (F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_SEAL), never re-read by path: nothing the
// program does after it started (rewriting or replacing the file) changes the rules of its later
// images. SealPolicy returns the descriptor (inherited across execve); LoadSealedPolicy refuses
// a descriptor that is not such a memfd.
absl::StatusOr<int> SealPolicy(absl::string_view text);
absl::StatusOr<Policy> LoadSealedPolicy(int fd);

}  // namespace ix::vmm

#endif  // IX_VMM_POLICY_H_

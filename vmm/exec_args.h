// The path, argument and environment vectors of a guest execve, copied out of guest memory into
// VMM memory before anything is checked: another guest thread cannot change them between the
// VMM's look (the target's kind, IX_* and LD_PRELOAD variables) and the kernel's read, because the
// kernel reads only the copy. The environment is rewritten on the way so that the new image comes
// up under ix again:
//   envp' = LD_PRELOAD=<ix's preload>[:<the program's own preloads>], <ix's IX_* variables>,
//           <the program's variables without IX_* and LD_PRELOAD>
// envp keeps one free slot in front (envp[-1]) for the IX_COMM variable of the exec (threads.cc).
//
// Pure code: guest memory is read through ArgCheckEnv::read, so unit tests run it over fake memory.
#ifndef IX_VMM_EXEC_ARGS_H_
#define IX_VMM_EXEC_ARGS_H_

#include <cstddef>
#include <cstdint>

#include "vmm/arg_check.h"
#include "vmm/arg_copy.h"

namespace ix::vmm {

// Linux's limits: MAX_ARG_STRLEN for one string, PATH_MAX for the path.
inline constexpr size_t kMaxExecString = 32 * 4096;
inline constexpr size_t kMaxExecPath = 4096;

struct ExecEnvironment {
  const char* preload_path;  // ix's libixrun.so
  const char* extra;         // NUL-separated IX_* strings to put in
  size_t extra_len;
};

struct ExecImage {
  char* path;
  char** argv;  // NULL-terminated
  char** envp;  // NULL-terminated; envp[-1] is free
};

// Copies execve's (path, argv, envp) guest pointers into `arena`. Returns 0, -EFAULT (unreadable
// memory), -ENAMETOOLONG (path), or -E2BIG (a string longer than kMaxExecString, or more than the
// arena holds). A null argv or envp is an empty vector, as Linux treats it.
long CopyExecArgs(const ArgCheckEnv& mem, uint64_t path, uint64_t argv, uint64_t envp,
                  const ExecEnvironment& ix, ArgArena* arena, ExecImage* out);

// A new NULL-terminated vector in `arena`: front[0..nfront) followed by `rest` (NULL-terminated),
// for the loaders and interpreters put before a program's own arguments. nullptr when full.
char** PrependArgs(ArgArena* arena, char* const* front, size_t nfront, char* const* rest);

}  // namespace ix::vmm

#endif  // IX_VMM_EXEC_ARGS_H_

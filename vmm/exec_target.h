// What an execve would start, decided before the VMM lets it happen: a new image stays under ix
// only if the dynamic loader runs it with LD_PRELOAD honoured (or ix-exec-static maps it).
#ifndef IX_VMM_EXEC_TARGET_H_
#define IX_VMM_EXEC_TARGET_H_

namespace ix::vmm {

enum class ExecTarget {
  kPreloaded,  // a dynamic ELF, a script run by one, or a file the kernel will refuse anyway
  kStatic,     // an ELF without PT_INTERP: must go through ix-exec-static
  kEscapes,    // would run outside the guest: set-user/group-ID or file capabilities (secure
               // mode drops LD_PRELOAD), or a script whose interpreter is static or secure
};

// Classifies `path` as execveat(dirfd, path, ..., flags) would open it (AT_EMPTY_PATH with an
// empty path: dirfd itself). Raw syscalls only: safe on the hypercall path.
ExecTarget ClassifyExecTarget(int dirfd, const char* path, int flags);

}  // namespace ix::vmm

#endif  // IX_VMM_EXEC_TARGET_H_

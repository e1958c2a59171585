// What an execve would start, decided before the VMM lets it happen: a new image stays under ix
// only if the dynamic loader runs it with LD_PRELOAD honoured (or ix-exec-static maps it).
//
// The file is opened once (OpenExecFile) and the kernel execs that descriptor, so renaming another
// file onto the path after the check changes nothing; its content is held still until the exec
// takes the kernel's own write denial (see OpenExecFile).
#ifndef IX_VMM_EXEC_TARGET_H_
#define IX_VMM_EXEC_TARGET_H_

#include <signal.h>

#include <cstddef>

namespace ix::vmm {

enum class ExecTarget {
  kPreloaded,  // a dynamic x86-64 ELF whose loader is glibc's: it honours ix's LD_PRELOAD
  kStatic,     // an x86-64 ELF without PT_INTERP: must go through ix-exec-static
  kScript,     // "#!interpreter [arg]": the interpreter is what runs (interp, interp_arg)
  kForeign,    // an ELF ix cannot keep in the guest: another class or machine (the kernel's
               // compat mode would run a 32-bit one natively), or unreadable program headers
  kUnknown,    // neither ELF nor "#!": ENOEXEC (as without binfmt_misc, whose handlers run natively)
  kEscapes,    // would run outside the guest: set-user/group-ID or file capabilities (secure
               // mode drops LD_PRELOAD), or an ELF interpreter other than glibc's
};

// How many interpreters deep a script may go (the kernel's exec gives up after as many: ELOOP).
inline constexpr int kMaxScriptDepth = 5;

// The dynamic loaders an ELF may name in PT_INTERP (glibc's x86-64 ld.so under its ABI path and
// Debian's multiarch path): any other interpreter would be started natively by the kernel.
bool IsTrustedElfInterpreter(const char* path, size_t len);

// Classifies the first bytes of a file (at most 256, as the kernel reads) and, for an ELF, its
// program headers through `read_at` (pread semantics; returns bytes read or -errno).
// For kScript, `interp` and `interp_arg` (each 256 bytes) receive the parsed #! line.
using ReadAt = long (*)(void* ctx, void* buf, size_t n, long offset);
ExecTarget ClassifyContent(const char* head, long len, ReadAt read_at, void* ctx, char* interp,
                           char* interp_arg);

struct ExecFile {
  int fd = -1;  // O_RDONLY | O_CLOEXEC: the file, or a sealed copy of it; what the kernel execs
  ExecTarget target = ExecTarget::kForeign;
  bool copied = false;       // fd is a sealed memfd copy (no lease could be had, see below)
  char interp[256] = {};     // kScript: the interpreter's path
  char interp_arg[256] = {};  // kScript: its optional argument ("" for none)
};

// Opens what execveat(dirfd, path, ..., flags) would run (AT_EMPTY_PATH with an empty path:
// dirfd itself), holds its content still and classifies it. Holding still: a read lease on the
// descriptor, so a writer's open waits until the exec closes it, by which time the kernel denies
// writes to the running image (ETXTBSY); where the filesystem or the credentials give no lease
// and this process could write the file, the bytes are copied into a sealed memfd instead, and
// that copy is what runs (/proc/self/exe then names the memfd). Returns 0 (then close out->fd when
// not exec'ing) or -errno as execve fails: ENOENT, ENOTDIR, ELOOP, EACCES (not a regular file, no
// execute or read permission, noexec mount), ETXTBSY (open for writing). Raw syscalls only: safe
// on the hypercall path.
long OpenExecFile(int dirfd, const char* path, int flags, ExecFile* out);

// Closes f->fd (ending its lease). Every ExecFile that is not exec'd ends here.
void CloseExecFile(ExecFile* f);

// Whether a signal is the kernel's notice that a writer is breaking the lease OpenExecFile holds:
// the host signal handler drops it (the writer just waits for the exec).
bool IsExecLeaseBreak(int sig, const siginfo_t* info);

// Replaces f->fd by a sealed memfd copy of its bytes (no-op when it is one already): for programs
// that are mapped rather than exec'd (ix-exec-static), whose pages would change or vanish with the
// file once the lease ends. 0 or -errno (f unchanged).
long CopyExecFile(ExecFile* f);

// Classifies by path, without holding the file (ix-run's look at the program it is given).
// Files that cannot be opened are kPreloaded: the exec itself reports the error.
ExecTarget ClassifyExecTarget(int dirfd, const char* path, int flags);

}  // namespace ix::vmm

#endif  // IX_VMM_EXEC_TARGET_H_

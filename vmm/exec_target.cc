// Classification of execve targets (see exec_target.h).
#include "vmm/exec_target.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cstring>

#include "vmm/raw_syscall.h"

namespace ix::vmm {
namespace {

constexpr int kMaxScriptDepth = 4;  // as the kernel's binfmt_script nesting

bool IsStaticElf(int fd, const Elf64_Ehdr& eh) {
  if ((eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_phentsize != sizeof(Elf64_Phdr)) return false;
  Elf64_Phdr ph[32];
  for (int done = 0; done < eh.e_phnum;) {
    int n = eh.e_phnum - done < 32 ? eh.e_phnum - done : 32;
    long want = n * static_cast<long>(sizeof(Elf64_Phdr));
    if (RawSyscall(SYS_pread64, fd, reinterpret_cast<long>(ph), want,
                   eh.e_phoff + done * sizeof(Elf64_Phdr)) != want) {
      return false;
    }
    for (int i = 0; i < n; ++i) {
      if (ph[i].p_type == PT_INTERP) return false;
    }
    done += n;
  }
  return true;
}

// Secure-mode execution (AT_SECURE): the dynamic loader then ignores LD_PRELOAD of ix.
bool RunsSecure(int fd) {
  struct stat st;
  if (RawSyscall(SYS_fstat, fd, reinterpret_cast<long>(&st)) != 0) return false;
  long euid = RawSyscall(SYS_geteuid), egid = RawSyscall(SYS_getegid);
  if ((st.st_mode & S_ISUID) && st.st_uid != static_cast<uid_t>(euid)) return true;
  if ((st.st_mode & S_ISGID) && st.st_gid != static_cast<gid_t>(egid)) return true;
  return euid != 0 &&
         RawSyscall(SYS_fgetxattr, fd, reinterpret_cast<long>("security.capability"), 0, 0) >= 0;
}

ExecTarget ClassifyFd(int fd, int depth);

// "#!interpreter [arg]": the kernel runs the interpreter, which must itself stay under ix.
ExecTarget ClassifyScript(const char* head, long len, int depth) {
  if (depth >= kMaxScriptDepth) return ExecTarget::kEscapes;
  char interp[256];
  long i = 2, n = 0;
  while (i < len && (head[i] == ' ' || head[i] == '\t')) ++i;
  while (i < len && head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && n < 255) interp[n++] = head[i++];
  interp[n] = 0;
  if (n == 0) return ExecTarget::kPreloaded;  // the kernel refuses it
  long fd = RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(interp), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ExecTarget::kPreloaded;
  ExecTarget t = ClassifyFd(static_cast<int>(fd), depth + 1);
  RawSyscall(SYS_close, fd);
  return t == ExecTarget::kPreloaded ? t : ExecTarget::kEscapes;
}

ExecTarget ClassifyFd(int fd, int depth) {
  if (RunsSecure(fd)) return ExecTarget::kEscapes;
  union {
    Elf64_Ehdr eh;
    char head[256];
  } u;
  long got = RawSyscall(SYS_pread64, fd, reinterpret_cast<long>(&u), sizeof(u), 0);
  if (got >= 2 && u.head[0] == '#' && u.head[1] == '!') return ClassifyScript(u.head, got, depth);
  if (got < static_cast<long>(sizeof(Elf64_Ehdr)) || memcmp(u.eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      u.eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return ExecTarget::kPreloaded;
  }
  return IsStaticElf(fd, u.eh) ? ExecTarget::kStatic : ExecTarget::kPreloaded;
}

}  // namespace

ExecTarget ClassifyExecTarget(int dirfd, const char* path, int flags) {
  if (path[0] == 0 && (flags & AT_EMPTY_PATH)) return ClassifyFd(dirfd, 0);
  long fd = RawSyscall(SYS_openat, dirfd, reinterpret_cast<long>(path),
                       O_RDONLY | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
  if (fd < 0) return ExecTarget::kPreloaded;  // the kernel's exec reports the error
  ExecTarget t = ClassifyFd(static_cast<int>(fd), 0);
  RawSyscall(SYS_close, fd);
  return t;
}

}  // namespace ix::vmm

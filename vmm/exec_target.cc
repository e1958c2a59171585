// Opening, holding and classifying execve targets (see exec_target.h).
#include "vmm/exec_target.h"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/memfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>  // ST_NOEXEC
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "vmm/line_buf.h"
#include "vmm/raw_syscall.h"

namespace ix::vmm {
namespace {

constexpr long kHeadSize = 256;  // the kernel's BINPRM_BUF_SIZE

// The descriptor whose lease this process holds for an exec (one at a time: execs are serialized
// by the VMM's thread lock), for IsExecLeaseBreak; -1 for none.
volatile int g_lease_fd = -1;

long PreadFd(void* ctx, void* buf, size_t n, long offset) {
  return RawSyscall(SYS_pread64, *static_cast<int*>(ctx), reinterpret_cast<long>(buf), static_cast<long>(n),
                    offset);
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// binfmt_script's parse of "#!" lines: the interpreter up to the first blank, then one optional
// argument, the rest of the line with surrounding blanks removed. False: the kernel says ENOEXEC.
bool ParseScript(const char* head, long len, char* interp, char* arg) {
  long end = 2;
  while (end < len && head[end] != '\n') ++end;
  const bool whole_line = end < len;
  while (end > 2 && (IsBlank(head[end - 1]) || head[end - 1] == 0)) --end;
  long i = 2;
  while (i < end && IsBlank(head[i])) ++i;
  long n = 0;
  while (i < end && !IsBlank(head[i]) && head[i] != 0 && n < kHeadSize - 1) interp[n++] = head[i++];
  interp[n] = 0;
  if (n == 0) return false;
  if (!whole_line && len >= kHeadSize) {
    // A full buffer without a newline: the name must end before the buffer's last byte, else
    // the kernel takes it as cut off.
    long j = i;
    while (j < kHeadSize - 1 && !IsBlank(head[j]) && head[j] != 0) ++j;
    if (j >= kHeadSize - 1) return false;
  }
  while (i < end && IsBlank(head[i])) ++i;
  long m = 0;
  while (i < end && m < kHeadSize - 1) arg[m++] = head[i++];
  arg[m] = 0;
  return true;
}

ExecTarget ClassifyElf(const Elf64_Ehdr& eh, ReadAt read_at, void* ctx) {
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
      (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return ExecTarget::kForeign;
  }
  Elf64_Phdr ph[32];
  for (int done = 0; done < eh.e_phnum;) {
    int n = eh.e_phnum - done < 32 ? eh.e_phnum - done : 32;
    long want = n * static_cast<long>(sizeof(Elf64_Phdr));
    if (read_at(ctx, ph, want, static_cast<long>(eh.e_phoff + done * sizeof(Elf64_Phdr))) != want) {
      return ExecTarget::kForeign;  // the kernel cannot load it either
    }
    for (int i = 0; i < n; ++i) {
      if (ph[i].p_type != PT_INTERP) continue;
      char name[kHeadSize];
      if (ph[i].p_filesz < 2 || ph[i].p_filesz > sizeof(name)) return ExecTarget::kEscapes;
      long got = read_at(ctx, name, ph[i].p_filesz, static_cast<long>(ph[i].p_offset));
      if (got != static_cast<long>(ph[i].p_filesz) || name[got - 1] != 0) return ExecTarget::kForeign;
      // The kernel opens the string up to its first NUL.
      return IsTrustedElfInterpreter(name, strlen(name)) ? ExecTarget::kPreloaded : ExecTarget::kEscapes;
    }
    done += n;
  }
  return ExecTarget::kStatic;
}

// Secure-mode execution (AT_SECURE): the dynamic loader then ignores LD_PRELOAD of ix.
bool RunsSecure(int fd, const struct stat& st) {
  long euid = RawSyscall(SYS_geteuid), egid = RawSyscall(SYS_getegid);
  if ((st.st_mode & S_ISUID) && st.st_uid != static_cast<uid_t>(euid)) return true;
  if ((st.st_mode & S_ISGID) && st.st_gid != static_cast<gid_t>(egid)) return true;
  return euid != 0 &&
         RawSyscall(SYS_fgetxattr, fd, reinterpret_cast<long>("security.capability"), 0, 0) >= 0;
}

ExecTarget ClassifyFd(int fd, char* interp, char* arg) {
  struct stat st;
  if (RawSyscall(SYS_fstat, fd, reinterpret_cast<long>(&st)) != 0) return ExecTarget::kForeign;
  if (RunsSecure(fd, st)) return ExecTarget::kEscapes;
  char head[kHeadSize];
  long got = RawSyscall(SYS_pread64, fd, reinterpret_cast<long>(head), sizeof(head), 0);
  return ClassifyContent(head, got, PreadFd, &fd, interp, arg);
}

// Whether this process could change the file's bytes: write permission, or ownership (chmod).
bool MayChange(int fd, const struct stat& st) {
  if (st.st_uid == static_cast<uid_t>(RawSyscall(SYS_geteuid))) return true;
  return RawSyscall(SYS_faccessat2, fd, reinterpret_cast<long>(""), W_OK, AT_EMPTY_PATH | AT_EACCESS) == 0;
}

// A sealed memfd with the file's bytes (the file's read position is not used). 0 or -errno.
long CopySealed(int fd, const struct stat& st, int* out) {
  long m = RawSyscall(SYS_memfd_create, reinterpret_cast<long>("ix-exec"), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (m < 0) return m;
  long off = 0;
  while (off < st.st_size) {
    long n = RawSyscall(SYS_sendfile, m, fd, reinterpret_cast<long>(&off), st.st_size - off);
    if (n <= 0) {
      RawSyscall(SYS_close, m);
      return n < 0 ? n : -EIO;  // shrunk under us: someone writes it
    }
  }
  long r = RawSyscall(SYS_fcntl, m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  if (r < 0) {
    RawSyscall(SYS_close, m);
    return r;
  }
  *out = static_cast<int>(m);
  return 0;
}

// Reopens the file `pfd` (O_PATH) names for reading, checks what execve checks first, and holds
// it still (exec_target.h). 0 or -errno; out->fd and out->copied set on success.
long OpenHeld(int pfd, ExecFile* out) {
  struct stat st;
  long r = RawSyscall(SYS_fstat, pfd, reinterpret_cast<long>(&st));
  if (r < 0) return r;
  if (S_ISLNK(st.st_mode)) return -ELOOP;  // AT_SYMLINK_NOFOLLOW on a symlink (O_PATH opened the link)
  if (!S_ISREG(st.st_mode)) return -EACCES;
  LineBuf proc;
  proc.Put("/proc/self/fd/");
  proc.Dec(pfd);
  long fd = RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(proc.c_str()), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fd;
  struct statfs fs;
  if (RawSyscall(SYS_faccessat2, fd, reinterpret_cast<long>(""), X_OK, AT_EMPTY_PATH | AT_EACCESS) != 0 ||
      (RawSyscall(SYS_fstatfs, fd, reinterpret_cast<long>(&fs)) == 0 && (fs.f_flags & ST_NOEXEC))) {
    RawSyscall(SYS_close, fd);
    return -EACCES;
  }
  // A writer's open breaks the lease and waits; the kernel tells the holder with a signal. Make it
  // SIGURG (ignored unless handled; IsExecLeaseBreak filters it for guest handlers) and then
  // name no owner at all, so that no signal can end the exec's process meanwhile.
  g_lease_fd = static_cast<int>(fd);
  RawSyscall(SYS_fcntl, fd, F_SETSIG, SIGURG);
  r = RawSyscall(SYS_fcntl, fd, F_SETLEASE, F_RDLCK);
  if (r == 0) {
    RawSyscall(SYS_fcntl, fd, F_SETOWN, 0);
    out->fd = static_cast<int>(fd);
    return 0;
  }
  g_lease_fd = -1;
  if (r == -EAGAIN) {
    RawSyscall(SYS_close, fd);
    return -ETXTBSY;  // open for writing somewhere: the kernel's exec refuses it the same way
  }
  if (!MayChange(static_cast<int>(fd), st)) {
    out->fd = static_cast<int>(fd);
    return 0;
  }
  int copy;
  r = CopySealed(static_cast<int>(fd), st, &copy);
  if (r == 0) {
    // The copy runs; the original answers the set-ID question (a memfd has no such bits).
    if (RunsSecure(static_cast<int>(fd), st)) out->target = ExecTarget::kEscapes;
    out->fd = copy;
    out->copied = true;
  }
  RawSyscall(SYS_close, fd);
  return r;
}

ExecTarget ClassifyPath(int dirfd, const char* path, int flags, int depth) {
  if (path[0] == 0 && (flags & AT_EMPTY_PATH)) {
    char interp[kHeadSize], arg[kHeadSize];
    return ClassifyFd(dirfd, interp, arg);
  }
  long fd = RawSyscall(SYS_openat, dirfd, reinterpret_cast<long>(path),
                       O_RDONLY | O_CLOEXEC | O_NONBLOCK | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
  if (fd < 0) return ExecTarget::kPreloaded;  // the kernel's exec reports the error
  char interp[kHeadSize], arg[kHeadSize];
  ExecTarget t = ClassifyFd(static_cast<int>(fd), interp, arg);
  RawSyscall(SYS_close, fd);
  if (t != ExecTarget::kScript) return t;
  if (depth >= kMaxScriptDepth) return ExecTarget::kEscapes;
  // The kernel starts the interpreter itself: it must be a dynamic program.
  return ClassifyPath(AT_FDCWD, interp, 0, depth + 1) == ExecTarget::kPreloaded ? ExecTarget::kPreloaded
                                                                              : ExecTarget::kEscapes;
}

}  // namespace

bool IsTrustedElfInterpreter(const char* path, size_t len) {
  for (const char* ok : {"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                         "/usr/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}) {
    if (strlen(ok) == len && memcmp(ok, path, len) == 0) return true;
  }
  return false;
}

ExecTarget ClassifyContent(const char* head, long len, ReadAt read_at, void* ctx, char* interp,
                           char* interp_arg) {
  if (len >= 2 && head[0] == '#' && head[1] == '!') {
    return ParseScript(head, len, interp, interp_arg) ? ExecTarget::kScript : ExecTarget::kUnknown;
  }
  Elf64_Ehdr eh;
  if (len < SELFMAG || memcmp(head, ELFMAG, SELFMAG) != 0) return ExecTarget::kUnknown;
  if (len < static_cast<long>(sizeof(eh))) return ExecTarget::kForeign;
  memcpy(&eh, head, sizeof(eh));
  return ClassifyElf(eh, read_at, ctx);
}

long OpenExecFile(int dirfd, const char* path, int flags, ExecFile* out) {
  *out = ExecFile{};
  long pfd = dirfd;
  if (path[0] != 0 || !(flags & AT_EMPTY_PATH)) {
    pfd = RawSyscall(SYS_openat, dirfd, reinterpret_cast<long>(path),
                     O_PATH | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
    if (pfd < 0) return pfd;
  }
  long r = OpenHeld(static_cast<int>(pfd), out);
  if (pfd != dirfd) RawSyscall(SYS_close, pfd);
  if (r < 0) return r;
  ExecTarget t = ClassifyFd(out->fd, out->interp, out->interp_arg);
  if (out->target != ExecTarget::kEscapes) out->target = t;
  return 0;
}

bool IsExecLeaseBreak(int sig, const siginfo_t* info) {
  return sig == SIGURG && info->si_code == POLL_MSG && info->si_fd >= 0 && info->si_fd == g_lease_fd;
}

void CloseExecFile(ExecFile* f) {
  if (f->fd < 0) return;
  if (f->fd == g_lease_fd) g_lease_fd = -1;
  RawSyscall(SYS_close, f->fd);
  f->fd = -1;
}

long CopyExecFile(ExecFile* f) {
  if (f->copied) return 0;
  struct stat st;
  long r = RawSyscall(SYS_fstat, f->fd, reinterpret_cast<long>(&st));
  int copy;
  if (r == 0) r = CopySealed(f->fd, st, &copy);
  if (r < 0) return r;
  CloseExecFile(f);
  f->fd = copy;
  f->copied = true;
  return 0;
}

ExecTarget ClassifyExecTarget(int dirfd, const char* path, int flags) {
  return ClassifyPath(dirfd, path, flags, 0);
}

}  // namespace ix::vmm

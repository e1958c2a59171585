// execve / execveat of a guest program (threads.h): the arguments are copied (exec_args.h), the
// target is opened once and held (exec_target.h), and the kernel execs that descriptor, so what was
// checked is what runs. Scripts are resolved here as binfmt_script would, so that the interpreter
// is opened, held and checked the same way; static programs run under ix-exec-static, given the
// held descriptor.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "vmm/exec_args.h"
#include "vmm/exec_target.h"
#include "vmm/guest_memory.h"
#include "vmm/line_buf.h"
#include "vmm/raw_syscall.h"
#include "vmm/spinlock.h"
#include "vmm/syscalls.h"
#include "vmm/threads.h"

namespace ix::vmm {
namespace {

char* Concat(ArgArena* arena, const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b);
  auto* s = static_cast<char*>(arena->Alloc(la + lb + 1, 1));
  if (s == nullptr) return nullptr;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

// `prefix` followed by `v` in decimal, in the arena.
char* NumberString(ArgArena* arena, const char* prefix, long v) {
  LineBuf b;
  b.Put(prefix);
  b.Dec(v);
  return Concat(arena, b.c_str(), "");
}

// The file name the kernel gives a new image (AT_EXECFN, a script's interpreter): the path itself,
// or for one relative to a directory descriptor "/dev/fd/N[/path]". Sets *inaccessible when that
// descriptor is close-on-exec (an interpreter could not open the name).
char* ExecName(ArgArena* arena, int dirfd, const char* path, bool* inaccessible) {
  *inaccessible = false;
  if (dirfd == AT_FDCWD || path[0] == '/') return Concat(arena, path, "");
  *inaccessible = RawSyscall(SYS_fcntl, dirfd, F_GETFD) & FD_CLOEXEC;
  char* dir = NumberString(arena, "/dev/fd/", dirfd);
  if (dir == nullptr || path[0] == 0) return dir;
  char* slash = Concat(arena, dir, "/");
  return slash == nullptr ? nullptr : Concat(arena, slash, path);
}

// "IX_COMM=<last component>": the name the kernel gives the image it execs by path; the preloaded
// library sets it (an exec of a descriptor would be named after the descriptor on older kernels).
char* CommVariable(ArgArena* arena, const char* path) {
  const char* base = strrchr(path, '/');
  return Concat(arena, "IX_COMM=", base != nullptr ? base + 1 : path);
}

// Execs the held static program `prog` under ix-exec-static, which inherits the descriptor of a
// sealed copy: the loader maps the program's pages, which the kernel's write denial does not cover.
long ExecStatic(Vmm* vmm, ExecFile* prog, char* name, char** argv, char** envp, ArgArena* arena) {
  if (vmm->opts.static_loader[0] == 0) return -ENOEXEC;
  long r = CopyExecFile(prog);
  if (r < 0) return r;
  ExecFile loader;
  r = OpenExecFile(AT_FDCWD, vmm->opts.static_loader, 0, &loader);
  if (r < 0) return r;
  char* fdarg = NumberString(arena, "--fd=", prog->fd);
  // ix-exec-static --fd=N NAME ARGV0 ARGS... (an empty argv gets NAME as its argv[0])
  char* front[4] = {vmm->opts.static_loader, fdarg, name, name};
  char** args = fdarg == nullptr ? nullptr : PrependArgs(arena, front, argv[0] != nullptr ? 3 : 4, argv);
  if (loader.target != ExecTarget::kPreloaded) r = -ENOEXEC;
  else if (args == nullptr) r = -E2BIG;
  else r = RawSyscall(SYS_fcntl, prog->fd, F_SETFD, 0);
  if (r == 0) {
    r = RawSyscall6(SYS_execveat, loader.fd, reinterpret_cast<long>(""), reinterpret_cast<long>(args),
                    reinterpret_cast<long>(envp), AT_EMPTY_PATH, 0);
  }
  CloseExecFile(&loader);
  return r;
}

// Opens, checks and execs the copied image; returns only on failure (-errno).
long ExecCopied(Vmm* vmm, int dirfd, int flags, const ExecImage& img, ArgArena* arena) {
  char** envp = img.envp;
  if (img.path[0] != 0) {
    envp[-1] = CommVariable(arena, img.path);
    if (envp[-1] == nullptr) return -E2BIG;
    --envp;
  }
  const char* path = img.path;
  char** argv = img.argv;
  for (int depth = 0;; ++depth) {
    ExecFile f;
    long r = OpenExecFile(dirfd, path, flags, &f);
    if (r < 0) return r;
    bool inaccessible;
    char* name = ExecName(arena, dirfd, path, &inaccessible);
    if (name == nullptr) r = -E2BIG;
    else if (f.target == ExecTarget::kPreloaded) {
      r = RawSyscall6(SYS_execveat, f.fd, reinterpret_cast<long>(""), reinterpret_cast<long>(argv),
                      reinterpret_cast<long>(envp), AT_EMPTY_PATH, 0);
    } else if (f.target == ExecTarget::kStatic) {
      r = ExecStatic(vmm, &f, name, argv, envp, arena);
    } else if (f.target == ExecTarget::kScript) {
      // binfmt_script: argv becomes INTERP [ARG] NAME ARGV[1...], and the interpreter is exec'd.
      char* interp = Concat(arena, f.interp, "");
      char* arg = Concat(arena, f.interp_arg, "");
      char* front[3] = {interp, arg, name};
      if (arg != nullptr && arg[0] == 0) front[1] = name;
      char** next = interp == nullptr || arg == nullptr
                        ? nullptr
                        : PrependArgs(arena, front, arg[0] != 0 ? 3 : 2, argv[0] != nullptr ? argv + 1 : argv);
      CloseExecFile(&f);
      if (depth + 1 >= kMaxScriptDepth) return -ELOOP;  // the next would be one too many
      if (inaccessible) return -ENOENT;
      if (next == nullptr) return -E2BIG;
      argv = next;
      path = interp;
      dirfd = AT_FDCWD;
      flags = 0;
      continue;
    } else if (f.target == ExecTarget::kUnknown) {
      r = -ENOEXEC;  // a shell then runs a text file itself, as it does on Linux
    } else {
      // Would run outside the guest (exec_target.h): refused, and counted as an attack.
      __atomic_add_fetch(&vmm->stats->protection_violations, 1, __ATOMIC_RELAXED);
      r = f.target == ExecTarget::kForeign ? -ENOEXEC : -EPERM;
    }
    CloseExecFile(&f);
    return r;
  }
}

}  // namespace

long SysExecve(Vmm* vmm, long nr, const uint64_t* a) {
  const bool at = nr == SYS_execveat;
  SpinGuard g(vmm->thread_lock);
  // Everything the kernel will read is copied first (exec_args.h): the checks below and the kernel
  // see the same bytes whatever other guest threads write meanwhile.
  ArgArena arena(reinterpret_cast<char*>(vmm->base + kExecArenaOffset), kExecArenaSize);
  const ExecEnvironment ix{vmm->opts.preload_path, vmm->opts.env_extra,
                           static_cast<size_t>(vmm->opts.env_extra_len)};
  ExecImage img;
  long r = CopyExecArgs(GuestArgEnv(vmm), at ? a[1] : a[0], at ? a[2] : a[1], at ? a[3] : a[2], ix, &arena, &img);
  if (r == 0) r = ExecCopied(vmm, at ? static_cast<int>(a[0]) : AT_FDCWD, at ? static_cast<int>(a[4]) : 0, img, &arena);
  // Still here: the exec failed. Give the copies' memory back.
  RawSyscall(SYS_madvise, vmm->base + kExecArenaOffset, kExecArenaSize - arena.left(), MADV_DONTNEED);
  return r;
}

}  // namespace ix::vmm

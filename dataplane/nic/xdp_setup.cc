// Process-wide AF_XDP setup: logging hooks, bpffs, errno mapping, and XDP program bookkeeping.
#include "dataplane/nic/xdp_setup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_format.h"

namespace ix::nic::xdp_internal {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

struct IfaceState {
  int sockets = 0;           // this process's open sockets on the interface
  uint32_t our_prog_id = 0;  // the program this process loaded (0: it was there before us)
  uint32_t xdp_flags = 0;    // attach mode used when it was loaded
};

// Keyed by (netns inode, ifindex): ifindex values repeat across namespaces.
std::map<std::pair<uint64_t, int>, IfaceState>& Registry() {
  static auto* registry = new std::map<std::pair<uint64_t, int>, IfaceState>();
  return *registry;
}

int LibxdpPrint(enum libxdp_print_level level, const char* format, va_list args) {
  if (level != LIBXDP_WARN) return 0;
  fputs("[ix nic] ", stderr);  // libxdp's messages carry their own "libxdp: " prefix
  return vfprintf(stderr, format, args);
}

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level != LIBBPF_WARN) return 0;
  fputs("[ix nic] ", stderr);  // likewise "libbpf: "
  return vfprintf(stderr, format, args);
}

bool IsBpffs(const char* path) {
  struct statfs st;
  return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Whether `pid` exists and is not a zombie (a killed process can stay one until reaped).
bool ProcessRunning(int pid) {
  FILE* f = fopen(absl::StrFormat("/proc/%d/stat", pid).c_str(), "re");
  if (f == nullptr) return false;
  char line[512];
  const bool read = fgets(line, sizeof(line), f) != nullptr;
  fclose(f);
  const char* close = read ? strrchr(line, ')') : nullptr;
  return close == nullptr || close[1] != ' ' || (close[2] != 'Z' && close[2] != 'X');
}

// Private mounts of processes that died without unmounting (killed tests) would pile up in /tmp.
void RemoveStaleBpffsMounts() {
  DIR* d = opendir("/tmp");
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    int pid = 0;
    if (sscanf(e->d_name, "ix-bpffs-%d", &pid) != 1 || pid <= 0 || pid == getpid()) continue;
    if (ProcessRunning(pid)) continue;
    const std::string dir = absl::StrFormat("/tmp/%s", e->d_name);
    umount2(dir.c_str(), MNT_DETACH);
    rmdir(dir.c_str());
  }
  closedir(d);
}

std::string SetUpBpffs() {
  const char* env = getenv("LIBXDP_BPFFS");
  if (env != nullptr && *env != '\0') return absl::StrFormat("LIBXDP_BPFFS=%s", env);
  if (IsBpffs("/sys/fs/bpf")) return "/sys/fs/bpf";
  RemoveStaleBpffsMounts();
  // No usable bpffs: mount a private one. Each bpffs mount is its own instance, so this one is
  // seen only through this path; it lives as long as the process (libxdp caches the path).
  std::string dir = absl::StrFormat("/tmp/ix-bpffs-%d", getpid());
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::StrFormat("none (mkdir %s: %s)", dir, strerror(errno));
  }
  if (!IsBpffs(dir.c_str()) && mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0) {
    const int err = errno;
    rmdir(dir.c_str());
    return absl::StrFormat("none (mount -t bpf %s: %s)", dir, strerror(err));
  }
  setenv("LIBXDP_BPFFS", dir.c_str(), /*overwrite=*/1);
  // Unmount lazily at exit; the directory is removed too. Best effort.
  static std::string* mounted = new std::string(dir);
  atexit([] {
    umount2(mounted->c_str(), MNT_DETACH);
    rmdir(mounted->c_str());
  });
  return absl::StrFormat("private mount %s", dir);
}

}  // namespace

absl::Status ErrnoStatus(absl::string_view context, absl::string_view call, int err) {
  const std::string msg =
      absl::StrFormat("%s: %s failed: %s (errno %d)", context, call, strerror(err), err);
  switch (err) {
    case ENODEV:
    case ENOENT:
    case ENXIO:
      return absl::NotFoundError(msg);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(msg);
    case EBUSY:
    case EAGAIN:
      return absl::UnavailableError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT:
      return absl::UnimplementedError(msg);
    case ENOMEM:
    case ENOBUFS:
    case ENOSPC:
      return absl::ResourceExhaustedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string EnsureLibxdpEnvironment() {
  static std::string* described = [] {
    libxdp_set_print(LibxdpPrint);
    libbpf_set_print(LibbpfPrint);
    return new std::string(SetUpBpffs());
  }();
  return *described;
}

uint64_t CurrentNetnsId() {
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

XdpProgramLock::XdpProgramLock() { RegistryMutex().lock(); }
XdpProgramLock::~XdpProgramLock() { RegistryMutex().unlock(); }

absl::Status QueryProgId(int ifindex, uint32_t* prog_id) {
  *prog_id = 0;
  const int err = bpf_xdp_query_id(ifindex, 0, prog_id);
  if (err != 0)
    return ErrnoStatus("XDP query", absl::StrFormat("bpf_xdp_query_id(%d)", ifindex), -err);
  return absl::OkStatus();
}

void NoteSocketCreated(uint64_t netns_id, int ifindex, uint32_t prog_id_before,
                       uint32_t xdp_flags) {
  IfaceState& s = Registry()[{netns_id, ifindex}];
  if (s.sockets++ == 0 && prog_id_before == 0) {
    uint32_t now_id = 0;
    if (QueryProgId(ifindex, &now_id).ok()) {
      s.our_prog_id = now_id;
      s.xdp_flags = xdp_flags;
    }
  }
}

absl::Status NoteSocketDeleted(uint64_t netns_id, int ifindex) {
  auto it = Registry().find({netns_id, ifindex});
  if (it == Registry().end()) return absl::OkStatus();
  IfaceState& s = it->second;
  if (--s.sockets > 0) return absl::OkStatus();
  const uint32_t ours = s.our_prog_id;
  const uint32_t flags = s.xdp_flags;
  Registry().erase(it);
  if (ours == 0) return absl::OkStatus();
  if (CurrentNetnsId() != netns_id) {
    // ifindex means another interface here: do not touch it.
    return absl::FailedPreconditionError(absl::StrFormat(
        "XDP detach: closed from another network namespace; program %u left on ifindex %d", ours,
        ifindex));
  }

  uint32_t now_id = 0;
  absl::Status st = QueryProgId(ifindex, &now_id);
  if (!st.ok()) return st;
  // libxdp 1.3 counts its program's users in a BPF map and detaches it when the last socket
  // closes, so normally it is gone by now. This is the safety net for when that count is off
  // (e.g. a user killed without closing) or for a libxdp that does not detach.
  if (now_id != ours) return absl::OkStatus();  // already gone, or someone replaced it: not ours
  // Detach exactly our program: XDP_FLAGS_REPLACE with the old program's fd, so a program someone
  // attached meanwhile is never removed.
  const int prog_fd = bpf_prog_get_fd_by_id(ours);
  if (prog_fd < 0) {
    return ErrnoStatus("XDP detach", absl::StrFormat("bpf_prog_get_fd_by_id(%u)", ours), errno);
  }
  bpf_xdp_attach_opts opts{};
  opts.sz = sizeof(opts);
  opts.old_prog_fd = prog_fd;
  int err = bpf_xdp_detach(ifindex, flags, &opts);
  close(prog_fd);
  if (err != 0) {
    return ErrnoStatus("XDP detach",
                       absl::StrFormat("bpf_xdp_detach(ifindex %d, prog %u)", ifindex, ours), -err);
  }
  return absl::OkStatus();
}

}  // namespace ix::nic::xdp_internal

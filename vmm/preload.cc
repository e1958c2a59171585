// libixrun.so: the library ix-run preloads into a program. Its constructor runs before the
// program's own code, reads the IX_* environment ix-run set, and puts the process into the guest;
// everything after runs there. If entry fails, the program must not run unprotected: exit 1.
//
// Environment (set by ix-run, carried across execve by the VMM):
//   IX_RUN=1 (required)  IX_RING=0|3|auto  IX_TRACE_FD=N  IX_STATS_FD=N
//   IX_POLICY_FD=N (a sealed policy memfd, policy.h)  IX_KVM_DEVICE=PATH
//   IX_STATIC_LOADER=PATH (ix-exec-static)  IX_ALLOW_EXIT=1 (tests only)
//   IX_POLICY=FILE, for those who preload libixrun.so without ix-run: read once, here, into a
//   sealed memfd that replaces it (IX_POLICY_FD) for this image and every image after it.
#include <dlfcn.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "vmm/guest.h"
#include "vmm/policy.h"

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  int n;
  if (v == nullptr || !absl::SimpleAtoi(v, &n)) return fallback;
  return n;
}

[[noreturn]] void Fail(const std::string& why) {
  fprintf(stderr, "ix-run: cannot run the program in a guest: %s\n", why.c_str());
  _exit(1);
}

__attribute__((constructor(101))) void IxRunEnter() {
  const char* active = getenv("IX_RUN");
  if (active == nullptr || strcmp(active, "1") != 0) return;  // preloaded by someone else: stay out
  ix::vmm::GuestOptions o;
  const char* ring = getenv("IX_RING");
  if (ring != nullptr && strcmp(ring, "auto") != 0) {
    if (!absl::SimpleAtoi(ring, &o.ring)) Fail(std::string("bad IX_RING '") + ring + "'");
  }
  o.trace_fd = EnvInt("IX_TRACE_FD", -1);
  o.stats_fd = EnvInt("IX_STATS_FD", -1);
  o.allow_guest_exit = EnvInt("IX_ALLOW_EXIT", 0) == 1;
  if (const char* dev = getenv("IX_KVM_DEVICE"); dev != nullptr && *dev) o.kvm_path = dev;
  if (const char* l = getenv("IX_STATIC_LOADER"); l != nullptr) o.static_loader = l;
  if (const char* path = getenv("IX_POLICY"); path != nullptr && *path && getenv("IX_POLICY_FD") == nullptr) {
    absl::StatusOr<std::string> text = ix::vmm::ReadPolicyFile(path);
    if (!text.ok()) Fail(std::string(text.status().message()));
    if (absl::StatusOr<ix::vmm::Policy> p = ix::vmm::ParsePolicy(*text, path); !p.ok()) {
      Fail(std::string(p.status().message()));
    }
    absl::StatusOr<int> fd = ix::vmm::SealPolicy(*text);
    if (!fd.ok()) Fail(std::string(fd.status().message()));
    setenv("IX_POLICY_FD", std::to_string(*fd).c_str(), 1);
  }
  unsetenv("IX_POLICY");
  // The name the VMM's exec gave this image (it execs a descriptor: exec.cc): ps, /proc/self/comm.
  if (const char* comm = getenv("IX_COMM"); comm != nullptr) {
    prctl(PR_SET_NAME, comm);
    unsetenv("IX_COMM");
  }
  if (const char* fd = getenv("IX_POLICY_FD"); fd != nullptr) {
    if (!absl::SimpleAtoi(fd, &o.policy_fd) || o.policy_fd < 0) Fail(std::string("bad IX_POLICY_FD '") + fd + "'");
    absl::StatusOr<ix::vmm::Policy> p = ix::vmm::LoadSealedPolicy(o.policy_fd);
    if (!p.ok()) Fail(std::string(p.status().message()));
    o.policy = *p;
  }
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&IxRunEnter), &info) == 0 || info.dli_fname == nullptr) {
    Fail("cannot find libixrun.so's own path");
  }
  o.preload_path = info.dli_fname;
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, "IX_", 3) == 0) {
      o.env_extra.append(*e);
      o.env_extra.push_back('\0');
    }
  }
  absl::Status s = ix::vmm::EnterGuest(o);
  if (!s.ok()) Fail(std::string(s.message()));
}

}  // namespace

// x86-64 syscall names, argument counts and errno names (see syscall_table.h).
#include "vmm/syscall_table.h"

#include <cstring>
#include <string.h>

#include "absl/strings/numbers.h"

namespace ix::vmm {
namespace {

struct Entry {
  long nr;
  const char* name;
  int args;  // parameters of the kernel's sys_*() entry point, 0..6
};
constexpr Entry kSyscalls[] = {
#include "vmm/syscall_table.inc"
};
constexpr int kMaxNr = 512;

constexpr bool TableIsSane() {
  for (const Entry& e : kSyscalls) {
    if (e.nr < 0 || e.nr >= kMaxNr || e.args < 0 || e.args > 6) return false;
  }
  return true;
}
static_assert(TableIsSane(), "syscall_table.inc: a number beyond kMaxNr or a count beyond 0..6");

struct NrIndex {
  const Entry* by_nr[kMaxNr] = {};
  constexpr NrIndex() {
    for (const Entry& e : kSyscalls) {
      if (e.nr >= 0 && e.nr < kMaxNr) by_nr[e.nr] = &e;
    }
  }
};
constexpr NrIndex kIndex;

const Entry* Find(long nr) { return nr < 0 || nr >= kMaxNr ? nullptr : kIndex.by_nr[nr]; }

}  // namespace

int SyscallArgCount(long nr) {
  const Entry* e = Find(nr);
  return e != nullptr ? e->args : 6;
}

const char* SyscallName(long nr) {
  const Entry* e = Find(nr);
  return e != nullptr ? e->name : nullptr;
}

std::optional<long> SyscallNumber(absl::string_view name) {
  for (const Entry& e : kSyscalls) {
    if (name == e.name) return e.nr;
  }
  return std::nullopt;
}

std::optional<int> ErrnoNumber(absl::string_view name) {
  int n;
  if (absl::SimpleAtoi(name, &n)) {
    if (n > 0 && n < 4096) return n;
    return std::nullopt;
  }
  for (int e = 1; e < 134; ++e) {
    const char* s = strerrorname_np(e);
    if (s != nullptr && name == s) return e;
  }
  return std::nullopt;
}

}  // namespace ix::vmm

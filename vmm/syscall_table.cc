// x86-64 syscall names and errno names (see syscall_table.h).
#include "vmm/syscall_table.h"

#include <cstring>
#include <string.h>

#include "absl/strings/numbers.h"

namespace ix::vmm {
namespace {

struct Entry {
  long nr;
  const char* name;
};
constexpr Entry kSyscalls[] = {
#include "vmm/syscall_table.inc"
};
constexpr int kMaxNr = 512;

struct NameIndex {
  const char* by_nr[kMaxNr] = {};
  constexpr NameIndex() {
    for (const Entry& e : kSyscalls) {
      if (e.nr >= 0 && e.nr < kMaxNr) by_nr[e.nr] = e.name;
    }
  }
};
constexpr NameIndex kIndex;

}  // namespace

const char* SyscallName(long nr) {
  if (nr < 0 || nr >= kMaxNr) return nullptr;
  return kIndex.by_nr[nr];
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

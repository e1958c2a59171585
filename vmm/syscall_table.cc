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

// Argument counts of the x86-64 syscalls programs make most (others are traced with all six).
constexpr struct {
  long nr;
  int args;
} kArgCounts[] = {
    {0, 3},   {1, 3},   {2, 3},   {3, 1},   {4, 2},   {5, 2},   {6, 2},   {7, 3},   {8, 3},
    {9, 6},   {10, 3},  {11, 2},  {12, 1},  {13, 4},  {14, 4},  {15, 0},  {16, 3},  {17, 4},
    {18, 4},  {19, 3},  {20, 3},  {21, 2},  {22, 1},  {23, 5},  {24, 0},  {25, 5},  {26, 3},
    {27, 3},  {28, 3},  {32, 1},  {33, 2},  {34, 0},  {35, 2},  {37, 1},  {38, 3},  {39, 0},
    {41, 3},  {42, 3},  {43, 3},  {44, 6},  {45, 6},  {46, 3},  {47, 3},  {48, 2},  {49, 3},
    {50, 2},  {51, 3},  {52, 3},  {53, 4},  {54, 5},  {55, 5},  {56, 5},  {57, 0},  {58, 0},
    {59, 3},  {60, 1},  {61, 4},  {62, 2},  {63, 1},  {72, 3},  {73, 2},  {74, 1},  {75, 1},
    {76, 2},  {77, 2},  {78, 3},  {79, 2},  {80, 1},  {81, 1},  {82, 2},  {83, 2},  {84, 1},
    {85, 2},  {86, 2},  {87, 1},  {88, 2},  {89, 3},  {90, 2},  {91, 2},  {92, 3},  {93, 3},
    {95, 1},  {96, 2},  {97, 2},  {98, 2},  {99, 1},  {102, 0}, {104, 0}, {105, 1}, {106, 1},
    {107, 0}, {108, 0}, {109, 2}, {110, 0}, {111, 0}, {112, 0}, {121, 1}, {124, 1}, {131, 2},
    {137, 2}, {138, 2}, {157, 5}, {158, 2}, {186, 0}, {200, 2}, {201, 1}, {202, 6}, {204, 3},
    {213, 1}, {217, 3}, {218, 1}, {228, 2}, {229, 2}, {230, 4}, {231, 1}, {232, 4}, {233, 4},
    {234, 3}, {257, 4}, {258, 3}, {262, 4}, {263, 3}, {264, 4}, {267, 4}, {268, 3}, {269, 3},
    {270, 6}, {271, 5}, {273, 2}, {281, 6}, {284, 2}, {288, 4}, {290, 3}, {291, 1}, {292, 3},
    {293, 2}, {302, 4}, {316, 5}, {318, 3}, {319, 2}, {322, 5}, {332, 5}, {334, 4}, {424, 4},
    {434, 2}, {435, 2}, {436, 3}, {437, 4}, {439, 4},
};

}  // namespace

int SyscallArgCount(long nr) {
  for (const auto& e : kArgCounts) {
    if (e.nr == nr) return e.args;
  }
  return 6;
}

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

// ix-run's syscall policy parser (see policy.h).
#include "vmm/policy.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "vmm/syscall_table.h"

namespace ix::vmm {
namespace {

absl::StatusOr<PolicyEntry> ParseAction(const std::vector<absl::string_view>& words, size_t i,
                                        const std::string& where) {
  if (i >= words.size()) return absl::InvalidArgumentError(where + "missing action (allow, deny, kill)");
  absl::string_view a = words[i];
  size_t extra = words.size() - i - 1;
  if (a == "allow" || a == "kill") {
    if (extra != 0) return absl::InvalidArgumentError(where + "unexpected text after '" + std::string(a) + "'");
    return PolicyEntry{a == "allow" ? PolicyAction::kAllow : PolicyAction::kKill, 0};
  }
  if (a == "deny") {
    if (extra > 1) return absl::InvalidArgumentError(where + "unexpected text after the errno");
    int err = EPERM;
    if (extra == 1) {
      std::optional<int> e = ErrnoNumber(words[i + 1]);
      if (!e) return absl::InvalidArgumentError(where + "unknown errno '" + std::string(words[i + 1]) + "'");
      err = *e;
    }
    return PolicyEntry{PolicyAction::kDeny, static_cast<uint16_t>(err)};
  }
  return absl::InvalidArgumentError(where + "unknown action '" + std::string(a) +
                                    "' (expected allow, deny [ERRNO] or kill)");
}

}  // namespace

absl::StatusOr<Policy> ParsePolicy(absl::string_view text, absl::string_view source) {
  Policy p;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    std::string where = absl::StrFormat("%s:%d: ", source, line_no);
    absl::StatusOr<PolicyEntry> action = ParseAction(words, 1, where);
    if (!action.ok()) return action.status();
    if (words[0] == "default") {
      p.fallback = *action;
      continue;
    }
    long nr;
    if (!absl::SimpleAtoi(words[0], &nr)) {
      std::optional<long> n = SyscallNumber(words[0]);
      if (!n) return absl::InvalidArgumentError(where + "unknown syscall '" + std::string(words[0]) + "'");
      nr = *n;
    }
    if (nr < 0 || nr >= kMaxPolicy) {
      return absl::InvalidArgumentError(absl::StrFormat("%ssyscall number %d out of range [0, %d)", where, nr, kMaxPolicy));
    }
    p.rules[nr] = *action;
    p.has_rule[nr] = true;
  }
  return p;
}

absl::StatusOr<Policy> LoadPolicyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("cannot read policy file %s: %s", path, strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParsePolicy(ss.str(), path);
}

}  // namespace ix::vmm

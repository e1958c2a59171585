// ix-run's syscall policy parser (see policy.h).
#include "vmm/policy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

absl::StatusOr<std::string> ReadPolicyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("cannot read policy file %s: %s", path, strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<Policy> LoadPolicyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadPolicyFile(path);
  if (!text.ok()) return text.status();
  return ParsePolicy(*text, path);
}

bool AllowsEverything(const Policy& p) {
  if (p.fallback.action != PolicyAction::kAllow) return false;
  for (int nr = 0; nr < kMaxPolicy; ++nr) {
    if (p.has_rule[nr] && p.rules[nr].action != PolicyAction::kAllow) return false;
  }
  return true;
}

constexpr int kPolicySeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
constexpr size_t kMaxPolicyText = 1 << 20;

absl::StatusOr<int> SealPolicy(absl::string_view text) {
  if (text.size() > kMaxPolicyText) return absl::InvalidArgumentError("policy longer than 1 MiB");
  int fd = memfd_create("ix-run-policy", MFD_ALLOW_SEALING);
  if (fd < 0) return absl::InternalError(absl::StrFormat("memfd_create for the policy: %s", strerror(errno)));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrFormat("writing the policy memfd: %s", strerror(errno)));
    }
    done += n;
  }
  if (fcntl(fd, F_ADD_SEALS, kPolicySeals) != 0) {
    close(fd);
    return absl::InternalError(absl::StrFormat("sealing the policy memfd: %s", strerror(errno)));
  }
  return fd;
}

absl::StatusOr<Policy> LoadSealedPolicy(int fd) {
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kPolicySeals) != kPolicySeals) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "IX_POLICY_FD=%d is not a sealed policy memfd (%s)", fd, seals < 0 ? strerror(errno) : "missing seals"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 0 || static_cast<size_t>(st.st_size) > kMaxPolicyText) {
    return absl::InvalidArgumentError(absl::StrFormat("IX_POLICY_FD=%d: bad size", fd));
  }
  std::string text(st.st_size, '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = pread(fd, text.data() + done, text.size() - done, done);
    if (n <= 0) return absl::InternalError(absl::StrFormat("reading IX_POLICY_FD=%d: %s", fd, strerror(errno)));
    done += n;
  }
  return ParsePolicy(text, "the sealed policy");
}

}  // namespace ix::vmm

// Command-line checking for ix's programs, which promise exit status 2 for bad options: absl's
// parser exits with 1 on an unknown flag or a bad value. CheckFlagsOrExit looks up and parses
// every --flag of argv with absl's own registry first (--flag=value, --flag value, --noflag, the
// --help family), and exits 2 with "PROGRAM: what is wrong (see --help)" on the first problem.
// Call it right before absl::ParseCommandLine.
#ifndef IX_COMMON_STRICT_FLAGS_H_
#define IX_COMMON_STRICT_FLAGS_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/strings/str_split.h"

namespace ix {

[[noreturn]] inline void ExitBadFlag(const char* program, const std::string& message) {
  fprintf(stderr, "%s: %s (see --help)\n", program, message.c_str());
  exit(2);
}

inline bool IsAbslUsageFlag(const std::string& name) {
  return name == "help" || name == "helpfull" || name == "helpshort" || name == "helppackage" ||
         name == "version" || name == "only_check_args" || name.rfind("helpon", 0) == 0 ||
         name.rfind("helpmatch", 0) == 0;
}

inline void CheckFlagsOrExit(const char* program, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') ExitBadFlag(program, "unexpected argument '" + arg + "'");
    const std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    const std::vector<std::string> kv = absl::StrSplit(body, absl::MaxSplits('=', 1));
    const std::string& name = kv[0];
    if (IsAbslUsageFlag(name)) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && name.rfind("no", 0) == 0) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      negated = flag != nullptr && flag->IsOfType<bool>() && kv.size() == 1;
      if (!negated) flag = nullptr;
    }
    if (flag == nullptr) ExitBadFlag(program, "unknown flag --" + name);
    if (negated) continue;
    std::string value;
    if (kv.size() == 2) {
      value = kv[1];
    } else if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      ExitBadFlag(program, "flag --" + name + " needs a value");
    }
    // ParseFrom sets the flag; absl::ParseCommandLine then sets it again to the same value.
    std::string error;
    if (!flag->ParseFrom(value, &error)) ExitBadFlag(program, "bad value for --" + name + ": " + error);
  }
}

}  // namespace ix

#endif  // IX_COMMON_STRICT_FLAGS_H_

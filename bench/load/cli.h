// Command-line front end helpers for ix-load: accepts --flag-name as well as --flag_name, and
// checks every flag before Abseil parses them so that a bad flag exits with status 2 and a
// clear message (Abseil alone would exit with 1).
#ifndef IX_BENCH_LOAD_CLI_H_
#define IX_BENCH_LOAD_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ix::load {

// Rewrites args (args[0] is the program) in place: "--a-b=c" becomes "--a_b=c" and "-x" becomes
// "--x". Then checks that every argument is a known flag with a valid value (bool flags accept
// --f, --nof, --f=true|false; others need =VALUE or a following argument) and that there are no
// positional arguments. Help flags (--help, --helpfull, ...) pass through. Parsing a value sets
// the flag, exactly as the Abseil parse that follows will.
absl::Status PreflightFlags(std::vector<std::string>& args);

// True when args ask for help (--help, -h, --helpfull, ...).
bool WantsHelp(const std::vector<std::string>& args);

// The usage text: usage_message, then every flag defined in a file whose path contains
// path_part, sorted, with its help and default value.
std::string HelpText(absl::string_view usage_message, absl::string_view path_part);

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_CLI_H_

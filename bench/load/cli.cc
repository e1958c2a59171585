// Flag spelling normalisation and pre-parse validation for ix-load (see cli.h).
#include "bench/load/cli.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ix::load {
namespace {

bool IsHelpFlag(const std::string& name) {
  return name == "help" || name == "helpfull" || name == "helpshort" ||
         name == "helppackage" || name == "helpmatch" || name == "helpon" || name == "version" ||
         name == "only_check_args";
}

}  // namespace

absl::Status PreflightFlags(std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a == "--") {
      if (i + 1 < args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected argument '", args[i + 1], "'"));
      }
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument '", a, "' (every option is a --flag; see --help)"));
    }
    const size_t dashes = a[1] == '-' ? 2 : 1;
    const size_t eq = a.find('=');
    std::string name = a.substr(dashes, eq == std::string::npos ? std::string::npos : eq - dashes);
    std::replace(name.begin(), name.end(), '-', '_');
    const bool has_value = eq != std::string::npos;
    std::string value = has_value ? a.substr(eq + 1) : "";
    a = absl::StrCat("--", name, has_value ? "=" : "", value);
    if (IsHelpFlag(name)) continue;

    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* base = absl::FindCommandLineFlag(name.substr(2));
      if (base != nullptr && base->IsOfType<bool>()) {
        if (has_value) {
          return absl::InvalidArgumentError(
              absl::StrCat("--", name, " takes no value"));
        }
        std::string err;
        base->ParseFrom("false", &err);
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    std::string err;
    if (!flag->ParseFrom(value, &err)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value '", value, "' for --", name, ": ", err));
    }
  }
  return absl::OkStatus();
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "-h" || args[i] == "--help" || args[i] == "-help" ||
        absl::StartsWith(args[i], "--help")) {
      return true;
    }
  }
  return false;
}

std::string HelpText(absl::string_view usage_message, absl::string_view path_part) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), path_part)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::string out = absl::StrCat(usage_message, "\nFlags:\n");
  for (const absl::CommandLineFlag* f : flags) {
    absl::StrAppend(&out, "  --", f->Name(), " (default: ",
                    f->DefaultValue().empty() ? "\"\"" : f->DefaultValue(), ")\n      ",
                    f->Help(), "\n");
  }
  return out;
}

}  // namespace ix::load

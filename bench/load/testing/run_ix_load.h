// Test helper: runs the ix-load binary (path from $IX_LOAD_BIN) with arguments, bounded in time,
// and returns its exit status, stderr and parsed JSON report.
#ifndef IX_BENCH_LOAD_TESTING_RUN_IX_LOAD_H_
#define IX_BENCH_LOAD_TESTING_RUN_IX_LOAD_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ix::load::testing {

struct IxLoadRun {
  int exit_code = -1;       // -1 when it did not exit normally (killed at the time limit)
  std::string stderr_text;
  nlohmann::json report;    // null unless the report file parsed
};

// Runs "$IX_LOAD_BIN --json=<tmp> args...", killing it after time_limit_s.
IxLoadRun RunIxLoad(const std::vector<std::string>& args, int time_limit_s);

// Path of the ix-load binary, or "" when $IX_LOAD_BIN is unset.
std::string IxLoadPath();

}  // namespace ix::load::testing

#endif  // IX_BENCH_LOAD_TESTING_RUN_IX_LOAD_H_

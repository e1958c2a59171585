// Bounded subprocess runner for ix-load in tests (see run_ix_load.h).
#include "bench/load/testing/run_ix_load.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bench/load/clock.h"

namespace ix::load::testing {

std::string IxLoadPath() {
  const char* p = std::getenv("IX_LOAD_BIN");
  return p == nullptr ? "" : p;
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

IxLoadRun RunIxLoad(const std::vector<std::string>& args, int time_limit_s) {
  IxLoadRun run;
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(MonoNowNs());
  const std::string json_path = "/tmp/ix-load-test-" + tag + ".json";
  const std::string err_path = "/tmp/ix-load-test-" + tag + ".err";
  std::vector<std::string> argv_s = {IxLoadPath(), "--json=" + json_path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) return run;
  const uint64_t deadline = MonoNowNs() + static_cast<uint64_t>(time_limit_s) * 1'000'000'000u;
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (MonoNowNs() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    usleep(10'000);
  }
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.stderr_text = ReadFile(err_path);
  const std::string text = ReadFile(json_path);
  if (!text.empty()) run.report = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (run.report.is_discarded()) run.report = nullptr;
  unlink(json_path.c_str());
  unlink(err_path.c_str());
  return run;
}

}  // namespace ix::load::testing

// Running a program from a test: stdout through a pipe, stderr through a file (so neither can
// fill up and deadlock the other), and the raw wait status. Header-only; for tests.
#ifndef IX_TESTS_RUN_PROGRAM_H_
#define IX_TESTS_RUN_PROGRAM_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace ix::testing {

struct Result {
  int status = -1;  // raw wait status
  std::string out, err;
  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
};

inline std::string ReadAll(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, n);
  return s;
}

// Runs argv (searched in PATH) with `env` (NAME=VALUE strings) added to the environment.
inline Result Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  int out[2];
  if (pipe(out) != 0) abort();
  char err_path[] = "/tmp/ix_test_err_XXXXXX";
  int err_fd = mkstemp(err_path);
  if (err_fd < 0) abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err_fd, 2);
    close(out[0]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  Result r;
  r.out = ReadAll(out[0]);
  close(out[0]);
  waitpid(pid, &r.status, 0);
  lseek(err_fd, 0, SEEK_SET);
  r.err = ReadAll(err_fd);
  close(err_fd);
  unlink(err_path);
  return r;
}

}  // namespace ix::testing

#endif  // IX_TESTS_RUN_PROGRAM_H_

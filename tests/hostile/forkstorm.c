/* Hostile guest program, attack class 6 of issue 13: a bounded fork storm. Every fork under ix
 * builds a new VM, so many at once test the VMM's resource handling:
 *  - forkstorm: IX_HOSTILE_FORK_ROUNDS rounds (default 3) of 32 concurrent children, each making
 *    a syscall and exiting with its index; all must be reaped with the right status, and the
 *    parent continues;
 *  - forkstorm-nproc: a child with RLIMIT_NPROC lowered (as user nobody when run as root, since
 *    root ignores the limit) forks until fork fails: the failure must be a clean EAGAIN, within
 *    the limit plus the processes nobody already has, and the children are all reaped. */
#include "hostile.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define kConcurrent 32

static int Storm(long rounds, char* detail, size_t n) {
  for (long r = 0; r < rounds; ++r) {
    pid_t pids[kConcurrent];
    for (int i = 0; i < kConcurrent; ++i) {
      pids[i] = fork();
      if (pids[i] == 0) _exit(getppid() > 0 ? i : 99);
      if (pids[i] < 0) {
        snprintf(detail, n, "round %ld child %d: fork failed: %s", r, i, strerror(errno));
        for (int j = 0; j < i; ++j) waitpid(pids[j], NULL, 0);
        return 0;
      }
    }
    for (int i = 0; i < kConcurrent; ++i) {
      int st;
      if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != i) {
        snprintf(detail, n, "round %ld child %d: status 0x%x", r, i, st);
        return 0;
      }
    }
  }
  return 1;
}

/* In a child: lower RLIMIT_NPROC and fork until it fails. Exit status: 0 clean EAGAIN,
 * 1 another error, 2 no failure within 64 forks, 3 a child lost, 4 setup failed, 5 more
 * children than the limit. */
static void NprocChild(int limit) {
  if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(4);
  struct rlimit rl = {limit, limit};
  if (setrlimit(RLIMIT_NPROC, &rl) != 0) _exit(4);
  pid_t kids[64];
  int n = 0, err = 0;
  for (; n < 64; ++n) {
    kids[n] = fork();
    if (kids[n] == 0) {
      pause();
      _exit(0);
    }
    if (kids[n] < 0) {
      err = errno;
      break;
    }
  }
  for (int i = 0; i < n; ++i) kill(kids[i], SIGKILL);
  for (int i = 0; i < n; ++i) {
    int st;
    if (waitpid(kids[i], &st, 0) != kids[i]) _exit(3);
  }
  dprintf(1, "forkstorm-nproc-count %d\n", n);
  _exit(n == 64 ? 2 : n > limit ? 5 : err == EAGAIN ? 0 : 1);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RegionOrExit();
  char detail[256] = "";
  long rounds = EnvLong("IX_HOSTILE_FORK_ROUNDS", 3);
  double t0 = NowSeconds();
  if (Storm(rounds, detail, sizeof(detail))) {
    printf("forkstorm ok rounds=%ld children=%ld (%.1f s)\n", rounds, rounds * kConcurrent, NowSeconds() - t0);
  } else {
    printf("forkstorm FAILED %s\n", detail);
  }
  fflush(stdout);
  const int limit = 8;
  /* The child's stderr is kept apart: at the limit, a forked child can itself be killed by the
   * VMM when KVM cannot start the VM's worker thread (it counts against RLIMIT_NPROC). */
  char err_path[] = "/tmp/hostile_fork_err_XXXXXX";
  int err = mkstemp(err_path);
  unlink(err_path);
  pid_t c = fork();
  if (c == 0) {
    dup2(err, 2);
    NprocChild(limit);
  }
  int st = 0;
  waitpid(c, &st, 0);
  char buf[512] = "", note[300] = "";
  lseek(err, 0, SEEK_SET);
  long k = read(err, buf, sizeof(buf) - 1);
  buf[k > 0 ? k : 0] = 0;
  close(err);
  if (k > 0) snprintf(note, sizeof(note), "; stderr of the children: '%.*s'", (int)strcspn(buf, "\n"), buf);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) printf("forkstorm-nproc ok (EAGAIN at RLIMIT_NPROC %d%s)\n", limit, note);
  else printf("forkstorm-nproc FAILED status 0x%x (exit 1: not EAGAIN, 2: no limit, 3: lost child, 4: setup, 5: over the limit)%s\n", st, note);
  printf("expect-violations 0\n");
  printf("done\n");
  return 0;
}

// Test program: fork + exec + wait, posix_spawn, and a child's exit status and death by signal.
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/echo", "echo", "child exec'd echo", (char*)NULL);
    _exit(99);
  }
  int st;
  waitpid(pid, &st, 0);
  printf("fork+exec: exited=%d code=%d\n", WIFEXITED(st), WEXITSTATUS(st));

  pid = fork();
  if (pid == 0) _exit(7);
  waitpid(pid, &st, 0);
  printf("fork: code=%d\n", WEXITSTATUS(st));

  pid = fork();
  if (pid == 0) {
    raise(SIGTERM);
    _exit(0);
  }
  waitpid(pid, &st, 0);
  printf("fork: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));

  char* argv[] = {"sh", "-c", "echo spawned $((6*7))", NULL};
  if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0) return 1;
  waitpid(pid, &st, 0);
  printf("posix_spawn: code=%d\n", WEXITSTATUS(st));

  pid = vfork();
  if (pid == 0) {
    execl("/bin/true", "true", (char*)NULL);
    _exit(98);
  }
  waitpid(pid, &st, 0);
  printf("vfork+exec: code=%d\n", WEXITSTATUS(st));
  return 0;
}

// A statically linked test program (built with -static), run natively and under ix-run with the
// output compared: arguments and environment, a thread, a caught SIGSEGV, fork + exec of itself
// (static again) and of a dynamic program, exit status. `static_prog ring` prints the guest ring.
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf jump;
static void* fault_addr;

static void OnSegv(int sig, siginfo_t* si, void* ctx) {
  (void)sig;
  (void)ctx;
  fault_addr = si->si_addr;
  siglongjmp(jump, 1);
}

static void* Sum(void* arg) {
  long n = (long)arg, s = 0;
  for (long i = 1; i <= n; ++i) s += i;
  return (void*)s;
}

static int RunChild(char* const* argv) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(99);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    printf("child says %s\n", argc > 2 ? argv[2] : "");
    return 7;
  }
  if (argc > 1 && strcmp(argv[1], "ring") == 0) {
    printf("%ld\n", syscall(0x1d0e0002));  // IX_SYSCALL_GUEST_RING; -1 (ENOSYS) natively
    return 0;
  }
  printf("argc %d, argv[1] %s\n", argc, argc > 1 ? argv[1] : "-");
  const char* v = getenv("STATIC_PROG_VALUE");
  printf("env %s\n", v ? v : "(unset)");
  fflush(stdout);

  pthread_t t;
  void* sum;
  pthread_create(&t, NULL, Sum, (void*)100000);
  pthread_join(t, &sum);
  printf("thread sum %ld\n", (long)sum);

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  if (sigsetjmp(jump, 1) == 0) *(volatile int*)0x18 = 1;
  printf("caught SIGSEGV at %p\n", fault_addr);
  fflush(stdout);

  char* self[] = {argv[0], "child", "hello", NULL};
  printf("static child exited %d\n", RunChild(self));
  fflush(stdout);
  char* echo[] = {"/bin/echo", "dynamic child", NULL};
  printf("dynamic child exited %d\n", RunChild(echo));
  for (int i = 0; i < 100; ++i) syscall(SYS_getpid);
  return 3;
}

// Test program: Linux signal semantics a program relies on. Prints one line per check; the output
// must be the same natively and under ix-run.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms, usr1_in_handler_blocked, nested;
static sigjmp_buf jump;
static volatile void* fault_addr;
static volatile int fault_code;

static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_usr1(int sig) {
  (void)sig;
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  usr1_in_handler_blocked = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGUSR2);
}
static void on_segv(int sig, siginfo_t* info, void* uc) {
  (void)sig, (void)uc;
  fault_addr = info->si_addr;
  fault_code = info->si_code;
  siglongjmp(jump, 1);
}
static void on_usr2_alt(int sig) {
  (void)sig;
  int local;
  stack_t ss;
  sigaltstack(NULL, &ss);
  nested = (ss.ss_flags & SS_ONSTACK) && (char*)&local >= (char*)ss.ss_sp &&
           (char*)&local < (char*)ss.ss_sp + ss.ss_size;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  // 1. SIGALRM interrupts pause(): handler runs, pause returns EINTR.
  signal(SIGALRM, on_alarm);
  alarm(1);
  int r = pause();
  printf("pause: r=%d errno=%s alarms=%d\n", r, strerror(errno), (int)alarms);

  // 2. SA_RESTART: a read blocked on a pipe is restarted after the handler; data still arrives.
  int p[2];
  pipe(p);
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  if (fork() == 0) {
    usleep(400000);
    write(p[1], "x", 1);
    _exit(0);
  }
  struct itimerval it = {{0, 0}, {0, 100000}};
  setitimer(ITIMER_REAL, &it, NULL);
  char c = 0;
  r = read(p[0], &c, 1);
  printf("restarted read: r=%d c=%c alarms=%d\n", r, c, (int)alarms);

  // 3. sa_mask is applied during the handler, and the signal itself is blocked.
  sa.sa_handler = on_usr1;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  sigaction(SIGUSR1, &sa, NULL);
  raise(SIGUSR1);
  sigset_t after;
  sigprocmask(SIG_BLOCK, NULL, &after);
  printf("sa_mask in handler: %d, restored after: %d\n", (int)usr1_in_handler_blocked,
         !sigismember(&after, SIGUSR1) && !sigismember(&after, SIGUSR2));

  // 4. SIGSEGV handler sees the faulting address (NULL page) and can leave by siglongjmp.
  struct sigaction segv = {0};
  segv.sa_sigaction = on_segv;
  segv.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &segv, NULL);
  if (sigsetjmp(jump, 1) == 0) *(volatile int*)0x40 = 1;
  printf("segv at %p code=%s\n", (void*)fault_addr, fault_code == SEGV_MAPERR ? "MAPERR" : "other");

  // 5. sigaltstack + SA_ONSTACK: the handler runs on the alternate stack.
  static char alt[64 * 1024];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt), .ss_flags = 0};
  sigaltstack(&ss, NULL);
  sa.sa_handler = on_usr2_alt;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  raise(SIGUSR2);
  printf("altstack handler on alt stack: %d\n", (int)nested);

  // 6. SA_RESETHAND: the second raise uses the default action (ignored here: SIGURG).
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGURG, &sa, NULL);
  int before = alarms;
  raise(SIGURG);
  raise(SIGURG);
  printf("resethand: handler ran %d time(s)\n", (int)(alarms - before));
  return 0;
}

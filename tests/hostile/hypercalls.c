/* Hostile guest program, attack class 4 of issue 13: bad hypercalls and privileged instructions.
 *  - unknown-nr: numbers no syscall has (1000, 0x7fffffff, -1, x32 getpid, the next number of
 *    ix's own range) with garbage arguments must give -ENOSYS; IX_SYSCALL_GUEST_RING with garbage
 *    still answers 0 or 3; IX_SYSCALL_GUEST_EXIT (also with high bits set) is -EPERM without
 *    ix-run's test-only IX_ALLOW_EXIT.
 *  - high-nr-semantics: rax with bits above 31 set runs the syscall of the low 32 bits, as the
 *    kernel does (getpid, write into a pipe), and with all its checks (write from the region:
 *    -EFAULT, counted).
 *  - priv-*: `out`, `in`, `hlt`, `vmcall`, `vmmcall`, and a jump into the guest IDT's #PF stub (and
 *    the exception hypercall store itself) with a forged frame on an ordinary stack. Each runs in
 *    a forked child, whose stderr is kept apart, and must end in a signal to the guest or a clean
 *    kill with an "ix-run:" message ("forged exception report" with SIGSYS for forged frames); a
 *    forged frame the VMM believed would continue at its rip, which exits 3 (BREACH). vmcall and
 *    vmmcall may also return KVM's own error (KVM handles them in the kernel). The issue asks for
 *    these in ring 0; they run in ring 3 too, where each must fault the same way. */
#include "hostile.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define kG 0x5a5a5a5a5a5a5a5aL /* garbage argument */

static long UnknownNumbers(void) {
  struct {
    const char* what;
    long nr;
    long want_lo, want_hi;  /* accepted results */
  } t[] = {
      {"1000", 1000, -ENOSYS, -ENOSYS},
      {"0x7fffffff", 0x7fffffff, -ENOSYS, -ENOSYS},
      {"-1", -1, -ENOSYS, -ENOSYS},
      {"x32-getpid", 0x40000000L | SYS_getpid, -ENOSYS, -ENOSYS},
      {"ix-range+1", 0x1d0e0003L, -ENOSYS, -ENOSYS},
      {"guest-exit", IX_SYSCALL_GUEST_EXIT, -EPERM, -EPERM},
      {"guest-exit-high", (1L << 32) | IX_SYSCALL_GUEST_EXIT, -EPERM, -EPERM},
      {"guest-exit-neg", (long)(0xffffffff00000000ul | IX_SYSCALL_GUEST_EXIT), -EPERM, -EPERM},
  };
  int n = sizeof(t) / sizeof(t[0]), ok = 0;
  char d[512] = "";
  size_t dl = 0;
  for (int i = 0; i < n; ++i) {
    long r = RawSyscall6(t[i].nr, kG, kG, kG, kG, kG, kG);
    if (r >= t[i].want_lo && r <= t[i].want_hi) ++ok;
    else dl += snprintf(d + dl, sizeof(d) - dl, " %s=%ld", t[i].what, r);
  }
  long ring = RawSyscall6(IX_SYSCALL_GUEST_RING, kG, kG, kG, kG, kG, kG);
  ++n;
  if (ring == 0 || ring == 3) ++ok;
  else dl += snprintf(d + dl, sizeof(d) - dl, " guest-ring=%ld", ring);
  if (ok == n) printf("unknown-nr refused %d/%d\n", ok, n);
  else printf("unknown-nr BREACH unexpected results:%s\n", d);
  return 0;
}

static long HighNumberSemantics(uintptr_t base) {
  const unsigned long highs[] = {1ul << 32, 0xffffffff00000000ul, 1ul << 63, 0x1234567800000000ul};
  int n = 0, ok = 0;
  long violations = 0;
  char d[512] = "";
  size_t dl = 0;
  int p[2];
  if (pipe2(p, O_NONBLOCK) != 0) abort();
  for (size_t i = 0; i < sizeof(highs) / sizeof(highs[0]); ++i) {
    long h = (long)highs[i];
    long r = RawSyscall6(h | SYS_getpid, 0, 0, 0, 0, 0, 0);
    ++n;
    if (r == getpid()) ++ok;
    else dl += snprintf(d + dl, sizeof(d) - dl, " 0x%lx|getpid=%ld", highs[i], r);
    r = RawSyscall6(h | SYS_write, p[1], (long)"ixhostil", 8, 0, 0, 0);
    char got[16] = "";
    long k = read(p[0], got, sizeof(got));
    ++n;
    if (r == 8 && k == 8 && memcmp(got, "ixhostil", 8) == 0) ++ok;
    else dl += snprintf(d + dl, sizeof(d) - dl, " 0x%lx|write=%ld(read %ld)", highs[i], r, k);
    r = RawSyscall6(h | SYS_write, p[1], (long)(base + 0x1000), 64, 0, 0, 0);
    k = read(p[0], got, sizeof(got));
    ++n;
    if (r == -EFAULT && k < 0) ++ok, ++violations;
    else dl += snprintf(d + dl, sizeof(d) - dl, " 0x%lx|write(region)=%ld(read %ld)", highs[i], r, k);
  }
  close(p[0]);
  close(p[1]);
  if (ok == n) printf("high-nr-semantics refused %d/%d (the low 32 bits run, with their checks)\n", ok, n);
  else printf("high-nr-semantics BREACH:%s\n", d);
  return violations;
}

/* --- privileged instructions, each in a forked child ------------------------------------------ */

static uint64_t forged_stack[512] __attribute__((aligned(16)));
static uint64_t landing_stack[512] __attribute__((aligned(16)));

/* Where a forged frame's rip points: reaching it means the VMM believed the frame. */
static void Landed(void) { _exit(3); }

static void Forge(uint64_t* top, uint64_t cs, uint64_t ss) {
  top[-1] = ss;
  top[-2] = (uint64_t)&landing_stack[510];
  top[-3] = 0x202;
  top[-4] = cs;
  top[-5] = (uint64_t)&Landed;
  top[-6] = 0;   /* error code */
  top[-7] = 14;  /* vector, for the direct store (the stub pushes its own) */
}

static uint64_t CodeSelector(void) {
  uint64_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  return cs;
}
static uint64_t StackSelector(void) {
  uint64_t ss;
  __asm__ volatile("mov %%ss, %0" : "=r"(ss));
  return ss;
}

static long vm_rax;
static void Out(void) { __asm__ volatile("outb %%al, $0x80" ::"a"(0x42) : "memory"); }
static void In(void) {
  unsigned char v;
  __asm__ volatile("inb $0x80, %0" : "=a"(v)::"memory");
}
static void Hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static void Vmcall(void) { __asm__ volatile("vmcall" : "=a"(vm_rax) : "a"(0x7777L), "b"(kG), "c"(kG), "d"(kG), "S"(kG) : "memory"); }
static void Vmmcall(void) { __asm__ volatile("vmmcall" : "=a"(vm_rax) : "a"(0x7777L), "b"(kG), "c"(kG), "d"(kG), "S"(kG) : "memory"); }
static void ForgedStub(void) {
  const uint64_t* stubs = (const uint64_t*)dlsym(RTLD_DEFAULT, "ix_guest_exception_stubs");
  if (stubs == NULL) _exit(4);
  uint64_t* top = &forged_stack[512];
  Forge(top, CodeSelector(), StackSelector());
  __asm__ volatile("mov %0, %%rsp\n\tjmp *%1" ::"r"(top - 6), "r"(stubs[14]) : "memory");
}
static void ForgedStore(void) {
  uint64_t* top = &forged_stack[512];
  Forge(top, CodeSelector(), StackSelector());
  __asm__ volatile("mov %0, %%rsp\n\tmovabs %%eax, 0xfffff88000001000" ::"r"(top - 7) : "memory");
  _exit(5);  /* not reached: the hypercall continued after itself */
}

/* Reports the fault address on stderr (the parent reads it) and ends the child. */
static void OnSignal(int sig, siginfo_t* si, void* ctx) {
  (void)ctx;
  dprintf(2, "fault-addr %p\n", si->si_addr);
  _exit(100 + sig);
}

/* Runs fn in a child; *killed_msg gets the first "ix-run:" line it wrote on stderr. Returns the
 * wait status, or -1 if the child did not end within 10 s (it is killed then). */
static int InChild(void (*fn)(void), char* msg, size_t n, uint64_t* fault_addr) {
  char path[] = "/tmp/hostile_hc_err_XXXXXX";
  int err = mkstemp(path);
  unlink(path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err, 2);
    struct sigaction sa = {0};
    sa.sa_sigaction = OnSignal;
    sa.sa_flags = SA_SIGINFO;
    int sigs[] = {SIGSEGV, SIGILL, SIGBUS, SIGTRAP, SIGFPE};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); ++i) sigaction(sigs[i], &sa, NULL);
    vm_rax = 0x7777;
    fn();
    _exit(vm_rax == 0x7777 ? 1 : 2);  /* the instruction completed (2: vmcall set rax) */
  }
  int st = 0, done = 0;
  for (int i = 0; i < 1000 && !(done = waitpid(pid, &st, WNOHANG) == pid); ++i) usleep(10000);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    st = -1;
  }
  char buf[1024];
  lseek(err, 0, SEEK_SET);
  long k = read(err, buf, sizeof(buf) - 1);
  buf[k > 0 ? k : 0] = 0;
  close(err);
  msg[0] = 0;
  *fault_addr = 0;
  char* fa = strstr(buf, "fault-addr ");
  if (fa != NULL) *fault_addr = strtoul(fa + 11, NULL, 16);
  char* l = strstr(buf, "ix-run:");
  if (l) snprintf(msg, n, "%.*s", (int)strcspn(l, "\n"), l);
  return st;
}

static void Privileged(const char* name, void (*fn)(void), int forged, int vmcall) {
  char msg[256];
  uint64_t addr;
  int st = InChild(fn, msg, sizeof(msg), &addr);
  char how[384];
  int ok = 0;
  if (st == -1) {
    snprintf(how, sizeof(how), "did not end within 10 s");
  } else if (WIFEXITED(st) && WEXITSTATUS(st) > 100) {
    snprintf(how, sizeof(how), "signal %s at 0x%lx", sigabbrev_np(WEXITSTATUS(st) - 100), addr);
    /* A forged frame must be refused as one, not turned into a signal, unless the exception
     * hypercall page itself is out of the program's reach (supervisor-only, from ring 3). */
    ok = !forged || (WEXITSTATUS(st) - 100 == SIGSEGV && addr == IX_HC_EXCEPTION_GVA);
  } else if (WIFSIGNALED(st)) {
    snprintf(how, sizeof(how), "killed by SIG%s, '%s'", sigabbrev_np(WTERMSIG(st)), msg);
    ok = strncmp(msg, "ix-run:", 7) == 0 &&
         (!forged || (WTERMSIG(st) == SIGSYS && strstr(msg, "forged exception report") != NULL));
  } else if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && vmcall) {
    /* KVM answered the hypercall itself: its error numbers are -1000 (KVM_ENOSYS), -1 (EPERM). */
    snprintf(how, sizeof(how), "returned KVM's answer (the child's rax is not visible here)");
    ok = 1;
  } else {
    snprintf(how, sizeof(how), "exit status %d (1: the instruction completed, 3: the forged frame was "
             "believed, 4: no stubs symbol, 5: the store continued)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  if (ok && st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2) printf("%s survived (%s)\n", name, how);
  else if (ok) printf("%s refused 1/1 (%s)\n", name, how);
  else printf("%s BREACH %s\n", name, how);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  uintptr_t base = RegionOrExit();
  long expect = 0;
  expect += UnknownNumbers();
  expect += HighNumberSemantics(base);
  Privileged("priv-out", Out, 0, 0);
  Privileged("priv-in", In, 0, 0);
  Privileged("priv-hlt", Hlt, 0, 0);
  Privileged("priv-vmcall", Vmcall, 0, 1);
  Privileged("priv-vmmcall", Vmmcall, 0, 1);
  Privileged("priv-forged-stub", ForgedStub, 1, 0);
  Privileged("priv-forged-store", ForgedStore, 1, 0);
  printf("expect-violations %ld\n", expect);
  printf("done\n");
  return 0;
}

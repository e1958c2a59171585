/* Hostile guest program, attack class 3 of issue 13: RFLAGS smuggled in through r11. The VMM
 * returns from a syscall hypercall with the RFLAGS the guest hands it in r11 (as sysret does), so
 * it must drop what a Linux program cannot set itself: IOPL (which would give a ring-3 guest cli,
 * sti and port I/O), VM, VIF and VIP. Attacks, each with r11 = IOPL 3, VM, VIF, VIP, AC and all of
 * them at once (never TF, which would only single-step the program):
 *  - rflags-syscall: a plain `syscall` (the CPU itself overwrites r11 with RFLAGS there, so this
 *    is the control);
 *  - rflags-hypercall: the LSTAR stub's store to the syscall hypercall page done directly, with
 *    rcx and the poisoned r11 chosen by the program (what ring-0 or hostile code can do);
 *  - rflags-cli-control: cli faults in ring 3 before any attack (else rflags-cli proves nothing);
 *  - rflags-cli: after each of those, `cli` must still raise SIGSEGV in ring 3 (in ring 0 it is
 *    legal: not attacked there);
 *  - rflags-fork: a raw fork through the hypercall page with r11 poisoned: the child's first
 *    instruction after the fork reads RFLAGS (pushfq), and in ring 3 the child's cli must fault.
 * Right after each pushfq the flags are reset to 0x202 (AC would make unaligned accesses fault). */
#include "hostile.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define kBad ((3ul << 12) | (1ul << 17) | (1ul << 19) | (1ul << 20)) /* IOPL, VM, VIF, VIP */
static const uint64_t kPoison[] = {0x3202, 0x20202, 0x80202, 0x100202, 0x40202, 0x1f3202};
#define kNPoison (sizeof(kPoison) / sizeof(kPoison[0]))

/* `syscall` with r11 preloaded; returns RFLAGS right after it. */
static uint64_t PlainSyscall(uint64_t r11, long nr, long* ret) {
  uint64_t flags;
  register uint64_t r11v __asm__("r11") = r11;
  __asm__ volatile(
      "syscall\n\t"
      "pushfq\n\t"
      "popq %%rdx\n\t"
      "pushq $0x202\n\t"
      "popfq\n\t"
      : "+a"(nr), "=d"(flags), "+r"(r11v)
      :
      : "rcx", "memory", "cc");
  *ret = nr;
  return flags;
}

/* The syscall hypercall made by hand: rcx = where to continue, r11 = the RFLAGS to continue with. */
static uint64_t DirectHypercall(uint64_t r11, long nr, long* ret) {
  uint64_t flags;
  register uint64_t r11v __asm__("r11") = r11;
  __asm__ volatile(
      "leaq 1f(%%rip), %%rcx\n\t"
      "movabs %%eax, 0xfffff88000000000\n\t"
      "1:\n\t"
      "pushfq\n\t"
      "popq %%rdx\n\t"
      "pushq $0x202\n\t"
      "popfq\n\t"
      : "+a"(nr), "=d"(flags), "+r"(r11v)
      :
      : "rcx", "memory", "cc");
  *ret = nr;
  return flags;
}

static sigjmp_buf jump;
static void OnSegv(int sig) {
  (void)sig;
  siglongjmp(jump, 1);
}

/* 1 if `cli` faulted (as it must in ring 3 without IOPL 3), 0 if it ran. */
static int CliFaults(void) {
  struct sigaction sa = {0}, old;
  sa.sa_handler = OnSegv;
  sigaction(SIGSEGV, &sa, &old);
  int faulted = 1;
  if (sigsetjmp(jump, 1) == 0) {
    __asm__ volatile("cli" ::: "memory");
    __asm__ volatile("sti" ::: "memory");  /* only reached if cli ran: undo it */
    faulted = 0;
  }
  sigaction(SIGSEGV, &old, NULL);
  return faulted;
}

/* Runs one kind of call with every poison; returns the number of clean returns. */
static int Attack(const char* name, uint64_t (*call)(uint64_t, long, long*), int ring, long* cli_ok, long* cli_n,
                  char* cli_detail, size_t cli_len) {
  int clean = 0;
  char detail[512] = "";
  size_t dl = 0;
  for (size_t i = 0; i < kNPoison; ++i) {
    long ret;
    uint64_t f = call(kPoison[i], SYS_getpid, &ret);
    int ok = (f & kBad) == 0 && ret == getpid();
    if (ok) ++clean;
    else dl += snprintf(detail + dl, sizeof(detail) - dl, " r11=0x%lx->rflags=0x%lx,ret=%ld", kPoison[i], f, ret);
    if (ring == 3) {
      call(kPoison[i], SYS_getpid, &ret);
      ++*cli_n;
      if (CliFaults()) ++*cli_ok;
      else if (strlen(cli_detail) + 40 < cli_len) {
        snprintf(cli_detail + strlen(cli_detail), cli_len - strlen(cli_detail), " %s r11=0x%lx", name, kPoison[i]);
      }
    }
  }
  if (clean == (int)kNPoison) printf("%s refused %d/%d\n", name, clean, (int)kNPoison);
  else printf("%s BREACH privileged RFLAGS bits survived:%s\n", name, detail);
  return clean;
}

/* fork through the hypercall page with r11 poisoned. The child reports its first RFLAGS and (ring
 * 3) whether cli faulted in its exit status: 0 clean, 1 bad flags, 2 cli ran. */
static void ForkAttack(int ring) {
  int clean = 0;
  char detail[512] = "";
  size_t dl = 0;
  for (size_t i = 0; i < kNPoison; ++i) {
    long nr = SYS_fork;
    uint64_t flags;
    register uint64_t r11v __asm__("r11") = kPoison[i];
    __asm__ volatile(
        "leaq 1f(%%rip), %%rcx\n\t"
        "movabs %%eax, 0xfffff88000000000\n\t"
        "1:\n\t"
        "pushfq\n\t"
        "popq %%rdx\n\t"
        "pushq $0x202\n\t"
        "popfq\n\t"
        : "+a"(nr), "=d"(flags), "+r"(r11v)
        :
        : "rcx", "memory", "cc");
    if (nr == 0) {
      if (flags & kBad) _exit(1);
      if (ring == 3 && !CliFaults()) _exit(2);
      _exit(0);
    }
    int st = -1;
    if (nr > 0) waitpid(nr, &st, 0);
    if (nr > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) ++clean;
    else dl += snprintf(detail + dl, sizeof(detail) - dl, " r11=0x%lx: fork=%ld status=0x%x", kPoison[i], nr, st);
  }
  if (clean == (int)kNPoison) printf("rflags-fork refused %d/%d\n", clean, (int)kNPoison);
  else printf("rflags-fork BREACH (child status 1: IOPL/VM/VIF/VIP in its RFLAGS, 2: its cli ran):%s\n", detail);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RegionOrExit();
  int ring = GuestRing();
  long cli_ok = 0, cli_n = 0;
  char cli_detail[512] = "";
  /* The control: cli before any attack, with the flags and selectors the program starts with. */
  if (ring == 3) {
    uint64_t f, cs, ss;
    __asm__ volatile("pushfq\n\tpopq %0\n\tmov %%cs, %1\n\tmov %%ss, %2" : "=r"(f), "=r"(cs), "=r"(ss));
    if (CliFaults()) printf("rflags-cli-control ok (cli faults before any attack)\n");
    else printf("rflags-cli-control FAILED cli ran in ring 3 before any attack (rflags 0x%lx cs 0x%lx ss 0x%lx)\n", f, cs, ss);
  }
  Attack("rflags-syscall", PlainSyscall, ring, &cli_ok, &cli_n, cli_detail, sizeof(cli_detail));
  Attack("rflags-hypercall", DirectHypercall, ring, &cli_ok, &cli_n, cli_detail, sizeof(cli_detail));
  if (ring != 3) printf("rflags-cli survived (ring %d: cli is legal there, not attacked)\n", ring);
  else if (cli_ok == cli_n) printf("rflags-cli refused %ld/%ld\n", cli_ok, cli_n);
  else printf("rflags-cli BREACH cli ran in ring 3 after:%s\n", cli_detail);
  ForkAttack(ring);
  printf("expect-violations 0\n");
  printf("done\n");
  return 0;
}

/* Hostile guest program: every syscall number with every argument in turn pointing into the
 * VMM-private region, then pointers just below the low guard whose lengths reach into it,
 * syscall numbers with high bits set (the kernel uses only the low 32 bits of rax), and int 0x80.
 *
 * What is asserted, precisely (the VMM's own argument-count table is being regenerated, so this
 * program keeps its own, kNargs below, the x86-64 signatures of Linux 6.18):
 *  - index < the true argument count: the result must be -EFAULT (or -ENOSYS/-EPERM for the calls
 *    ix-run refuses outright: io_uring_*, io_submit, ptrace, bpf, userfaultfd), or -ENOSYS when the running
 *    kernel lacks the call (counted apart as "absent"). Anything else means the call reached the
 *    kernel with a VMM address: a BREACH line lists each "nr:index=result".
 *  - index >= the true count: the kernel ignores that argument, so any result is accepted; the
 *    program only has to survive (the other arguments are chosen so that the call is harmless
 *    when forwarded).
 *  - numbers with no syscall: -ENOSYS or -EFAULT.
 *  - the memory-management calls the VMM checks itself (mmap, mprotect, munmap, madvise, mlock,
 *    munlock, msync, remap_file_pages, mremap, brk, shmat, pkey_mprotect): any result (mm.c
 *    attacks them properly); exit, exit_group, rt_sigreturn, pause, vhangup, setsid: not called.
 * The refusals the program saw ("sweep refused N/M") must each have been counted by the VMM: the
 * test checks protection_violations >= N + the other refusals printed as "expect-violations K".
 * That catches calls the VMM forwarded and the kernel then failed with EFAULT on its own. */
#include "hostile.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define kMaxNr 470

/* True argument counts of the x86-64 syscalls, from the kernel's SYSCALL_DEFINEn; -1: no such
 * syscall on x86-64 (removed or never wired up). */
static const struct {
  short nr;
  signed char n;
} kNargsList[] = {
    {0, 3},   {1, 3},   {2, 3},   {3, 1},   {4, 2},   {5, 2},   {6, 2},   {7, 3},   {8, 3},   {9, 6},
    {10, 3},  {11, 2},  {12, 1},  {13, 4},  {14, 4},  {15, 0},  {16, 3},  {17, 4},  {18, 4},  {19, 3},
    {20, 3},  {21, 2},  {22, 1},  {23, 5},  {24, 0},  {25, 5},  {26, 3},  {27, 3},  {28, 3},  {29, 3},
    {30, 3},  {31, 3},  {32, 1},  {33, 2},  {34, 0},  {35, 2},  {36, 2},  {37, 1},  {38, 3},  {39, 0},
    {40, 4},  {41, 3},  {42, 3},  {43, 3},  {44, 6},  {45, 6},  {46, 3},  {47, 3},  {48, 2},  {49, 3},
    {50, 2},  {51, 3},  {52, 3},  {53, 4},  {54, 5},  {55, 5},  {56, 5},  {57, 0},  {58, 0},  {59, 3},
    {60, 1},  {61, 4},  {62, 2},  {63, 1},  {64, 3},  {65, 3},  {66, 4},  {67, 1},  {68, 2},  {69, 4},
    {70, 5},  {71, 3},  {72, 3},  {73, 2},  {74, 1},  {75, 1},  {76, 2},  {77, 2},  {78, 3},  {79, 2},
    {80, 1},  {81, 1},  {82, 2},  {83, 2},  {84, 1},  {85, 2},  {86, 2},  {87, 1},  {88, 2},  {89, 3},
    {90, 2},  {91, 2},  {92, 3},  {93, 3},  {94, 3},  {95, 1},  {96, 2},  {97, 2},  {98, 2},  {99, 1},
    {100, 1}, {101, 4}, {102, 0}, {103, 3}, {104, 0}, {105, 1}, {106, 1}, {107, 0}, {108, 0}, {109, 2},
    {110, 0}, {111, 0}, {112, 0}, {113, 2}, {114, 2}, {115, 2}, {116, 2}, {117, 3}, {118, 3}, {119, 3},
    {120, 3}, {121, 1}, {122, 1}, {123, 1}, {124, 1}, {125, 2}, {126, 2}, {127, 2}, {128, 4}, {129, 3},
    {130, 2}, {131, 2}, {132, 2}, {133, 3}, {134, 1}, {135, 1}, {136, 2}, {137, 2}, {138, 2}, {139, 3},
    {140, 2}, {141, 3}, {142, 2}, {143, 2}, {144, 3}, {145, 1}, {146, 1}, {147, 1}, {148, 2}, {149, 2},
    {150, 2}, {151, 1}, {152, 0}, {153, 0}, {154, 3}, {155, 2}, {156, -1}, {157, 5}, {158, 2}, {159, 1},
    {160, 2}, {161, 1}, {162, 0}, {163, 1}, {164, 2}, {165, 5}, {166, 2}, {167, 2}, {168, 1}, {169, 4},
    {170, 2}, {171, 2}, {172, 1}, {173, 3}, {174, -1}, {175, 3}, {176, 2}, {177, -1}, {178, -1},
    {179, 4}, {180, -1}, {181, -1}, {182, -1}, {183, -1}, {184, -1}, {185, -1}, {186, 0}, {187, 3},
    {188, 5}, {189, 5}, {190, 5}, {191, 4}, {192, 4}, {193, 4}, {194, 3}, {195, 3}, {196, 3}, {197, 2},
    {198, 2}, {199, 2}, {200, 2}, {201, 1}, {202, 6}, {203, 3}, {204, 3}, {205, 1}, {206, 2}, {207, 1},
    {208, 5}, {209, 3}, {210, 3}, {211, 1}, {212, 3}, {213, 1}, {214, -1}, {215, -1}, {216, 5},
    {217, 3}, {218, 1}, {219, 0}, {220, 4}, {221, 4}, {222, 3}, {223, 4}, {224, 2}, {225, 1}, {226, 1},
    {227, 2}, {228, 2}, {229, 2}, {230, 4}, {231, 1}, {232, 4}, {233, 4}, {234, 3}, {235, 2}, {236, -1},
    {237, 6}, {238, 3}, {239, 5}, {240, 4}, {241, 1}, {242, 5}, {243, 5}, {244, 2}, {245, 3}, {246, 4},
    {247, 5}, {248, 5}, {249, 4}, {250, 5}, {251, 3}, {252, 2}, {253, 0}, {254, 3}, {255, 2}, {256, 4},
    {257, 4}, {258, 3}, {259, 4}, {260, 5}, {261, 3}, {262, 4}, {263, 3}, {264, 4}, {265, 5}, {266, 3},
    {267, 4}, {268, 3}, {269, 3}, {270, 6}, {271, 5}, {272, 1}, {273, 2}, {274, 3}, {275, 6}, {276, 4},
    {277, 4}, {278, 4}, {279, 6}, {280, 4}, {281, 6}, {282, 3}, {283, 2}, {284, 1}, {285, 4}, {286, 4},
    {287, 2}, {288, 4}, {289, 4}, {290, 2}, {291, 1}, {292, 3}, {293, 2}, {294, 1}, {295, 5}, {296, 5},
    {297, 4}, {298, 5}, {299, 5}, {300, 2}, {301, 5}, {302, 4}, {303, 5}, {304, 3}, {305, 2}, {306, 1},
    {307, 4}, {308, 2}, {309, 3}, {310, 6}, {311, 6}, {312, 5}, {313, 3}, {314, 3}, {315, 4}, {316, 5},
    {317, 3}, {318, 3}, {319, 2}, {320, 5}, {321, 3}, {322, 5}, {323, 1}, {324, 3}, {325, 3}, {326, 6},
    {327, 6}, {328, 6}, {329, 4}, {330, 2}, {331, 1}, {332, 5}, {333, 6}, {334, 4}, {424, 4}, {425, 2},
    {426, 6}, {427, 4}, {428, 3}, {429, 5}, {430, 2}, {431, 5}, {432, 3}, {433, 3}, {434, 2}, {435, 2},
    {436, 3}, {437, 4}, {438, 3}, {439, 4}, {440, 5}, {441, 6}, {442, 5}, {443, 4}, {444, 3}, {445, 4},
    {446, 2}, {447, 1}, {448, 2}, {449, 5}, {450, 4}, {451, 4}, {452, 4}, {453, 3}, {454, 4}, {455, 6},
    {456, 4}, {457, 4}, {458, 4}, {459, 4}, {460, 4}, {461, 3}, {462, 3}, {463, 6}, {464, 6}, {465, 5},
    {466, 4}, {467, 5}, {468, 5}, {469, 5},
};
static signed char nargs[kMaxNr];

/* Not called at all: they end the program, block forever or need a signal frame whatever their
 * arguments (rt_sigreturn, pause, exit, exit_group), or change the session (vhangup, setsid).
 * 335 (unassigned on x86-64) raises SIGILL natively on the 6.18 kvm_pvm development kernel. */
static int NotCalled(int nr) {
  return nr == SYS_rt_sigreturn || nr == SYS_pause || nr == SYS_exit || nr == SYS_exit_group ||
         nr == SYS_vhangup || nr == SYS_setsid || nr == 335;
}

/* The VMM checks these itself (vmm/syscalls.cc SysMemory): mm.c attacks them. */
static int OwnMemoryCheck(int nr) {
  switch (nr) {
    case SYS_mmap: case SYS_mprotect: case SYS_pkey_mprotect: case SYS_munmap: case SYS_madvise:
    case SYS_mlock: case SYS_munlock: case SYS_msync: case SYS_remap_file_pages: case SYS_mremap:
    case SYS_brk: case SYS_shmat:
      return 1;
  }
  return 0;
}

/* Calls ix-run refuses whatever their arguments: io_uring_* and io_submit (ENOSYS), ptrace,
 * bpf and userfaultfd (EPERM). EFAULT is accepted for them too. */
static int RefusedOutright(int nr) {
  return nr == SYS_io_uring_setup || nr == SYS_io_uring_enter || nr == SYS_io_uring_register ||
         nr == SYS_io_submit || nr == SYS_ptrace || nr == SYS_bpf || nr == SYS_userfaultfd;
}

static struct timeval tv0;
static struct timespec ts0;

/* Arguments that make each call harmless when it is forwarded with one argument replaced: zero,
 * except where zero would block, change the host (sethostname with length 0, IPC_RMID = 0 on
 * IPC id 0, seccomp strict mode, fchmod of fd 0) or create IPC objects. */
static void Benign(int nr, long a[6]) {
  memset(a, 0, 6 * sizeof(long));
  switch (nr) {
    case SYS_select: a[4] = (long)&tv0; break;
    case SYS_pselect6: a[4] = (long)&ts0; break;
    case SYS_ppoll: a[2] = (long)&ts0; break;
    case SYS_futex: a[3] = (long)&ts0; break;
    case SYS_sethostname: case SYS_setdomainname: a[1] = 1000; break;  /* > __NEW_UTS_LEN: EINVAL */
    case SYS_seccomp: a[0] = 0xffff; break;
    case SYS_setpgid: a[0] = -1; break;
    case SYS_shmget: case SYS_semget: case SYS_msgget: a[0] = 0x49580001; break;  /* no IPC_CREAT */
    case SYS_shmat: case SYS_shmctl: case SYS_semctl: case SYS_msgctl: case SYS_semop:
    case SYS_semtimedop: case SYS_msgsnd: case SYS_msgrcv:
      a[0] = -1;
      break;
    case SYS_fchmod: case SYS_fchown: case SYS_futimesat: case SYS_utimensat: case SYS_kexec_file_load:
    case SYS_finit_module:
      a[0] = -1;
      break;
    case SYS_kexec_load: a[3] = 0xffff0000; break;  /* bad flags: EINVAL, never an unload */
  }
}

static volatile long progress;
static volatile int current_nr = -1;
static pid_t main_tid;

static void OnUsr1(int sig) { (void)sig; }

/* Interrupts a forwarded call that blocks (it would be a breach anyway) so the sweep goes on. */
static void* Watchdog(void* arg) {
  (void)arg;
  long last = -1;
  for (;;) {
    struct timespec d = {2, 0};
    nanosleep(&d, NULL);
    if (progress == last && progress >= 0) {
      fprintf(stderr, "sweep: syscall %d blocked; interrupting it\n", current_nr);
      syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
    }
    last = progress;
  }
  return NULL;
}

static int Sweep(uintptr_t base, long* refused_out) {
  uintptr_t priv = base + 0x1000;
  long refused = 0, expected = 0, absent = 0, beyond = 0, nbreach = 0;
  char breaches[4096];
  size_t blen = 0;
  breaches[0] = 0;
  int memfd = memfd_create("hostile-sweep", 0);  /* fd 0 during the sweep: harmless to any call */
  int devnull = open("/dev/null", O_RDONLY);
  dup2(memfd, 0);
  int first_free = memfd > devnull ? memfd + 1 : devnull + 1;
  for (int nr = 0; nr < kMaxNr; ++nr) {
    if (NotCalled(nr)) continue;
    int n = nargs[nr];
    for (int idx = 0; idx < 6; ++idx) {
      long a[6];
      Benign(nr, a);
      a[idx] = (long)priv;
      current_nr = nr;
      long r = RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      ++progress;
      if ((nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone) && r == 0) _exit(0);
      if ((nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone) && r > 0) waitpid(r, NULL, __WALL);
      if (r >= first_free && r < 1024 && nr != SYS_getpid && nr != SYS_gettid) close(r);
      if (nr == SYS_close || nr == SYS_close_range || nr == SYS_dup2 || nr == SYS_dup3) dup2(memfd, 0);
      int ok;
      if (OwnMemoryCheck(nr) || (n >= 0 && idx >= n)) {
        ++beyond;
        continue;
      }
      if (n < 0) {
        ok = r == -ENOSYS || r == -EFAULT;
      } else {
        ++expected;
        if (RefusedOutright(nr)) ok = r == -EPERM || r == -ENOSYS || r == -EFAULT;
        else if (r == -ENOSYS) { ++absent; ok = 1; --expected; continue; }
        else ok = r == -EFAULT;
        if (ok) ++refused;
      }
      if (!ok) {
        ++nbreach;
        if (blen < sizeof(breaches) - 64) blen += snprintf(breaches + blen, sizeof(breaches) - blen, " %d:%d=%ld", nr, idx, r);
      }
    }
  }
  progress = -1;
  close(0);
  dup2(devnull, 0);
  if (nbreach == 0) {
    printf("sweep refused %ld/%ld (absent on this kernel: %ld; beyond the argument count or checked "
           "by the VMM's memory calls, any result: %ld)\n", refused, expected, absent, beyond);
  } else {
    printf("sweep BREACH %ld calls not refused (nr:index=result):%s; refused %ld/%ld\n", nbreach, breaches,
           refused, expected);
  }
  *refused_out = refused;
  return 0;
}

/* Pointers just below the low guard with lengths reaching across the guard into the region. */
static long BelowGuard(char* page) {
  if (page == NULL) {
    printf("below-guard survived (the page below the guard is taken; not attacked)\n");
    return 0;
  }
  memset(page, 'B', 4096);
  int zero = open("/dev/zero", O_RDONLY);
  int p[2];
  if (pipe(p) != 0) abort();
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  size_t across = 4096 + HOSTILE_GUARD + 4096;
  struct iovec iov = {page, across};
  struct {
    const char* name;
    long r;
  } t[] = {
      {"read", RawSyscall6(SYS_read, zero, (long)page, across, 0, 0, 0)},
      {"read-into-guard", RawSyscall6(SYS_read, zero, (long)page, 4097, 0, 0, 0)},
      {"write", RawSyscall6(SYS_write, p[1], (long)page, across, 0, 0, 0)},
      {"readv", RawSyscall6(SYS_readv, zero, (long)&iov, 1, 0, 0, 0)},
      {"writev", RawSyscall6(SYS_writev, p[1], (long)&iov, 1, 0, 0, 0)},
  };
  long refused = 0, n = sizeof(t) / sizeof(t[0]);
  char detail[256] = "";
  size_t dl = 0;
  for (int i = 0; i < n; ++i) {
    if (t[i].r == -EFAULT) ++refused;
    else dl += snprintf(detail + dl, sizeof(detail) - dl, " %s=%ld", t[i].name, t[i].r);
  }
  if (refused == n) printf("below-guard refused %ld/%ld\n", refused, n);
  else printf("below-guard BREACH not refused:%s\n", detail);
  /* The same page with a length that stays below the guard must work: nothing over-refused. */
  long ok = RawSyscall6(SYS_read, zero, (long)page, 4096, 0, 0, 0);
  printf("below-guard-control %s\n", ok == 4096 ? "ok" : "BREACH (a legitimate read was refused)");
  close(zero);
  close(p[0]);
  close(p[1]);
  munmap(page, 4096);
  return refused;
}

/* rax = (1 << 32) | nr: the kernel runs syscall nr (it reads only eax); the VMM must not take
 * it for an unknown number and forward it unchecked. */
static long HighNumbers(uintptr_t base) {
  const long hi = 1L << 32;
  long expected_violations = 0;
  /* write() from the region into a pipe: anything read back is VMM memory. */
  int p[2];
  if (pipe(p) != 0) abort();
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  long w = RawSyscall6(hi | SYS_write, p[1], (long)(base + 0x1000), 64, 0, 0, 0);
  char got[64];
  long n = read(p[0], got, sizeof(got));
  if (w == -EFAULT || w == -ENOSYS) {
    printf("high-nr-write refused 1/1 (%s)\n", w == -EFAULT ? "EFAULT" : "ENOSYS");
    expected_violations += w == -EFAULT;
  } else {
    printf("high-nr-write BREACH write(pipe, VMM memory) with rax=0x%lx returned %ld, %ld bytes of VMM "
           "memory read back\n", hi | SYS_write, w, n);
  }
  close(p[0]);
  close(p[1]);
  /* io_uring_setup, which ix-run refuses outright. */
  char params[120];
  memset(params, 0, sizeof(params));
  long u = RawSyscall6(hi | SYS_io_uring_setup, 4, (long)params, 0, 0, 0, 0);
  if (u < 0) {
    printf("high-nr-io_uring refused 1/1 (%s)\n", strerrorname_np((int)-u));
  } else {
    printf("high-nr-io_uring BREACH io_uring_setup with rax=0x%lx gave fd %ld\n", hi | SYS_io_uring_setup, u);
    close((int)u);
  }
  /* ptrace, also refused outright: PTRACE_TRACEME in a child (its tracer is this process). */
  pid_t c = fork();
  if (c == 0) {
    long t = RawSyscall6(hi | SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0, 0, 0);
    _exit(t == 0 ? 1 : 0);
  }
  int st = 0;
  waitpid(c, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) printf("high-nr-ptrace refused 1/1\n");
  else printf("high-nr-ptrace BREACH ptrace(PTRACE_TRACEME) with rax=0x%lx succeeded (status 0x%x)\n", hi | SYS_ptrace, st);
  return expected_violations;
}

static sigjmp_buf jump;
static volatile int fault_sig;
static void OnFault(int sig) {
  fault_sig = sig;
  siglongjmp(jump, 1);
}

/* int 0x80 is the 32-bit syscall entry natively: in the guest it must fault, never reach Linux
 * past the VMM. eax 20 is the i386 getpid. */
static void Int80(void) {
  struct sigaction sa = {0};
  sa.sa_handler = OnFault;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  long r = -1;
  if (sigsetjmp(jump, 1) == 0) {
    long eax = 20;
    __asm__ volatile("int $0x80" : "+a"(eax) : : "memory");
    r = eax;
    printf("int80 BREACH int $0x80 getpid returned %ld (pid %d)\n", r, getpid());
  } else {
    printf("int80 refused 1/1 (%s)\n", strsignal(fault_sig));
  }
  signal(SIGSEGV, SIG_DFL);
  signal(SIGILL, SIG_DFL);
  signal(SIGBUS, SIG_DFL);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  uintptr_t base = RegionOrExit();
  memset(nargs, -1, sizeof(nargs));
  for (size_t i = 0; i < sizeof(kNargsList) / sizeof(kNargsList[0]); ++i) nargs[kNargsList[i].nr] = kNargsList[i].n;
  char* below = PageBelowGuard(base);  /* before any thread's stack can take its place */
  main_tid = gettid();
  struct sigaction sa = {0};
  sa.sa_handler = OnUsr1;  /* no SA_RESTART: a blocked call returns EINTR */
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t w;
  pthread_create(&w, NULL, Watchdog, NULL);
  long refused = 0;
  Sweep(base, &refused);
  long expect = refused;
  expect += BelowGuard(below);
  expect += HighNumbers(base);
  Int80();
  printf("expect-violations %ld\n", expect);
  printf("done\n");
  return 0;
}

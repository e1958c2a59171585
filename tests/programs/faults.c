// Faults whose address the guest exit does not report (kvm_pvm ring 3 exits with EFAULT): the
// program's handlers must still see what Linux shows them. Also that a signal handler's FPU use
// does not leak into the interrupted code. Prints offsets, never absolute addresses, so the
// output is the same natively and under ix-run.
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static sigjmp_buf jump;
static volatile int got_sig, got_code;
static char* volatile got_addr;
static volatile int unprotect;  // Dune/Appel style: the handler unprotects the page and returns

static void Handler(int sig, siginfo_t* si, void* ctx) {
  (void)ctx;
  got_sig = sig;
  got_code = si->si_code;
  got_addr = si->si_addr;
  if (unprotect) {
    mprotect((void*)((uintptr_t)si->si_addr & ~4095ul), 4096, PROT_READ | PROT_WRITE);
    return;
  }
  siglongjmp(jump, 1);
}

static void Clobber(int sig) {
  (void)sig;
  asm volatile("pcmpeqd %%xmm7, %%xmm7" ::: "xmm7");  // all ones
}

// Reports the fault `what` caused at `base + offset`.
static void Expect(const char* what, char* base) {
  printf("%s: signal %d code %d at +%ld\n", what, got_sig, got_code, (long)(got_addr - base));
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  signal(SIGUSR1, Clobber);

  // 1. xmm7 survives a handler that clobbers it.
  uint64_t before = 0x1122334455667788ull, after = 0;
  asm volatile(
      "movq %[in], %%xmm7\n\t"
      "mov $39, %%eax\n\t syscall\n\t mov %%eax, %%edi\n\t"    // getpid
      "mov %%edi, %%esi\n\t mov $10, %%edx\n\t mov $234, %%eax\n\t syscall\n\t"  // tgkill(pid, pid, SIGUSR1)
      "movq %%xmm7, %[out]"
      : [out] "=r"(after)
      : [in] "r"(before)
      : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "xmm7", "memory");
  printf("xmm7 across a handler: %s\n", after == before ? "kept" : "CLOBBERED");

  char* p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // 2. A write to a read-only page.
  mprotect(p + 4096, 4096, PROT_READ);
  if (sigsetjmp(jump, 1) == 0) p[4096 + 123] = 1;
  Expect("write to read-only", p);
  // 3. A read of a PROT_NONE page.
  mprotect(p + 4096, 4096, PROT_NONE);
  if (sigsetjmp(jump, 1) == 0) got_sig = p[4096 + 7];
  Expect("read of PROT_NONE", p);
  // 4. rep movsb into a read-only page: the copy stops at the page, as far as it got.
  mprotect(p + 4096, 4096, PROT_READ);
  memset(p, 0, 4096);
  static char src[256];
  memset(src, 'x', sizeof(src));
  char* dst = p + 4096 - 100;
  if (sigsetjmp(jump, 1) == 0) {
    void* d = dst;
    const void* s = src;
    size_t n = sizeof(src);
    asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  }
  Expect("rep movsb across", p);
  printf("rep movsb copied %d bytes before the fault\n", (int)(strspn(dst, "x")));
  // 5. Appel-Li: the handler unprotects the faulting page and the write is retried.
  unprotect = 1;
  int traps = 0;
  for (int i = 0; i < 50; ++i) {
    mprotect(p, 3 * 4096, PROT_READ);
    got_sig = 0;
    p[(i % 3) * 4096 + i] = (char)i;
    traps += got_sig == SIGSEGV;
  }
  unprotect = 0;
  printf("appel: %d traps, last write %s\n", traps, p[2 * 4096 + 47] == 47 ? "landed" : "LOST");
  // 6. SIGBUS past the end of a file mapping.
  char path[] = "/tmp/ix_faults_XXXXXX";
  int fd = mkstemp(path);
  unlink(path);
  if (ftruncate(fd, 4096) != 0) return 1;
  char* f = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0);
  if (sigsetjmp(jump, 1) == 0) got_sig = f[4096 + 5];
  Expect("read past end of file", f);
  return 0;
}

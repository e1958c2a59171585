// avx_live: vector registers stay intact where Linux keeps them: across syscalls, across a signal
// whose handler uses the same registers, into a fork child, and MXCSR into a new thread. Checks
// AVX2's ymm0-15 and, where the CPU and OS have AVX-512, zmm0-31. Prints the same natively and
// under ix-run; a guest with the wrong XCR0 or CPUID dies of SIGILL here instead.
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kYmmBytes = 16 * 32, kZmmBytes = 32 * 64 };
static uint8_t in_buf[kZmmBytes] __attribute__((aligned(64)));
static uint8_t out_buf[kZmmBytes] __attribute__((aligned(64)));
static uint8_t junk[kZmmBytes] __attribute__((aligned(64)));
static volatile int handled;

static uint64_t xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int have_avx2(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
  if ((xcr0() & 0x6) != 0x6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & bit_AVX2) != 0;
}

static int have_avx512(void) {
  unsigned a, b, c, d;
  if (!have_avx2() || (xcr0() & 0xe0) != 0xe0 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & bit_AVX512F) != 0;
}

// ymm0-15 from / to the 512 bytes at operand p (an asm operand name such as "%[in]").
#define YMM_LOAD(p) ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n vmovdqu \\r*32(" p "), %%ymm\\r\n .endr\n"
#define YMM_STORE(p) ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n vmovdqu %%ymm\\r, \\r*32(" p ")\n .endr\n"
#define YMM_CLOBBERS                                                                         \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
      "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// Loads ymm0-15 from in_buf, makes syscall `nr` (arg0, arg1) `count` times with nothing else in
// between, stores ymm0-15 to out_buf. Returns the last syscall's result.
static long ymm_across_syscalls(long nr, long arg0, long arg1, int count) {
  long ret;
  __asm__ volatile(YMM_LOAD("%[in]")
                   "1:\n mov %[nr], %%rax\n mov %[a0], %%rdi\n mov %[a1], %%rsi\n syscall\n"
                   " dec %[n]\n jnz 1b\n" YMM_STORE("%[out]")
                   : "=&a"(ret), [n] "+r"(count)
                   : [in] "r"(in_buf), [out] "r"(out_buf), [nr] "r"(nr), [a0] "r"(arg0), [a1] "r"(arg1)
                   : "rdi", "rsi", "rcx", "r11", "memory", YMM_CLOBBERS);
  return ret;
}

// The same with zmm0-31 (AVX-512F). Only these asm-only functions are compiled for AVX-512.
__attribute__((target("avx512f"), noinline)) static void zmm_across_syscalls(long nr, long arg0, long arg1, int count) {
  __asm__ volatile(
      ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
      " vmovdqu64 \\r*64(%[in]), %%zmm\\r\n .endr\n"
      "1:\n mov %[nr], %%rax\n mov %[a0], %%rdi\n mov %[a1], %%rsi\n syscall\n dec %[n]\n jnz 1b\n"
      ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
      " vmovdqu64 %%zmm\\r, \\r*64(%[out])\n .endr\n"
      : [n] "+r"(count)
      : [in] "r"(in_buf), [out] "r"(out_buf), [nr] "r"(nr), [a0] "r"(arg0), [a1] "r"(arg1)
      : "rax", "rdi", "rsi", "rcx", "r11", "memory", YMM_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19",
        "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
        "xmm30", "xmm31");
}

__attribute__((target("avx512f"), noinline)) static void clobber_zmm(void) {
  __asm__ volatile(
      ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
      " vmovdqu64 \\r*64(%0), %%zmm\\r\n .endr\n" ::"r"(junk)
      : "memory", YMM_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

// A handler that overwrites every register the interrupted code keeps live.
static void on_signal(int sig) {
  (void)sig;
  if (have_avx512()) {
    clobber_zmm();
  } else {
    __asm__ volatile(YMM_LOAD("%0")::"r"(junk) : "memory", YMM_CLOBBERS);
  }
  handled++;
}

static const char* verdict(size_t bytes) { return memcmp(in_buf, out_buf, bytes) == 0 ? "kept" : "CLOBBERED"; }

static void* thread_mxcsr(void* arg) {
  uint32_t m;
  __asm__ volatile("stmxcsr %0" : "=m"(m));
  *(uint32_t*)arg = m;
  return NULL;
}

int main(void) {
  for (size_t i = 0; i < sizeof(in_buf); ++i) {
    in_buf[i] = (uint8_t)(i * 131 + 7);
    junk[i] = (uint8_t)~in_buf[i];
  }
  if (!have_avx2()) {
    printf("avx2: absent\n");
    return 0;
  }
  signal(SIGUSR1, on_signal);
  long pid = getpid();

  memset(out_buf, 0, sizeof(out_buf));
  ymm_across_syscalls(SYS_getpid, 0, 0, 1000);
  printf("ymm across 1000 getpid: %s\n", verdict(kYmmBytes));
  memset(out_buf, 0, sizeof(out_buf));
  ymm_across_syscalls(SYS_kill, pid, SIGUSR1, 3);
  printf("ymm across 3 signals whose handler clobbers them: %s (handled %d)\n", verdict(kYmmBytes), handled);

  fflush(stdout);
  memset(out_buf, 0, sizeof(out_buf));
  long child = ymm_across_syscalls(SYS_fork, 0, 0, 1);
  if (child == 0) _exit(memcmp(in_buf, out_buf, kYmmBytes) == 0 ? 0 : 1);
  int status = -1;
  waitpid((pid_t)child, &status, 0);
  printf("ymm into a fork child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "kept" : "CLOBBERED");

  // MXCSR (rounding toward zero, flush to zero) is inherited by a new thread.
  uint32_t mine = 0x7f80 | 0x8000, theirs = 0, saved;
  __asm__ volatile("stmxcsr %0" : "=m"(saved));
  __asm__ volatile("ldmxcsr %0" ::"m"(mine));
  pthread_t th;
  pthread_create(&th, NULL, thread_mxcsr, &theirs);
  pthread_join(th, NULL);
  __asm__ volatile("ldmxcsr %0" ::"m"(saved));
  printf("mxcsr into a new thread: %s\n", theirs == mine ? "kept" : "CHANGED");

  if (have_avx512()) {
    memset(out_buf, 0, sizeof(out_buf));
    zmm_across_syscalls(SYS_getpid, 0, 0, 1000);
    const char* a = verdict(kZmmBytes);
    memset(out_buf, 0, sizeof(out_buf));
    zmm_across_syscalls(SYS_kill, pid, SIGUSR1, 3);
    printf("avx512 zmm0-31 across getpid: %s, across signals: %s\n", a, verdict(kZmmBytes));
  } else {
    printf("avx512: absent\n");
  }
  return 0;
}

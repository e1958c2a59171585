/* Hostile guest program, attack class 2 (d) of issue 13: execve races. A forked child starts a
 * racer thread and execs the helper (exec_helper.c) while the racer rewrites what the VMM checks:
 *  - env-*: envp[0] flips between "FOO=bar" and an injection: "LD_PRELOAD=/nonexistent-evil.so",
 *    "IX_ALLOW_EXIT=1" or "IX_POLICY=/tmp/x";
 *  - path-dyn-sta: the path string flips between the dynamic and the static helper;
 *  - file-swap: the path stays, but the racer exchanges the symlinks to the dynamic and to the
 *    static helper it leads to (a check of the file followed by the kernel's own open of the path
 *    is a TOCTOU; MakeSlowPath widens its window);
 *  - file-rewrite: the path and the file stay, but the racer rewrites the file's bytes between
 *    those of the dynamic and of the static helper (open, write, close, again and again, from a
 *    thread of this process), behind a slow path of its own;
 *  - exec-bad-interp: a copy of the dynamic helper whose PT_INTERP names the static helper (the
 *    kernel would start it natively as the "dynamic loader");
 *  - exec-elf32: a 32-bit x86 program (the kernel's compat mode ignores a 64-bit preload).
 * An exec that fails (the child reports "execve failed") counts as refused for the last five.
 * The helper reports whether it runs under ix and what it sees. BREACH: the helper runs outside
 * ix, sees IX_ALLOW_EXIT or IX_POLICY, can leave the guest, has an LD_PRELOAD that does not start
 * with ix's libixrun.so, or sends no report. An injected LD_PRELOAD that arrives after ix's own is
 * what the VMM documents for a program's own preloads (exec_args.h), not a breach: it is counted.
 *
 * Every exec builds a new VM (and the fork one before it), so this runs far fewer attempts than
 * the other races: IX_HOSTILE_EXEC_ATTEMPTS, default 200 (about 4 ms an attempt natively here,
 * ring 3 on kvm_pvm; in the TCG test VM about 0.3 s, so hostile_test.cc asks for fewer there),
 * and at most IX_HOSTILE_SECONDS per attack. */
#include "hostile.h"

#include <elf.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char dyn_path[4096], sta_path[4096];
static char err_path[] = "/tmp/hostile_exec_err_XXXXXX";

struct Counts {
  long attempts, benign, injected, refused, breaches;
  char detail[512];
};

/* Checks one helper report; `injected_env` is the variable the racer tried to inject ("" for
 * none). Returns 1 when the racer's value was taken (for the counts), 0 for the benign one, -1
 * for a breach (detail filled). */
static int Judge(const char* rep, const char* injected_env, char* detail, size_t n) {
  if (rep == NULL) {
    snprintf(detail, n, "no report from the exec'd helper");
    return -1;
  }
  char kind[8] = "", pre[1024] = "";
  int ix = -1, ring = -9, allow = -1, policy = -1, foo = -1;
  long gexit = 1;
  if (sscanf(rep, "report kind=%7s ix=%d ring=%d ld_preload=%1023s allow_exit=%d policy=%d foo=%d guest_exit=%ld", kind,
             &ix, &ring, pre, &allow, &policy, &foo, &gexit) != 8) {
    snprintf(detail, n, "unparsable report '%.300s'", rep);
    return -1;
  }
  const char* why = NULL;
  if (ix != 1 || ring < 0) why = "the helper runs outside ix";
  else if (allow) why = "IX_ALLOW_EXIT reached the helper";
  else if (policy) why = "IX_POLICY reached the helper";
  else if (gexit == 0) why = "the helper left the guest";
  else if (strncmp(pre, "-", 2) == 0 || strstr(strtok(strdup(pre), ":"), "libixrun") == NULL) {
    why = "LD_PRELOAD does not start with ix's libixrun.so";
  }
  if (why) {
    snprintf(detail, n, "%s: %.400s", why, rep);
    return -1;
  }
  if (*injected_env == 0) return strcmp(kind, "sta") == 0;  /* path races: which image ran */
  if (strncmp(injected_env, "LD_PRELOAD=", 11) == 0) return strstr(pre, injected_env + 11) != NULL;
  return !foo;  /* the copy took the injected IX_* string (and the VMM dropped it) */
}

/* The racer of the file-swap attack: exchanges two symlinks, to the dynamic and to the static
 * helper, one rename a step (RENAME_EXCHANGE: the path always exists). */
static char swap_target[4200], swap_other[4200], swap_exec_path[4200];
static volatile int swap_stop;
static void* SwapLoop(void* arg) {
  (void)arg;
  while (!swap_stop) RawSyscall6(SYS_renameat2, AT_FDCWD, (long)swap_target, AT_FDCWD, (long)swap_other, 2 /* RENAME_EXCHANGE */, 0);
  return NULL;
}

/* dir/P0 -> ./././.../P1 -> ... -> ./././.../FINAL (P: the prefix letter): 30 symlinks of ~4000
 * bytes of "./" that the kernel walks (60,000 path steps) between the VMM's look at the file and
 * its own open of it, which widens the window to milliseconds. The path to exec goes to `out`. */
static void MakeSlowPath(const char* dir, char prefix, const char* final, char* out, size_t out_len) {
  enum { kLinks = 30 };
  static char body[4096];
  for (int i = kLinks - 1; i >= 0; --i) {
    size_t n = 0;
    while (n + 2 + 16 < 4000) {
      memcpy(body + n, "./", 2);
      n += 2;
    }
    if (i == kLinks - 1) snprintf(body + n, sizeof(body) - n, "%s", final);
    else snprintf(body + n, sizeof(body) - n, "%c%d", prefix, i + 1);
    char link[4200];
    snprintf(link, sizeof(link), "%s/%c%d", dir, prefix, i);
    if (symlink(body, link) != 0) abort();
  }
  snprintf(out, out_len, "%s/%c0", dir, prefix);
}

static void RemoveSlowPath(const char* dir, char prefix) {
  for (int i = 0; i < 30; ++i) {
    char link[4200];
    snprintf(link, sizeof(link), "%s/%c%d", dir, prefix, i);
    unlink(link);
  }
}

/* The racer of the file-rewrite attack: the file alternates between the two helpers' bytes. A
 * writer's open waits while an exec holds the file (the VMM's lease) and fails with ETXTBSY once the
 * file runs; the exec fails with ETXTBSY while the file is open here. */
static char rewrite_path[4200], rewrite_exec_path[4200];
static char *dyn_bytes, *sta_bytes;
static long dyn_len, sta_len;
static void* RewriteLoop(void* arg) {
  (void)arg;
  for (int i = 0; !swap_stop; ++i) {
    int fd = open(rewrite_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) continue;  /* ETXTBSY once the exec has begun */
    if (write(fd, i % 2 ? dyn_bytes : sta_bytes, i % 2 ? dyn_len : sta_len) < 0) {}
    close(fd);
  }
  return NULL;
}

static char* ReadWhole(const char* path, long* len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) abort();
  *len = lseek(fd, 0, SEEK_END);
  char* b = malloc(*len);
  if (b == NULL || pread(fd, b, *len, 0) != *len) abort();
  close(fd);
  return b;
}

static void WriteFile(const char* path, const void* b, long len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (fd < 0 || write(fd, b, len) != len) abort();
  close(fd);
}

/* The dynamic helper with its PT_INTERP pointed at `interp` (which must fit in the old string). */
static char interp_exec_path[4200];
static void MakeBadInterp(const char* interp) {
  char* b = malloc(dyn_len);
  memcpy(b, dyn_bytes, dyn_len);
  Elf64_Ehdr* eh = (Elf64_Ehdr*)b;
  Elf64_Phdr* ph = (Elf64_Phdr*)(b + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type != PT_INTERP) continue;
    if (strlen(interp) + 1 > ph[i].p_filesz) abort();
    memset(b + ph[i].p_offset, 0, ph[i].p_filesz);
    memcpy(b + ph[i].p_offset, interp, strlen(interp));
  }
  WriteFile(interp_exec_path, b, dyn_len);
  free(b);
}

/* A 32-bit x86 program that writes "native32" to descriptor `fd` and exits 0. */
static char elf32_path[4200];
static void MakeElf32(int fd) {
  static const char msg[] = "native32 (32-bit code ran)\n";
  unsigned char b[256] = {0};
  Elf32_Ehdr* eh = (Elf32_Ehdr*)b;
  Elf32_Phdr* ph = (Elf32_Phdr*)(b + sizeof(*eh));
  const uint32_t base = 0x08048000, code = sizeof(*eh) + sizeof(*ph);
  memcpy(eh->e_ident, ELFMAG, SELFMAG);
  eh->e_ident[EI_CLASS] = ELFCLASS32;
  eh->e_ident[EI_DATA] = ELFDATA2LSB;
  eh->e_ident[EI_VERSION] = EV_CURRENT;
  eh->e_type = ET_EXEC;
  eh->e_machine = EM_386;
  eh->e_version = EV_CURRENT;
  eh->e_entry = base + code;
  eh->e_phoff = sizeof(*eh);
  eh->e_ehsize = sizeof(*eh);
  eh->e_phentsize = sizeof(*ph);
  eh->e_phnum = 1;
  unsigned char* c = b + code;
  const uint32_t msg_at = code + 31;
  uint32_t words[4] = {4, (uint32_t)fd, base + msg_at, sizeof(msg) - 1};
  const unsigned char ops[4] = {0xb8, 0xbb, 0xb9, 0xba};  /* mov imm32 to eax, ebx, ecx, edx */
  for (int i = 0; i < 4; ++i) {
    *c++ = ops[i];
    memcpy(c, &words[i], 4);
    c += 4;
  }
  const unsigned char tail[] = {0xcd, 0x80, 0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80};  /* int 0x80; exit(0) */
  memcpy(c, tail, sizeof(tail));
  memcpy(b + msg_at, msg, sizeof(msg) - 1);
  ph->p_type = PT_LOAD;
  ph->p_vaddr = ph->p_paddr = base;
  ph->p_filesz = ph->p_memsz = msg_at + sizeof(msg) - 1;
  ph->p_flags = PF_R | PF_X;
  ph->p_align = 4096;
  WriteFile(elf32_path, b, ph->p_filesz);
}

enum Kind { kEnv, kPath, kSwap, kRewrite, kBadInterp, kElf32 };

/* Runs one attack (fork, racer, execve, wait, judge) unless `only` names another. */
static const char* only;
static long expected_violations;  /* refusals of what would run natively: the VMM counts each */
static void Attack(const char* name, enum Kind kind, const char* injected) {
  if (only != NULL && strcmp(only, name) != 0) return;
  int rep[2];
  if (pipe2(rep, O_NONBLOCK) != 0) abort();
  char fdarg[16];
  snprintf(fdarg, sizeof(fdarg), "%d", rep[1]);
  struct Counts c = {0};
  long attempts = EnvLong("IX_HOSTILE_EXEC_ATTEMPTS", 200);
  if (kind >= kBadInterp && attempts > 3) attempts = 3;  /* no race: each attempt is the same */
  if (kind == kElf32) MakeElf32(rep[1]);
  /* The rewriter runs in this process, not in the child: the child's exec would kill it in the
   * middle of a write and leave a broken file behind for the next attempt. */
  pthread_t rewriter;
  swap_stop = 0;
  if (kind == kRewrite && pthread_create(&rewriter, NULL, RewriteLoop, NULL) != 0) abort();
  double t0 = NowSeconds();
  int err = open(err_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  char other[256] = "";
  for (c.attempts = 0; c.attempts < attempts && NowSeconds() - t0 < BoundSeconds(); ++c.attempts) {
    ftruncate(err, 0);
    lseek(err, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(err, 2);
      /* Static storage the racer rewrites: the child's own copy after fork. */
      static char path[4096] __attribute__((aligned(8)));
      static char* envp[2];
      static char* argv[3];
      argv[0] = "hostile_exec";
      argv[1] = fdarg;
      argv[2] = NULL;
      envp[0] = "FOO=bar";
      envp[1] = NULL;
      struct Flipper f;
      pthread_t swapper;
      if (kind == kEnv) {
        snprintf(path, sizeof(path), "%s", dyn_path);
        StartFlipper(&f, &envp[0], 8, (uint64_t)envp[0], (uint64_t)injected);
      } else if (kind == kPath) {
        /* The two paths differ only in their last three bytes ("dyn"/"sta"), which main() put in
         * one aligned word: that word flips. */
        size_t len = strlen(dyn_path), word = (len - 3) & ~7ul;
        snprintf(path, sizeof(path), "%s", dyn_path);
        uint64_t a, b;
        char alt[4096] __attribute__((aligned(8)));
        memset(alt, 0, sizeof(alt));
        memcpy(alt, sta_path, strlen(sta_path) + 1);
        memcpy(&a, path + word, 8);
        memcpy(&b, alt + word, 8);
        StartFlipper(&f, path + word, 8, a, b);
      } else if (kind == kSwap) {
        snprintf(path, sizeof(path), "%.4000s", swap_exec_path);
        swap_stop = 0;
        if (pthread_create(&swapper, NULL, SwapLoop, NULL) != 0) abort();
      } else if (kind == kRewrite) {
        snprintf(path, sizeof(path), "%.4000s", rewrite_exec_path);
      } else {
        snprintf(path, sizeof(path), "%.4000s", kind == kBadInterp ? interp_exec_path : elf32_path);
      }
      long r = RawSyscall6(SYS_execve, (long)path, (long)argv, (long)envp, 0, 0, 0);
      dprintf(rep[1], "execve failed %ld\n", r);
      _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    char line[2048];
    long n = read(rep[0], line, sizeof(line) - 1);
    const char* got = NULL;
    if (n > 0) {
      line[n] = 0;
      char* nl = strchr(line, '\n');
      if (nl) *nl = 0;
      got = line;
    }
    /* What the child wrote on stderr, apart from ld.so's complaint about the evil preload. */
    char errbuf[16384];
    lseek(err, 0, SEEK_SET);
    long en = read(err, errbuf, sizeof(errbuf) - 1);
    errbuf[en > 0 ? en : 0] = 0;
    const char* stderr_line = NULL;
    for (char* l = strtok(errbuf, "\n"); l; l = strtok(NULL, "\n")) {
      if (strstr(l, "nonexistent-evil") == NULL) {
        stderr_line = l;
        break;
      }
    }
    char d[sizeof(c.detail)];
    int v = Judge(got, kind == kEnv ? injected : "", d, sizeof(d));
    if (v < 0 && kind >= kSwap && got != NULL && strncmp(got, "execve failed", 13) == 0) {
      ++c.refused;  /* ETXTBSY while the racer writes, EPERM / ENOEXEC for what would run natively */
    } else if (v < 0 && got == NULL && kind == kSwap && WIFEXITED(st) && WEXITSTATUS(st) == 126 && stderr_line &&
        strstr(stderr_line, "ix-run: cannot load static program") && strstr(stderr_line, "dynamically linked")) {
      ++c.refused;  /* classified static, swapped to dynamic before ix-exec-static opened it: refused */
    } else if (v < 0) {
      if (c.breaches++ == 0) {
        snprintf(c.detail, sizeof(c.detail), "%.300s (child status 0x%x; stderr '%.150s')", d, st,
                 stderr_line ? stderr_line : "");
      }
    } else {
      if (v == 1) ++c.injected;
      else ++c.benign;
      if (stderr_line && !*other) snprintf(other, sizeof(other), " stderr='%.200s'", stderr_line);
    }
  }
  close(err);
  if (kind == kRewrite) {
    swap_stop = 1;
    pthread_join(rewriter, NULL);
  }
  if (kind >= kBadInterp) expected_violations += c.refused;
  const char* a = kind == kEnv ? "benign" : "dyn";
  const char* b = kind == kEnv ? "injected" : "sta";
  if (c.breaches == 0) {
    printf("%s ok attempts=%ld %s=%ld %s=%ld refused=%ld%s\n", name, c.attempts, a, c.benign, b, c.injected,
           c.refused, other);
  } else {
    printf("%s BREACH %ld of %ld attempts: %s (%s=%ld %s=%ld)%s\n", name, c.breaches, c.attempts, c.detail, a,
           c.benign, b, c.injected, other);
  }
  close(rep[0]);
  close(rep[1]);
}

/* `hostile_exec_race [ATTACK]`: all attacks, or only the one named (a reproducer). */
int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  only = argc > 1 ? argv[1] : NULL;
  RegionOrExit();
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) abort();
  self[n] = 0;
  /* dir/././hostile_exec_dyn: as many "./" as put the differing "dyn"/"sta" in one aligned word. */
  char* dir = dirname(self);
  for (int k = 0; k < 4; ++k) {
    char pad[16] = "";
    for (int i = 0; i < k; ++i) strcat(pad, "./");
    snprintf(dyn_path, sizeof(dyn_path), "%s/%shostile_exec_dyn", dir, pad);
    size_t o = strlen(dyn_path) - 3;
    if ((o & 7) <= 5) break;
  }
  snprintf(sta_path, sizeof(sta_path), "%.*ssta", (int)strlen(dyn_path) - 3, dyn_path);
  if (access(dyn_path, X_OK) != 0 || access(sta_path, X_OK) != 0) {
    printf("exec BREACH helpers missing: %s %s\n", dyn_path, sta_path);
    return 1;
  }
  int efd = mkstemp(err_path);
  close(efd);
  char tmpl[] = "/tmp/hostile_exec_XXXXXX";
  if (mkdtemp(tmpl) == NULL) abort();
  snprintf(swap_target, sizeof(swap_target), "%s/target", tmpl);
  snprintf(swap_other, sizeof(swap_other), "%s/other", tmpl);
  if (symlink(dyn_path, swap_target) != 0 || symlink(sta_path, swap_other) != 0) abort();
  MakeSlowPath(tmpl, 's', "target", swap_exec_path, sizeof(swap_exec_path));

  Attack("exec-env-ld_preload", kEnv, "LD_PRELOAD=/nonexistent-evil.so");
  Attack("exec-env-ix_allow_exit", kEnv, "IX_ALLOW_EXIT=1");
  Attack("exec-env-ix_policy", kEnv, "IX_POLICY=/tmp/x");
  Attack("exec-path-dyn-sta", kPath, NULL);
  Attack("exec-file-swap", kSwap, NULL);
  dyn_bytes = ReadWhole(dyn_path, &dyn_len);
  sta_bytes = ReadWhole(sta_path, &sta_len);
  snprintf(rewrite_path, sizeof(rewrite_path), "%s/rewrite", tmpl);
  WriteFile(rewrite_path, dyn_bytes, dyn_len);
  MakeSlowPath(tmpl, 'r', "rewrite", rewrite_exec_path, sizeof(rewrite_exec_path));
  Attack("exec-file-rewrite", kRewrite, NULL);
  char interp_link[64];
  snprintf(interp_link, sizeof(interp_link), "%s/i", tmpl);  /* shorter than glibc's loader path */
  if (symlink(sta_path, interp_link) != 0) abort();
  snprintf(interp_exec_path, sizeof(interp_exec_path), "%s/badinterp", tmpl);
  MakeBadInterp(interp_link);
  Attack("exec-bad-interp", kBadInterp, NULL);
  snprintf(elf32_path, sizeof(elf32_path), "%s/elf32", tmpl);
  Attack("exec-elf32", kElf32, NULL);
  unlink(rewrite_path);
  unlink(interp_link);
  unlink(interp_exec_path);
  unlink(elf32_path);

  RemoveSlowPath(tmpl, 's');
  RemoveSlowPath(tmpl, 'r');
  unlink(swap_other);
  unlink(swap_target);
  rmdir(tmpl);
  unlink(err_path);
  printf("expect-violations %ld\n", expected_violations);
  printf("done\n");
  return 0;
}

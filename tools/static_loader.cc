// ix-exec-static: brings a statically linked program under ix-run. ix-run (and the VMM, when a
// program under ix-run execs a static one) starts this loader with libixrun.so preloaded, so the
// loader already runs in the guest when main() starts. It maps the program's PT_LOAD segments as
// the kernel would, builds the initial stack (argc, argv, envp, auxv), and jumps to the program's
// entry point; the program then runs in the guest with every syscall a hypercall.
//
// Usage (internal; ix-run and the VMM build the command line):
//   ix-exec-static [--fd=N] PROGRAM ARGV0 [ARGS...]
//
// Differences from a kernel exec, documented in the README: /proc/self/exe names this loader, the
// program's brk heap follows the loader's, and the loader's own few system calls are counted in
// --stats.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
uint64_t PageDown(uint64_t v) { return v & ~(kPage - 1); }
uint64_t PageUp(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

[[noreturn]] void Die(const char* program, const char* what) {
  fprintf(stderr, "ix-run: cannot load static program %s: %s\n", program, what);
  _exit(126);
}

int ProtOf(uint32_t flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

struct Image {
  uint64_t entry = 0;
  uint64_t phdr = 0;  // where the program headers are in memory
  uint64_t phnum = 0;
};

// Maps every PT_LOAD segment of `fd` (an ET_EXEC at its addresses, an ET_DYN static-pie anywhere).
Image MapProgram(const char* path, int fd) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  GElf_Ehdr eh;
  size_t phnum = 0;
  if (elf == nullptr || gelf_getehdr(elf, &eh) == nullptr || elf_getphdrnum(elf, &phnum) != 0) {
    Die(path, "not a readable ELF file");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) Die(path, "not an x86-64 ELF");
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) Die(path, "not an executable");
  std::vector<GElf_Phdr> ph(phnum);
  uint64_t lo = ~0ull, hi = 0;
  for (size_t i = 0; i < phnum; ++i) {
    if (gelf_getphdr(elf, static_cast<int>(i), &ph[i]) == nullptr) Die(path, "bad program header");
    if (ph[i].p_type == PT_INTERP) Die(path, "dynamically linked (ix-run preloads those directly)");
    if (ph[i].p_type != PT_LOAD) continue;
    lo = std::min<uint64_t>(lo, PageDown(ph[i].p_vaddr));
    hi = std::max<uint64_t>(hi, PageUp(ph[i].p_vaddr + ph[i].p_memsz));
  }
  if (lo >= hi) Die(path, "no loadable segments");
  // Segments past the end of the file would fault (SIGBUS) at first touch: say so instead.
  struct stat st;
  if (fstat(fd, &st) != 0) Die(path, strerror(errno));
  for (const GElf_Phdr& p : ph) {
    if (p.p_type == PT_LOAD && p.p_offset + p.p_filesz > static_cast<uint64_t>(st.st_size)) {
      Die(path, "truncated (a segment lies past the end of the file)");
    }
  }

  // Reserve the whole span first, so segments never land on something else.
  uint64_t bias = 0;
  int reserve_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (eh.e_type == ET_EXEC) reserve_flags |= MAP_FIXED_NOREPLACE;
  void* span = mmap(eh.e_type == ET_EXEC ? reinterpret_cast<void*>(lo) : nullptr, hi - lo, PROT_NONE,
                    reserve_flags, -1, 0);
  if (span == MAP_FAILED) Die(path, "its addresses are taken by the loader (or out of memory)");
  if (eh.e_type == ET_DYN) bias = reinterpret_cast<uint64_t>(span) - lo;

  Image img;
  img.entry = bias + eh.e_entry;
  img.phnum = phnum;
  for (const GElf_Phdr& p : ph) {
    if (p.p_type == PT_PHDR) img.phdr = bias + p.p_vaddr;
    if (p.p_type != PT_LOAD) continue;
    uint64_t start = bias + PageDown(p.p_vaddr);
    uint64_t file_end = bias + p.p_vaddr + p.p_filesz;
    uint64_t mem_end = bias + p.p_vaddr + p.p_memsz;
    int prot = ProtOf(p.p_flags);
    if (p.p_filesz > 0) {
      uint64_t len = file_end - start;
      void* m = mmap(reinterpret_cast<void*>(start), len, prot | (p.p_memsz > p.p_filesz ? PROT_WRITE : 0),
                     MAP_PRIVATE | MAP_FIXED, fd, PageDown(p.p_offset));
      if (m == MAP_FAILED) Die(path, strerror(errno));
      if (p.p_memsz > p.p_filesz) {
        // The bss part of the last file page is zero, as the kernel leaves it.
        memset(reinterpret_cast<void*>(file_end), 0, PageUp(file_end) - file_end);
        if (!(prot & PROT_WRITE)) mprotect(reinterpret_cast<void*>(start), len, prot);
      }
    }
    uint64_t anon = PageUp(p.p_filesz > 0 ? file_end : start);
    if (mem_end > anon) {
      void* m = mmap(reinterpret_cast<void*>(anon), PageUp(mem_end) - anon, prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (m == MAP_FAILED) Die(path, strerror(errno));
    }
    if (img.phdr == 0 && eh.e_phoff >= p.p_offset && eh.e_phoff < p.p_offset + p.p_filesz) {
      img.phdr = bias + p.p_vaddr + (eh.e_phoff - p.p_offset);
    }
  }
  if (img.phdr == 0) Die(path, "program headers are not in a loaded segment");
  elf_end(elf);
  return img;
}

// Jumps to `entry` with the stack pointer at `sp` (argc), %rdx = 0 (no rtld fini), as the kernel
// starts a static program.
[[noreturn]] void Jump(uint64_t* sp, uint64_t entry) {
  asm volatile(
      "mov %0, %%rsp\n\t"
      "xor %%edx, %%edx\n\t"
      "xor %%ebp, %%ebp\n\t"
      "jmp *%1\n\t" ::"r"(sp), "r"(entry)
      : "memory");
  __builtin_unreachable();
}

// Builds the initial stack in this frame (the program's stack then grows down from it, on the
// process's main stack) and enters the program.
[[noreturn, gnu::noinline]] void Start(const char* path, const Image& img, int argc, char** argv) {
  alignas(16) uint64_t words[8192];
  size_t n = 0;
  auto push = [&](uint64_t v) {
    if (n >= sizeof(words) / sizeof(words[0])) Die(path, "argument list and environment too long");
    words[n++] = v;
  };
  alignas(16) static uint8_t random_bytes[16];
  if (getrandom(random_bytes, sizeof(random_bytes), 0) != sizeof(random_bytes)) Die(path, "getrandom failed");

  push(static_cast<uint64_t>(argc));
  for (int i = 0; i < argc; ++i) push(reinterpret_cast<uint64_t>(argv[i]));
  push(0);
  for (char** e = environ; *e != nullptr; ++e) push(reinterpret_cast<uint64_t>(*e));
  push(0);
  // The loader's own auxiliary vector, with the entries that describe the program replaced.
  auto aux = [&](uint64_t key, uint64_t value) {
    push(key);
    push(value);
  };
  aux(AT_PHDR, img.phdr);
  aux(AT_PHENT, sizeof(Elf64_Phdr));
  aux(AT_PHNUM, img.phnum);
  aux(AT_ENTRY, img.entry);
  aux(AT_BASE, 0);
  aux(AT_FLAGS, 0);
  aux(AT_EXECFN, reinterpret_cast<uint64_t>(path));
  aux(AT_RANDOM, reinterpret_cast<uint64_t>(random_bytes));
  for (uint64_t key : {AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP, AT_HWCAP2, AT_PAGESZ, AT_CLKTCK,
                       AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_PLATFORM}) {
    errno = 0;
    uint64_t v = getauxval(key);
    if (v != 0 || errno == 0) aux(key, v);
  }
  aux(AT_NULL, 0);
  Jump(words, img.entry);
}

}  // namespace

int main(int argc, char** argv) {
  // --fd=N: the program is open on descriptor N (the VMM opened and checked it; exec.cc), which
  // this loader inherits and closes; PROGRAM then only names it.
  int fd = -1;
  if (argc > 1 && strncmp(argv[1], "--fd=", 5) == 0) {
    char* end;
    long n = strtol(argv[1] + 5, &end, 10);
    if (*end != 0 || n < 0 || n > 1 << 20) {
      fprintf(stderr, "ix-exec-static: bad %s\n", argv[1]);
      return 2;
    }
    fd = static_cast<int>(n);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    --argc;
    ++argv;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: ix-exec-static [--fd=N] PROGRAM ARGV0 [ARGS...] (started by ix-run)\n");
    return 2;
  }
  const char* path = argv[1];
  if (fd < 0) fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "ix-run: %s: %s\n", path, strerror(errno));
    return errno == ENOENT ? 127 : 126;
  }
  Image img = MapProgram(path, fd);
  close(fd);
  const char* base = strrchr(path, '/');
  prctl(PR_SET_NAME, base ? base + 1 : path);  // what ps and /proc/self/comm show
  Start(path, img, argc - 2, argv + 2);
}

// Checks whether ix-run can run a program (see elf_check.h).
#include "tools/elf_check.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ix::tools {

absl::Status CheckRunnable(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(strerror(errno));
  char magic[4] = {};
  ssize_t n = pread(fd, magic, sizeof(magic), 0);
  if (n >= 2 && magic[0] == '#' && magic[1] == '!') {
    close(fd);
    return absl::OkStatus();
  }
  if (n < 4 || memcmp(magic, ELFMAG, SELFMAG) != 0) {
    close(fd);
    return absl::OkStatus();  // not ELF: let execve decide (and report) as the shell would
  }
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  absl::Status result = absl::OkStatus();
  GElf_Ehdr ehdr;
  size_t nphdr = 0;
  if (elf == nullptr || gelf_getehdr(elf, &ehdr) == nullptr || elf_getphdrnum(elf, &nphdr) != 0) {
    result = absl::InvalidArgumentError(std::string("unreadable ELF file: ") + elf_errmsg(-1));
  } else if (gelf_getclass(elf) != ELFCLASS64 || ehdr.e_machine != EM_X86_64) {
    result = absl::InvalidArgumentError("not an x86-64 ELF program");
  } else {
    bool has_interp = false;
    for (size_t i = 0; i < nphdr; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, i, &ph) != nullptr && ph.p_type == PT_INTERP) has_interp = true;
    }
    if (!has_interp) {
      result = absl::FailedPreconditionError(
          "statically linked: ix-run brings a program under the VMM through the dynamic loader "
          "(LD_PRELOAD) and cannot yet run static executables; it will not run it unprotected");
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return result;
}

}  // namespace ix::tools

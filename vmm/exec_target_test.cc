// Unit tests of execve target classification and holding (exec_target.h), on real files.
#include "vmm/exec_target.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void WriteAll(const std::string& path, const std::string& bytes, mode_t mode = 0755) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

long ReadString(void* ctx, void* buf, size_t n, long offset) {
  const auto* s = static_cast<const std::string*>(ctx);
  if (offset < 0 || static_cast<size_t>(offset) > s->size()) return -EINVAL;
  size_t k = std::min(n, s->size() - offset);
  memcpy(buf, s->data() + offset, k);
  return static_cast<long>(k);
}

struct Classified {
  ExecTarget target;
  std::string interp, arg;
};

Classified Classify(const std::string& bytes) {
  Classified c;
  char interp[256] = {}, arg[256] = {};
  c.target = ClassifyContent(bytes.data(), static_cast<long>(std::min<size_t>(bytes.size(), 256)), ReadString,
                             const_cast<std::string*>(&bytes), interp, arg);
  c.interp = interp;
  c.arg = arg;
  return c;
}

// /bin/true with its PT_INTERP string replaced by `interp` (NUL-padded to the old size).
std::string WithInterp(const std::string& interp) {
  std::string b = ReadAll("/bin/true");
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(b.data());
  for (int i = 0; i < eh->e_phnum; ++i) {
    const auto* ph = reinterpret_cast<const Elf64_Phdr*>(b.data() + eh->e_phoff + i * sizeof(Elf64_Phdr));
    if (ph->p_type != PT_INTERP) continue;
    EXPECT_LE(interp.size() + 1, ph->p_filesz);
    std::string padded = interp;
    padded.resize(ph->p_filesz, '\0');
    b.replace(ph->p_offset, ph->p_filesz, padded);
  }
  return b;
}

TEST(ExecTargetTest, ScriptLinesParseAsTheKernelDoes) {
  Classified sh = Classify("#!/bin/sh\necho hi\n");
  EXPECT_EQ(sh.target, ExecTarget::kScript);
  EXPECT_EQ(sh.interp, "/bin/sh");
  EXPECT_EQ(sh.arg, "");
  Classified env = Classify("#! \t/usr/bin/env  python3 -u \t\nprint(1)\n");
  EXPECT_EQ(env.target, ExecTarget::kScript);
  EXPECT_EQ(env.interp, "/usr/bin/env");
  EXPECT_EQ(env.arg, "python3 -u");
  Classified unterminated = Classify("#!/bin/sh");
  EXPECT_EQ(unterminated.target, ExecTarget::kScript);
  EXPECT_EQ(unterminated.interp, "/bin/sh");
  EXPECT_EQ(Classify("#!\n").target, ExecTarget::kUnknown);
  EXPECT_EQ(Classify("#!   \n").target, ExecTarget::kUnknown);
  // An interpreter name the 256-byte buffer cuts off: ENOEXEC in the kernel.
  EXPECT_EQ(Classify("#!/" + std::string(300, 'x')).target, ExecTarget::kUnknown);
  Classified long_arg = Classify("#!/bin/sh " + std::string(300, 'y'));  // only the argument is cut
  EXPECT_EQ(long_arg.target, ExecTarget::kScript);
  EXPECT_EQ(long_arg.interp, "/bin/sh");
}

TEST(ExecTargetTest, ElfKinds) {
  EXPECT_EQ(Classify(ReadAll("/bin/true")).target, ExecTarget::kPreloaded);
  EXPECT_EQ(Classify(ReadAll("/sbin/ldconfig")).target, ExecTarget::kStatic);  // Debian's is static-pie
  EXPECT_EQ(Classify(WithInterp("/tmp/x/i")).target, ExecTarget::kEscapes);
  EXPECT_EQ(Classify(WithInterp("/lib64/ld-linux-x86-64.so.2")).target, ExecTarget::kPreloaded);
  EXPECT_EQ(Classify(WithInterp("")).target, ExecTarget::kEscapes);
  std::string unterminated = WithInterp("/lib64/ld-linux-x86-64.so.2");
  unterminated.replace(unterminated.find("/lib64/ld-linux-x86-64.so.2") + 27, 1, "x");
  EXPECT_EQ(Classify(unterminated).target, ExecTarget::kForeign);
  std::string elf32 = ReadAll("/bin/true");
  elf32[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(Classify(elf32).target, ExecTarget::kForeign);
  std::string arm = ReadAll("/bin/true");
  arm[18] = static_cast<char>(EM_AARCH64);  // e_machine
  EXPECT_EQ(Classify(arm).target, ExecTarget::kForeign);
  std::string cut = ReadAll("/bin/true").substr(0, 200);  // program headers beyond the end
  EXPECT_EQ(Classify(cut).target, ExecTarget::kForeign);
  EXPECT_EQ(Classify("MZ\x90\x00 not for this kernel").target, ExecTarget::kUnknown);
  EXPECT_EQ(Classify("echo no shebang\n").target, ExecTarget::kUnknown);
  EXPECT_EQ(Classify("").target, ExecTarget::kUnknown);
  EXPECT_EQ(Classify("\x7f" "ELF").target, ExecTarget::kForeign);  // a header cut short
}

TEST(ExecTargetTest, TrustedInterpretersAreExactNames) {
  EXPECT_TRUE(IsTrustedElfInterpreter("/lib64/ld-linux-x86-64.so.2", 27));
  EXPECT_FALSE(IsTrustedElfInterpreter("/lib64/ld-linux-x86-64.so.2x", 28));
  EXPECT_FALSE(IsTrustedElfInterpreter("/lib64/ld-linux-x86-64.so", 25));
  EXPECT_FALSE(IsTrustedElfInterpreter("/tmp/lib64/ld-linux-x86-64.so.2", 31));
}

class ExecFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/ix_exec_target_" + std::to_string(getpid());
    mkdir(dir_.c_str(), 0755);
    prog_ = dir_ + "/prog";
    WriteAll(prog_, ReadAll("/bin/true"));
  }
  void TearDown() override {
    for (const char* n : {"prog", "plain", "link"}) unlink((dir_ + "/" + n).c_str());
    rmdir((dir_ + "/sub").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, prog_;
};

TEST_F(ExecFileTest, HeldAgainstWriters) {
  ExecFile f;
  ASSERT_EQ(OpenExecFile(AT_FDCWD, prog_.c_str(), 0, &f), 0);
  EXPECT_EQ(f.target, ExecTarget::kPreloaded);
  EXPECT_FALSE(f.copied);
  // While held, a writer cannot open the file: it would wait for the exec; non-blocking it is told so.
  int w = open(prog_.c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_EQ(w, -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  CloseExecFile(&f);
  w = open(prog_.c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_GE(w, 0) << strerror(errno);
  // And a file someone has open for writing is busy, as the kernel's exec says.
  EXPECT_EQ(OpenExecFile(AT_FDCWD, prog_.c_str(), 0, &f), -ETXTBSY);
  close(w);
}

TEST_F(ExecFileTest, ErrorsAreExecvesErrors) {
  ExecFile f;
  EXPECT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/none").c_str(), 0, &f), -ENOENT);
  EXPECT_EQ(OpenExecFile(AT_FDCWD, (prog_ + "/x").c_str(), 0, &f), -ENOTDIR);
  mkdir((dir_ + "/sub").c_str(), 0755);
  EXPECT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/sub").c_str(), 0, &f), -EACCES);
  EXPECT_EQ(OpenExecFile(AT_FDCWD, "/dev/null", 0, &f), -EACCES);
  WriteAll(dir_ + "/plain", "#!/bin/sh\n", 0644);
  EXPECT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/plain").c_str(), 0, &f), -EACCES);  // no execute bit
  ASSERT_EQ(symlink(prog_.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/link").c_str(), AT_SYMLINK_NOFOLLOW, &f), -ELOOP);
  ASSERT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/link").c_str(), 0, &f), 0);
  CloseExecFile(&f);
}

TEST_F(ExecFileTest, RelativeToADescriptorAndTheDescriptorItself) {
  int dfd = open(dir_.c_str(), O_PATH | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ExecFile f;
  ASSERT_EQ(OpenExecFile(dfd, "prog", 0, &f), 0);
  EXPECT_EQ(f.target, ExecTarget::kPreloaded);
  CloseExecFile(&f);
  close(dfd);
  int pfd = open(prog_.c_str(), O_PATH);
  ASSERT_GE(pfd, 0);
  ASSERT_EQ(OpenExecFile(pfd, "", AT_EMPTY_PATH, &f), 0);
  EXPECT_EQ(f.target, ExecTarget::kPreloaded);
  CloseExecFile(&f);
  close(pfd);
  WriteAll(dir_ + "/plain", "#!/usr/bin/env python3 -u\n", 0755);
  ASSERT_EQ(OpenExecFile(AT_FDCWD, (dir_ + "/plain").c_str(), 0, &f), 0);
  EXPECT_EQ(f.target, ExecTarget::kScript);
  EXPECT_STREQ(f.interp, "/usr/bin/env");
  EXPECT_STREQ(f.interp_arg, "python3 -u");
  CloseExecFile(&f);
}

// Without leases (fs.leases-enable=0 stands in for a filesystem that has none) a file this process
// could write is copied into a sealed memfd, and the copy is what would run.
TEST_F(ExecFileTest, SealedCopyWhereNoLease) {
  const char* knob = "/proc/sys/fs/leases-enable";
  std::string old = ReadAll(knob);
  if (geteuid() != 0 || old.empty() || access(knob, W_OK) != 0) {
    GTEST_SKIP() << "needs root and a writable " << knob << " to turn leases off";
  }
  std::ofstream(knob) << "0\n";
  ExecFile f;
  long r = OpenExecFile(AT_FDCWD, prog_.c_str(), 0, &f);
  std::ofstream(knob) << old;
  ASSERT_EQ(r, 0);
  EXPECT_TRUE(f.copied);
  EXPECT_EQ(f.target, ExecTarget::kPreloaded);
  int seals = fcntl(f.fd, F_GET_SEALS);
  EXPECT_TRUE(seals & F_SEAL_WRITE) << seals;
  EXPECT_TRUE(seals & F_SEAL_SHRINK) << seals;
  EXPECT_EQ(ReadAll("/proc/self/fd/" + std::to_string(f.fd)), ReadAll(prog_));
  CloseExecFile(&f);
}

}  // namespace
}  // namespace ix::vmm

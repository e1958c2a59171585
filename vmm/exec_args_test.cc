// Unit tests of execve's copied vectors (exec_args.h): guest memory is this process's memory.
#include "vmm/exec_args.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

// Reads fail for the first page and for the page a test marks unreadable (g_guard).
uint64_t g_guard = 0;
bool Read(const void*, void* dst, uint64_t gva, size_t len) {
  if (gva < 4096 || (g_guard && gva < g_guard + 4096 && gva + len > g_guard)) return false;
  memcpy(dst, reinterpret_cast<const void*>(gva), len);
  return true;
}
const ArgCheckEnv kEnv{.forbidden = {0, 0}, .read = Read};

uint64_t Ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }

std::vector<std::string> Strings(char** v) {
  std::vector<std::string> out;
  for (; *v; ++v) out.emplace_back(*v);
  return out;
}

class ExecArgsTest : public testing::Test {
 protected:
  long Copy(const char* path, const std::vector<const char*>& argv, const std::vector<const char*>& envp,
            size_t arena_size = 1 << 20) {
    argv_ = argv;
    argv_.push_back(nullptr);
    envp_ = envp;
    envp_.push_back(nullptr);
    arena_.assign(arena_size, 0);
    ArgArena arena(arena_.data(), arena_.size());
    return CopyExecArgs(kEnv, Ptr(path), Ptr(argv_.data()), Ptr(envp_.data()), ix_, &arena, &img_);
  }
  bool InArena(const void* p) const { return p >= arena_.data() && p < arena_.data() + arena_.size(); }

  static constexpr char kExtra[] = "IX_RUN=1\0IX_RING=3\0";
  ExecEnvironment ix_{"/usr/lib/libixrun.so", kExtra, sizeof(kExtra) - 1};
  std::vector<const char*> argv_, envp_;
  std::vector<char> arena_;
  ExecImage img_;
};

TEST_F(ExecArgsTest, CopiesAndPutsIxFirst) {
  char arg1[] = "hello";
  ASSERT_EQ(Copy("/bin/echo", {"echo", arg1},
                 {"HOME=/root", "IX_POLICY=/tmp/evil", "LD_PRELOAD=/lib/theirs.so", "PATH=/bin"}),
            0);
  EXPECT_STREQ(img_.path, "/bin/echo");
  EXPECT_TRUE(InArena(img_.path));
  EXPECT_EQ(Strings(img_.argv), (std::vector<std::string>{"echo", "hello"}));
  EXPECT_TRUE(InArena(img_.argv) && InArena(img_.argv[1]));
  EXPECT_EQ(Strings(img_.envp),
            (std::vector<std::string>{"LD_PRELOAD=/usr/lib/libixrun.so:/lib/theirs.so", "IX_RUN=1", "IX_RING=3",
                                      "HOME=/root", "PATH=/bin"}));
  // The kernel reads only the copies: what the guest writes afterwards changes nothing.
  arg1[0] = 'J';
  argv_[1] = "LD_PRELOAD=/evil.so";
  EXPECT_STREQ(img_.argv[1], "hello");
}

TEST_F(ExecArgsTest, OwnPreloadNotRepeatedAndNullVectorsEmpty) {
  ASSERT_EQ(Copy("/bin/true", {"true"}, {"LD_PRELOAD=/usr/lib/libixrun.so", "LD_PRELOAD="}), 0);
  EXPECT_EQ(Strings(img_.envp),
            (std::vector<std::string>{"LD_PRELOAD=/usr/lib/libixrun.so", "IX_RUN=1", "IX_RING=3"}));
  ArgArena arena(arena_.data(), arena_.size());
  const char path[] = "/bin/true";
  ASSERT_EQ(CopyExecArgs(kEnv, Ptr(path), 0, 0, ix_, &arena, &img_), 0);
  EXPECT_EQ(img_.argv[0], nullptr);
  EXPECT_EQ(Strings(img_.envp).size(), 3u);
}

TEST_F(ExecArgsTest, LimitsAndFaults) {
  std::string long_arg(kMaxExecString, 'x');  // with its NUL one byte over MAX_ARG_STRLEN
  EXPECT_EQ(Copy("/bin/true", {"true", long_arg.c_str()}, {}, 4 << 20), -E2BIG);
  long_arg.pop_back();
  EXPECT_EQ(Copy("/bin/true", {"true", long_arg.c_str()}, {}, 4 << 20), 0);
  std::string long_path(kMaxExecPath, '/');
  EXPECT_EQ(Copy(long_path.c_str(), {"true"}, {}), -ENAMETOOLONG);
  EXPECT_EQ(Copy("/bin/true", {"true", reinterpret_cast<const char*>(8)}, {}), -EFAULT);
  EXPECT_EQ(Copy(reinterpret_cast<const char*>(16), {"true"}, {}), -EFAULT);
  EXPECT_EQ(Copy("/bin/true", {"true", long_arg.c_str()}, {}, 64 << 10), -E2BIG);  // arena full
}

TEST_F(ExecArgsTest, StringsEndingAtAnUnreadablePage) {
  // A string that ends on the last byte before an unreadable page, and one that straddles pages.
  char* pages = static_cast<char*>(mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(pages, MAP_FAILED);
  g_guard = Ptr(pages + 2 * 4096);
  char* edge = pages + 2 * 4096 - 4;
  memcpy(edge, "abc", 4);
  char* straddle = pages + 4096 - 3;
  memcpy(straddle, "12345", 6);
  EXPECT_EQ(Copy("/bin/true", {edge, straddle}, {}), 0);
  EXPECT_EQ(Strings(img_.argv), (std::vector<std::string>{"abc", "12345"}));
  edge[3] = 'd';  // now unterminated before the unreadable page
  EXPECT_EQ(Copy("/bin/true", {edge}, {}), -EFAULT);
  g_guard = 0;
  munmap(pages, 3 * 4096);
}

}  // namespace
}  // namespace ix::vmm

// Unit tests of the ix-run policy file parser.
#include "vmm/policy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "gtest/gtest.h"
#include "vmm/syscall_table.h"

namespace ix::vmm {
namespace {

TEST(Policy, RulesAndDefault) {
  absl::StatusOr<Policy> p = ParsePolicy(
      "# comment\n"
      "default deny EACCES\n"
      "getpid allow   # trailing comment\n"
      "\n"
      "ptrace kill\n"
      "openat deny\n"
      "39 allow\n"
      "socket deny 13\n",
      "t.policy");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->For(SYS_getpid).action, PolicyAction::kAllow);
  EXPECT_EQ(p->For(SYS_ptrace).action, PolicyAction::kKill);
  EXPECT_EQ(p->For(SYS_openat).action, PolicyAction::kDeny);
  EXPECT_EQ(p->For(SYS_openat).err, EPERM);
  EXPECT_EQ(p->For(SYS_socket).err, 13);
  EXPECT_EQ(p->For(SYS_read).action, PolicyAction::kDeny);
  EXPECT_EQ(p->For(SYS_read).err, EACCES);
  EXPECT_EQ(p->For(9999).action, PolicyAction::kDeny);
}

TEST(Policy, EmptyAllowsEverything) {
  absl::StatusOr<Policy> p = ParsePolicy("", "empty");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->For(SYS_execve).action, PolicyAction::kAllow);
  EXPECT_TRUE(AllowsEverything(*p));
  EXPECT_TRUE(AllowsEverything(*ParsePolicy("default allow\ngetpid allow\n", "f")));
  EXPECT_FALSE(AllowsEverything(*ParsePolicy("getpid deny\n", "f")));
  EXPECT_FALSE(AllowsEverything(*ParsePolicy("default kill\ngetpid allow\n", "f")));
}

TEST(Policy, SealedMemfdRoundTripAndCannotBeChanged) {
  absl::StatusOr<int> fd = SealPolicy("default deny EACCES\ngetpid allow\n");
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_LT(write(*fd, "x", 1), 0);  // sealed: no writes, no growing, no shrinking
  EXPECT_NE(ftruncate(*fd, 0), 0);
  EXPECT_NE(fcntl(*fd, F_ADD_SEALS, 0), 0);
  absl::StatusOr<Policy> p = LoadSealedPolicy(*fd);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->For(SYS_getpid).action, PolicyAction::kAllow);
  EXPECT_EQ(p->For(SYS_read).err, EACCES);
  close(*fd);

  // A descriptor anyone could still write is refused, whatever it holds.
  int open_fd = memfd_create("not-sealed", MFD_ALLOW_SEALING);
  ASSERT_GE(open_fd, 0);
  ASSERT_EQ(write(open_fd, "default allow\n", 14), 14);
  absl::StatusOr<Policy> bad = LoadSealedPolicy(open_fd);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a sealed policy memfd"), std::string::npos) << bad.status();
  close(open_fd);
  EXPECT_FALSE(LoadSealedPolicy(12345).ok());
}

TEST(Policy, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"getpid allow\ngtpid allow\n", "f:2: unknown syscall 'gtpid'"},
      {"getpid\n", "f:1: missing action"},
      {"getpid permit\n", "f:1: unknown action 'permit'"},
      {"\n\nread deny EBOGUS\n", "f:3: unknown errno 'EBOGUS'"},
      {"read allow now\n", "f:1: unexpected text"},
      {"9999 allow\n", "f:1: syscall number 9999 out of range"},
      {"read deny EPERM extra\n", "f:1: unexpected text"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Policy> p = ParsePolicy(c.text, "f");
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_NE(p.status().message().find(c.message), std::string::npos)
        << p.status().message() << " vs " << c.message;
  }
}

TEST(SyscallTable, NamesRoundTrip) {
  EXPECT_STREQ(SyscallName(SYS_getpid), "getpid");
  EXPECT_STREQ(SyscallName(SYS_exit_group), "exit_group");
  EXPECT_EQ(SyscallNumber("openat"), SYS_openat);
  EXPECT_EQ(SyscallName(-1), nullptr);
  EXPECT_EQ(SyscallName(100000), nullptr);
  EXPECT_EQ(ErrnoNumber("ENOENT"), ENOENT);
  EXPECT_FALSE(ErrnoNumber("nope").has_value());
}

}  // namespace
}  // namespace ix::vmm

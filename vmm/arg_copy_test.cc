// Unit tests of the copied syscall arguments (arg_copy.h): guest memory is this process's memory,
// and the forbidden range lies where nothing is mapped.
#include "vmm/arg_copy.h"

#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr uint64_t kLo = 0x100000000000ull;
constexpr uint64_t kHi = kLo + (256ull << 20);
constexpr int kVmmFd = 1000;
constexpr uint64_t kUnreadable = 0x10;  // a guest address the fake reader refuses

bool Read(const void*, void* dst, uint64_t gva, size_t len) {
  if (gva < 4096 || (gva < kHi && gva + len > kLo)) return false;
  memcpy(dst, reinterpret_cast<const void*>(gva), len);
  return true;
}
int g_writes_left = 1 << 30;  // a writer that starts failing after this many writes
bool Write(const void*, uint64_t gva, const void* src, size_t len) {
  if (gva < 4096 || g_writes_left-- <= 0) return false;
  memcpy(reinterpret_cast<void*>(gva), src, len);
  return true;
}
bool IsVmmFd(const void*, int fd) { return fd == kVmmFd; }

const ArgCheckEnv kEnv{.forbidden = {kLo, kHi}, .read = Read, .write = Write, .is_vmm_fd = IsVmmFd, .ctx = nullptr};

uint64_t Ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }
void* At(uint64_t a) { return reinterpret_cast<void*>(a); }

class ArgCopyTest : public testing::Test {
 protected:
  ArgVerdict Copy(long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                  uint64_t a4 = 0, uint64_t a5 = 0, size_t arena_size = sizeof(arena_)) {
    const uint64_t a[6] = {a0, a1, a2, a3, a4, a5};
    ArgArena arena(arena_, arena_size);
    g_writes_left = 1 << 30;
    return CopyInArgs(nr, a, kEnv, &arena, &c_);
  }
  bool InArena(uint64_t p) const { return p >= Ptr(arena_) && p < Ptr(arena_) + sizeof(arena_); }

  alignas(64) char arena_[128 << 10];
  ArgCopy c_;
};

TEST_F(ArgCopyTest, OtherCallsPassThrough) {
  ASSERT_EQ(Copy(SYS_write, 1, 0x5000, 10, 7, 8, 9), ArgVerdict::kOk);
  EXPECT_EQ(c_.ret, 0);
  EXPECT_EQ(c_.back, CopyBack::kNone);
  const uint64_t want[6] = {1, 0x5000, 10, 7, 8, 9};
  EXPECT_EQ(memcmp(c_.a, want, sizeof(want)), 0);
}

TEST_F(ArgCopyTest, IovecsAreCopiedThenChecked) {
  char a[8];
  iovec iov[3] = {{a, sizeof(a)}, {a, sizeof(a)}, {At(kLo - 4), 8}};
  EXPECT_EQ(Copy(SYS_readv, 0, Ptr(iov), 3), ArgVerdict::kFault);
  ASSERT_EQ(Copy(SYS_readv, 0, Ptr(iov), 2), ArgVerdict::kOk);
  ASSERT_TRUE(InArena(c_.a[1]));
  // The kernel reads the copy: rewriting the guest's vector after the check changes nothing.
  iov[0].iov_base = At(kLo);
  EXPECT_EQ(static_cast<iovec*>(At(c_.a[1]))[0].iov_base, a);
  EXPECT_EQ(c_.a[2], 2u);

  iovec many[100];
  for (auto& v : many) v = {a, sizeof(a)};
  many[69].iov_base = At(kLo);
  EXPECT_EQ(Copy(SYS_writev, 1, Ptr(many), 100), ArgVerdict::kFault);
  EXPECT_EQ(Copy(SYS_writev, 1, Ptr(many), 69), ArgVerdict::kOk);
  // Vectors the kernel refuses unread are left to it (EINVAL); an unreadable one is EFAULT.
  ASSERT_EQ(Copy(SYS_writev, 1, Ptr(many), 5000), ArgVerdict::kOk);
  EXPECT_EQ(c_.a[1], Ptr(many));
  ASSERT_EQ(Copy(SYS_writev, 1, kUnreadable, 2), ArgVerdict::kOk);
  EXPECT_EQ(c_.ret, -EFAULT);
}

TEST_F(ArgCopyTest, ProcessVmBothVectors) {
  char a[8];
  iovec good{a, sizeof(a)}, bad{At(kLo + 64), 8};
  EXPECT_EQ(Copy(SYS_process_vm_writev, getpid(), Ptr(&good), 1, Ptr(&bad), 1, 0), ArgVerdict::kFault);
  EXPECT_EQ(Copy(SYS_process_vm_readv, getpid(), Ptr(&bad), 1, Ptr(&good), 1, 0), ArgVerdict::kFault);
  ASSERT_EQ(Copy(SYS_process_vm_readv, getpid(), Ptr(&good), 1, Ptr(&good), 1, 0), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[1]));
  EXPECT_TRUE(InArena(c_.a[3]));
}

TEST_F(ArgCopyTest, MsghdrNameIovAndControl) {
  char data[4];
  iovec iov = {data, sizeof(data)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ASSERT_EQ(Copy(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[1]));
  m.msg_name = At(kLo - 8);
  m.msg_namelen = 16;
  EXPECT_EQ(Copy(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kFault);
  m.msg_name = nullptr;
  m.msg_namelen = 0;
  iov.iov_base = At(kLo);
  EXPECT_EQ(Copy(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kFault);
  iov.iov_base = data;

  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(3 * sizeof(int));
  int fds[3] = {0, 1, 2};
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  ASSERT_EQ(Copy(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  // The kernel sends the checked copy of the descriptors, not what the guest writes afterwards.
  const auto* sent = static_cast<msghdr*>(At(c_.a[1]));
  ASSERT_TRUE(InArena(Ptr(sent->msg_control)));
  fds[2] = kVmmFd;
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  int copied[3];
  memcpy(copied, CMSG_DATA(CMSG_FIRSTHDR(sent)), sizeof(copied));
  EXPECT_EQ(copied[2], 2);
  EXPECT_EQ(Copy(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kBadFd);
  EXPECT_EQ(Copy(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);  // receiving into it is harmless

  std::vector<char> big(kMaxCopiedControl + 1);
  m.msg_control = big.data();
  m.msg_controllen = big.size();
  ASSERT_EQ(Copy(SYS_sendmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  EXPECT_EQ(c_.ret, -ENOBUFS);
}

TEST_F(ArgCopyTest, RecvmsgResultsCopiedBack) {
  char data[4];
  iovec iov = {data, sizeof(data)};
  sockaddr_storage name;
  char control[64];
  msghdr m{};
  m.msg_name = &name;
  m.msg_namelen = sizeof(name);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  ASSERT_EQ(Copy(SYS_recvmsg, 3, Ptr(&m), 0), ArgVerdict::kOk);
  auto* k = static_cast<msghdr*>(At(c_.a[1]));  // what the kernel writes into
  k->msg_namelen = 16;
  k->msg_controllen = 24;
  k->msg_flags = MSG_TRUNC;
  k->msg_iovlen = 99;  // not a result: never copied back
  EXPECT_TRUE(CopyOutArgs(-EAGAIN, c_, kEnv));
  EXPECT_EQ(m.msg_namelen, sizeof(name));  // nothing on failure
  EXPECT_TRUE(CopyOutArgs(4, c_, kEnv));
  EXPECT_EQ(m.msg_namelen, 16u);
  EXPECT_EQ(m.msg_controllen, 24u);
  EXPECT_EQ(m.msg_flags, MSG_TRUNC);
  EXPECT_EQ(m.msg_iovlen, 1u);
  EXPECT_EQ(m.msg_iov, &iov);
  g_writes_left = 0;
  EXPECT_FALSE(CopyOutArgs(4, c_, kEnv));
}

TEST_F(ArgCopyTest, MmsghdrsCheckedCopiedAndCountedBack) {
  char data[4];
  iovec iov = {data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  mmsghdr mm[3] = {};
  for (auto& h : mm) {
    h.msg_hdr.msg_iov = &iov;
    h.msg_hdr.msg_iovlen = 1;
  }
  mm[1].msg_hdr.msg_control = control;
  mm[1].msg_hdr.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&mm[1].msg_hdr);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = kVmmFd;
  memcpy(CMSG_DATA(c), &fd, sizeof(fd));
  EXPECT_EQ(Copy(SYS_sendmmsg, 3, Ptr(mm), 3, 0), ArgVerdict::kBadFd);
  ASSERT_EQ(Copy(SYS_sendmmsg, 3, Ptr(mm), 1, 0), ArgVerdict::kOk);
  mm[1].msg_hdr.msg_control = nullptr;
  mm[1].msg_hdr.msg_controllen = 0;

  ASSERT_EQ(Copy(SYS_recvmmsg, 3, Ptr(mm), 3, 0, 0), ArgVerdict::kOk);
  EXPECT_EQ(c_.a[2], 3u);
  auto* k = static_cast<mmsghdr*>(At(c_.a[1]));
  for (int i = 0; i < 3; ++i) {
    k[i].msg_len = 10 + i;
    k[i].msg_hdr.msg_flags = MSG_CTRUNC;
  }
  EXPECT_TRUE(CopyOutArgs(2, c_, kEnv));  // two received: the third is untouched
  EXPECT_EQ(mm[0].msg_len, 10u);
  EXPECT_EQ(mm[1].msg_len, 11u);
  EXPECT_EQ(mm[1].msg_hdr.msg_flags, MSG_CTRUNC);
  EXPECT_EQ(mm[2].msg_len, 0u);
  EXPECT_EQ(mm[2].msg_hdr.msg_flags, 0);

  // An arena too small for every message's vector: fewer messages, never none.
  std::vector<iovec> long_iov(1000, iovec{data, sizeof(data)});
  for (auto& h : mm) {
    h.msg_hdr.msg_iov = long_iov.data();
    h.msg_hdr.msg_iovlen = long_iov.size();
  }
  ASSERT_EQ(Copy(SYS_sendmmsg, 3, Ptr(mm), 3, 0, 0, 0, 40 << 10), ArgVerdict::kOk);
  EXPECT_EQ(c_.ret, 0);
  EXPECT_EQ(c_.a[2], 2u);
  ASSERT_EQ(Copy(SYS_sendmmsg, 3, Ptr(mm), 3, 0, 0, 0, 8 << 10), ArgVerdict::kOk);
  EXPECT_EQ(c_.ret, -ENOMEM);
}

TEST_F(ArgCopyTest, SocketLengthsCopiedAndWrittenBack) {
  socklen_t len = 200;
  EXPECT_EQ(Copy(SYS_accept, 3, kLo - 100, Ptr(&len)), ArgVerdict::kFault);
  len = 50;
  ASSERT_EQ(Copy(SYS_accept, 3, kLo - 100, Ptr(&len)), ArgVerdict::kOk);
  ASSERT_TRUE(InArena(c_.a[2]));
  len = 100000;  // a racing thread: the kernel still sees 50
  EXPECT_EQ(*static_cast<socklen_t*>(At(c_.a[2])), 50u);
  *static_cast<socklen_t*>(At(c_.a[2])) = 16;  // what the kernel reports
  EXPECT_TRUE(CopyOutArgs(5, c_, kEnv));
  EXPECT_EQ(len, 16u);
  ASSERT_EQ(Copy(SYS_getsockopt, 3, 1, 2, 0x5000, Ptr(&len)), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[4]));
  ASSERT_EQ(Copy(SYS_recvfrom, 3, 0x5000, 10, 0, 0x6000, Ptr(&len)), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[5]));
  ASSERT_EQ(Copy(SYS_accept, 3, 0, 0), ArgVerdict::kOk);
  EXPECT_EQ(c_.back, CopyBack::kNone);
}

TEST_F(ArgCopyTest, FutexWaitersAndPselectSigset) {
  uint32_t word = 0;
  futex_waitv w[2] = {{.val = 0, .uaddr = Ptr(&word), .flags = FUTEX_32, .__reserved = 0},
                      {.val = 0, .uaddr = kLo + 8, .flags = FUTEX_32, .__reserved = 0}};
  EXPECT_EQ(Copy(SYS_futex_waitv, Ptr(w), 2, 0, 0, 0), ArgVerdict::kFault);
  ASSERT_EQ(Copy(SYS_futex_waitv, Ptr(w), 1, 0, 0, 0), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[0]));
  uint64_t set = 0;
  uint64_t sig[2] = {Ptr(&set), 8};
  ASSERT_EQ(Copy(SYS_pselect6, 0, 0, 0, 0, 0, Ptr(sig)), ArgVerdict::kOk);
  EXPECT_TRUE(InArena(c_.a[5]));
  sig[0] = kLo;
  EXPECT_EQ(Copy(SYS_pselect6, 0, 0, 0, 0, 0, Ptr(sig)), ArgVerdict::kFault);
}

}  // namespace
}  // namespace ix::vmm

// Unit tests of the VMM's robust-list walk (robust_futex.h) over this process's memory.
#include "vmm/robust_futex.h"

#include <linux/futex.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace ix::vmm {
namespace {

constexpr uint64_t kLo = 0x100000000000ull;
constexpr uint64_t kHi = kLo + (256ull << 20);
constexpr int kTid = 4242;

bool Read(const void*, void* dst, uint64_t gva, size_t len) {
  if (gva < 4096 || (gva < kHi && gva + len > kLo)) return false;
  memcpy(dst, reinterpret_cast<const void*>(gva), len);
  return true;
}
bool Write(const void*, uint64_t gva, const void* src, size_t len) {
  if (gva < 4096 || (gva < kHi && gva + len > kLo)) return false;
  memcpy(reinterpret_cast<void*>(gva), src, len);
  return true;
}
std::vector<uint64_t> g_woken;
void Wake(const void*, uint64_t uaddr) { g_woken.push_back(uaddr); }

const ArgCheckEnv kEnv{.forbidden = {kLo, kHi}, .read = Read, .write = Write};

// glibc's layout: the list node first, the futex word `futex_offset` bytes after it.
struct Mutex {
  uint64_t next;
  uint32_t lock;
};
struct Head {
  uint64_t next;
  int64_t futex_offset = offsetof(Mutex, lock);
  uint64_t pending = 0;
};

uint64_t Ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }

TEST(RobustFutex, HeldFutexesMarkedOwnerDiedAndWoken) {
  Head h;
  Mutex held{0, kTid | FUTEX_WAITERS}, other{0, 77}, free_one{0, 0};
  h.next = Ptr(&held);
  held.next = Ptr(&other);
  other.next = Ptr(&free_one);
  free_one.next = Ptr(&h);
  g_woken.clear();
  RobustListResult r = ReleaseRobustList(Ptr(&h), kTid, kEnv, Wake);
  EXPECT_EQ(r.released, 1);
  EXPECT_EQ(r.refused, 0);
  EXPECT_EQ(held.lock, FUTEX_WAITERS | FUTEX_OWNER_DIED);
  EXPECT_EQ(other.lock, 77u);  // someone else's
  EXPECT_EQ(free_one.lock, 0u);
  EXPECT_EQ(g_woken, std::vector<uint64_t>{Ptr(&held.lock)});
}

TEST(RobustFutex, PendingHandledLastAndPiNotWoken) {
  Head h;
  Mutex pi{0, kTid}, pending{0, kTid};
  h.next = Ptr(&pi) | 1;  // the low bit marks a PI futex
  pi.next = Ptr(&h);
  h.pending = Ptr(&pending);
  g_woken.clear();
  RobustListResult r = ReleaseRobustList(Ptr(&h), kTid, kEnv, Wake);
  EXPECT_EQ(r.released, 2);
  EXPECT_EQ(pi.lock, static_cast<uint32_t>(FUTEX_OWNER_DIED));
  EXPECT_EQ(pending.lock, static_cast<uint32_t>(FUTEX_OWNER_DIED));
  EXPECT_EQ(g_woken, std::vector<uint64_t>{Ptr(&pending.lock)});
  // A pending unlock that had not woken its waiter yet: wake, leave the word alone.
  pending.lock = 0;
  pi.lock = 0;
  g_woken.clear();
  EXPECT_EQ(ReleaseRobustList(Ptr(&h), kTid, kEnv, Wake).released, 0);
  EXPECT_EQ(g_woken, std::vector<uint64_t>{Ptr(&pending.lock)});
}

TEST(RobustFutex, HostileListsRefusedAndBounded) {
  // Entries and futex words in the forbidden range are never touched, and counted.
  Head h;
  Mutex m{kLo + 64, kTid};
  h.next = Ptr(&m);
  RobustListResult r = ReleaseRobustList(Ptr(&h), kTid, kEnv, Wake);
  EXPECT_EQ(r.released, 1);
  EXPECT_EQ(r.refused, 1);
  Head far;
  Mutex n{0, kTid};
  far.next = Ptr(&n);
  n.next = Ptr(&far);
  far.futex_offset = static_cast<int64_t>(kLo + 8 - Ptr(&n));
  EXPECT_EQ(ReleaseRobustList(Ptr(&far), kTid, kEnv, Wake).refused, 1);
  EXPECT_EQ(ReleaseRobustList(kLo, kTid, kEnv, Wake).refused, 1);
  // A cycle that never returns to the head stops after kRobustListLimit entries.
  Head loop;
  Mutex self_loop{0, 0};
  self_loop.next = Ptr(&self_loop);
  loop.next = Ptr(&self_loop);
  EXPECT_EQ(ReleaseRobustList(Ptr(&loop), kTid, kEnv, Wake).released, 0);
  // Misaligned futex words are skipped, as the kernel skips them.
  Head mis;
  Mutex odd{0, kTid};
  mis.next = Ptr(&odd);
  odd.next = Ptr(&mis);
  mis.futex_offset = offsetof(Mutex, lock) + 1;
  EXPECT_EQ(ReleaseRobustList(Ptr(&mis), kTid, kEnv, Wake).released, 0);
  EXPECT_EQ(ReleaseRobustList(0, kTid, kEnv, Wake).released, 0);
}

}  // namespace
}  // namespace ix::vmm

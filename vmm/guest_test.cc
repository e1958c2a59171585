// Enters a real KVM guest inside this test process and checks that code really runs there: the
// privilege level it reads, syscalls counted as hypercalls, memory mapped after entry, signals.
#include "vmm/guest.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "gtest/gtest.h"
#include "vmm/kvm.h"

namespace ix::vmm {
namespace {

int ReadCpl() {
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  return cs & 3;
}

bool HaveKvm() {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

class GuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveKvm()) GTEST_SKIP() << "no usable /dev/kvm: " << strerror(errno);
  }
};

TEST_F(GuestTest, Ring3RunsGlibcCodeAndForwardsSyscalls) {
  pid_t native_pid = getpid();
  GuestOptions o;
  o.ring = 3;
  o.allow_guest_exit = true;
  ASSERT_EQ(CurrentGuestRing(), -1);
  absl::Status s = EnterGuest(o);
  ASSERT_TRUE(s.ok()) << s;
  // In the guest from here on.
  int cpl = ReadCpl();
  int ring = CurrentGuestRing();
  pid_t guest_pid = getpid();
  char* p = static_cast<char*>(mmap(nullptr, 8 << 20, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  bool mapped = p != MAP_FAILED;
  if (mapped) {
    for (size_t i = 0; i < (8u << 20); i += 4096) p[i] = static_cast<char>(i >> 12);
  }
  std::string heap(1 << 20, 'x');  // malloc'd after entry
  long leave = LeaveGuest();
  // Native again.
  EXPECT_EQ(leave, 0);
  EXPECT_EQ(cpl, 3);
  EXPECT_EQ(ring, 3);
  EXPECT_EQ(guest_pid, native_pid);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(p[4096 * 5], 5);
  EXPECT_EQ(heap[12345], 'x');
  EXPECT_EQ(CurrentGuestRing(), -1);
  munmap(p, 8 << 20);
}

sigjmp_buf g_jump;
volatile uint64_t g_fault_addr;
void OnSegv(int, siginfo_t* info, void*) {
  g_fault_addr = reinterpret_cast<uint64_t>(info->si_addr);
  siglongjmp(g_jump, 1);
}

TEST_F(GuestTest, NullDereferenceReachesTheProgramsHandler) {
  GuestOptions o;
  o.ring = 3;
  o.allow_guest_exit = true;
  ASSERT_TRUE(EnterGuest(o).ok());
  struct sigaction sa {};
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  int caught = 0;
  if (sigsetjmp(g_jump, 1) == 0) {
    *reinterpret_cast<volatile int*>(0x10) = 1;
  } else {
    caught = 1;
  }
  signal(SIGSEGV, SIG_DFL);
  int ring = CurrentGuestRing();
  ASSERT_EQ(LeaveGuest(), 0);
  EXPECT_EQ(caught, 1);
  EXPECT_EQ(g_fault_addr, 0x10u);
  EXPECT_EQ(ring, 3);
}

volatile int g_alarms;
void OnAlarm(int) { g_alarms = g_alarms + 1; }

TEST_F(GuestTest, HostSignalIsDeliveredIntoTheGuest) {
  GuestOptions o;
  o.ring = 3;
  o.allow_guest_exit = true;
  ASSERT_TRUE(EnterGuest(o).ok());
  signal(SIGALRM, OnAlarm);
  g_alarms = 0;
  alarm(1);
  // Block in a forwarded syscall: pause() returns after the handler ran, with EINTR.
  int r = pause();
  int err = errno;
  signal(SIGALRM, SIG_DFL);
  ASSERT_EQ(LeaveGuest(), 0);
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_EQ(g_alarms, 1);
}

TEST_F(GuestTest, ThreadsGetTheirOwnVcpus) {
  GuestOptions o;
  o.ring = 3;
  o.allow_guest_exit = true;
  ASSERT_TRUE(EnterGuest(o).ok());
  int rings[4] = {-2, -2, -2, -2};
  long tids[4] = {};
  {
    std::thread threads[4];
    for (int i = 0; i < 4; ++i) {
      threads[i] = std::thread([&, i] {
        rings[i] = CurrentGuestRing();
        tids[i] = syscall(SYS_gettid);
      });
    }
    for (auto& th : threads) th.join();
  }
  ASSERT_EQ(LeaveGuest(), 0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(rings[i], 3) << i;
    EXPECT_GT(tids[i], 0) << i;
  }
}

extern "C" long IxRing0Body(void* thread, long n, volatile long* out);

// Ring 0 (Dune semantics): on kvm_pvm the guest's ring 0 is emulated and cannot run glibc, so the
// code that runs there is freestanding (guest_ring0_body.c).
TEST_F(GuestTest, Ring0RunsFreestandingCodeAndForwardsSyscalls) {
  GuestOptions o;
  o.ring = 0;
  o.allow_guest_exit = true;
  absl::StatusOr<VcpuThread*> t = PrepareGuest(o);
  ASSERT_TRUE(t.ok()) << t.status();
  volatile long out[5] = {-1, -1, -1, -1, 0};
  long r = IxRing0Body(*t, 50, out);
  ReleaseGuest();
  ASSERT_EQ(r, 0);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], getpid());
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], 50);
  EXPECT_NE(out[4], 0);  // the guest's page-table root, read with a privileged instruction
  EXPECT_EQ(out[4] & 0xfff, 0);
}

}  // namespace
}  // namespace ix::vmm

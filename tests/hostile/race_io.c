/* Hostile guest program, attack class 2 (a)-(c) of issue 13: double-fetch races. A second thread
 * rewrites the structures a syscall reads from guest memory (iovecs, msghdrs, SCM_RIGHTS
 * descriptors, socklen_t words) between a benign value and a VMM-private one while this thread
 * makes the call, IX_HOSTILE_ATTEMPTS times (bounded by IX_HOSTILE_SECONDS each).
 *
 * Oracles:
 *  - writev / sendmsg data: what arrives at the other end must be the benign pattern; anything
 *    else is VMM memory the kernel read (BREACH). -EFAULT is a refusal.
 *  - SCM_RIGHTS: the received descriptor must never be a KVM one (its /proc/self/fd link).
 *  - msg_control pointed into the region: success or -EFAULT; any other error means the kernel
 *    parsed VMM memory as control messages.
 *  - getsockname / getsockopt with the length word flipped between small and huge, the buffer right
 *    below the low guard: 0 or -EFAULT, and the length read back is one of the two flipped values
 *    or the kernel's true length.
 * Refusals the VMM counts (forbidden-range and descriptor checks) go into "expect-violations";
 * a msg_iov pointer into the region fails the VMM's copy with EFAULT, which is not counted as a
 * violation, so that race is left out of the sum. */
#include "hostile.h"

#include <dirent.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define kLen 64
static char benign[kLen];
static uintptr_t priv;

/* Reads what arrived at `fd` (non-blocking) and checks it is `n` bytes of the benign pattern. */
static int ArrivedBenign(int fd, long n) {
  char got[4 * kLen];
  long r = read(fd, got, sizeof(got));
  if (r != n) return 0;
  for (long i = 0; i < r; ++i) {
    if (got[i] != 'A') return 0;
  }
  return 1;
}

/* (a) writev into a pipe with iov[1].iov_base flipping between the benign buffer and the region. */
static long WritevRace(void) {
  int p[2];
  if (pipe2(p, O_NONBLOCK) != 0) abort();
  struct iovec iov[2] = {{benign, kLen / 2}, {benign + kLen / 2, kLen / 2}};
  struct Flipper f;
  StartFlipper(&f, &iov[1].iov_base, 8, (uint64_t)(benign + kLen / 2), priv);
  long i, refused = 0, ok = 0, bad = 0, first = 0;
  double t0 = NowSeconds();
  for (i = 0; RaceGoesOn(i, Attempts(), refused, ok, t0); ++i) {
    long r = RawSyscall6(SYS_writev, p[1], (long)iov, 2, 0, 0, 0);
    if (r == -EFAULT) ++refused;
    else if (r == kLen && ArrivedBenign(p[0], kLen)) ++ok;
    else if (!bad++) first = r;
  }
  StopFlipper(&f);
  char d[128];
  snprintf(d, sizeof(d), "writev returned %ld or delivered bytes that are not the benign pattern", first);
  RaceVerdict("writev-iov_base", i, refused, ok, bad, d, NULL);
  close(p[0]);
  close(p[1]);
  return refused;
}

/* (a) sendmsg on a datagram socketpair, iov_base flipping as above. */
static long SendmsgIovBaseRace(int s[2]) {
  struct iovec iov = {benign, kLen};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  struct Flipper f;
  StartFlipper(&f, &iov.iov_base, 8, (uint64_t)benign, priv);
  long i, refused = 0, ok = 0, bad = 0, first = 0;
  double t0 = NowSeconds();
  for (i = 0; RaceGoesOn(i, Attempts(), refused, ok, t0); ++i) {
    long r = RawSyscall6(SYS_sendmsg, s[0], (long)&m, MSG_DONTWAIT, 0, 0, 0);
    if (r == -EFAULT) ++refused;
    else if (r == kLen && ArrivedBenign(s[1], kLen)) ++ok;
    else if (!bad++) first = r;
  }
  StopFlipper(&f);
  char d[128];
  snprintf(d, sizeof(d), "sendmsg returned %ld or delivered bytes that are not the benign pattern", first);
  RaceVerdict("sendmsg-iov_base", i, refused, ok, bad, d, NULL);
  return refused;
}

/* (b) msg_iov itself flipping between a benign iovec array and the region, or msg_iovlen between
 * 1 and 2 where the second iovec points into the region. */
static long MsghdrRace(int s[2], const char* name, int flip_iovlen) {
  struct iovec iov[2] = {{benign, kLen}, {(void*)priv, kLen}};
  struct msghdr m = {0};
  m.msg_iov = iov;
  m.msg_iovlen = 1;
  struct Flipper f;
  if (flip_iovlen) StartFlipper(&f, &m.msg_iovlen, 8, 1, 2);
  else StartFlipper(&f, &m.msg_iov, 8, (uint64_t)iov, priv);
  long i, refused = 0, ok = 0, bad = 0, first = 0;
  double t0 = NowSeconds();
  for (i = 0; RaceGoesOn(i, Attempts(), refused, ok, t0); ++i) {
    long r = RawSyscall6(SYS_sendmsg, s[0], (long)&m, MSG_DONTWAIT, 0, 0, 0);
    if (r == -EFAULT) ++refused;
    else if (r == kLen && ArrivedBenign(s[1], kLen)) ++ok;
    else if (!bad++) first = r;
  }
  StopFlipper(&f);
  char d[128];
  snprintf(d, sizeof(d), "sendmsg returned %ld or delivered bytes that are not the benign pattern", first);
  RaceVerdict(name, i, refused, ok, bad, d, NULL);
  return flip_iovlen ? refused : 0;
}

/* A descriptor of ix-run's VMM: a KVM VM or vCPU (or /dev/kvm) in /proc/self/fd. */
static int FindVmmFd(char* link_out, size_t n) {
  int found = -1;
  DIR* d = opendir("/proc/self/fd");
  for (struct dirent* e; d && (e = readdir(d));) {
    char path[300], link[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(path, link, sizeof(link) - 1);
    if (k <= 0) continue;
    link[k] = 0;
    int fd = atoi(e->d_name);
    if (strstr(link, "kvm") && (found < 0 || strstr(link, "kvm-vm"))) {
      found = fd;
      snprintf(link_out, n, "%s", link);
      if (strstr(link, "kvm-vm")) break;
    }
  }
  if (d) closedir(d);
  return found;
}

/* Receives one message with a descriptor; returns it (or -1) and whether it is a KVM one. */
static int RecvFd(int s, int* is_kvm) {
  char data[8], ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {data, sizeof(data)};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  *is_kvm = 0;
  if (recvmsg(s, &m, MSG_DONTWAIT) < 0) return -1;
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(fd));
  char path[64], link[256];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t k = readlink(path, link, sizeof(link) - 1);
  if (k > 0) {
    link[k] = 0;
    *is_kvm = strstr(link, "kvm") != NULL;
  }
  return fd;
}

/* (b) SCM_RIGHTS whose descriptor flips between a pipe and a VMM descriptor; and msg_control
 * itself flipping between the benign control buffer and the region. */
static long ScmRace(int s[2], int vmm_fd, int flip_control) {
  int p[2];
  if (pipe(p) != 0) abort();
  static union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct cmsghdr* c = &ctl.align;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  int* fdp = (int*)CMSG_DATA(c);
  *fdp = p[0];
  struct iovec iov = {benign, 1};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl.buf;
  m.msg_controllen = sizeof(ctl.buf);
  struct Flipper f;
  if (flip_control) StartFlipper(&f, &m.msg_control, 8, (uint64_t)ctl.buf, priv);
  else StartFlipper(&f, fdp, 4, (uint32_t)p[0], (uint32_t)vmm_fd);
  long i, refused = 0, ok = 0, bad = 0, first = 0;
  double t0 = NowSeconds();
  for (i = 0; RaceGoesOn(i, Attempts(), refused, ok, t0); ++i) {
    long r = RawSyscall6(SYS_sendmsg, s[0], (long)&m, MSG_DONTWAIT, 0, 0, 0);
    int kvm = 0;
    if (r == 1) {
      int got = RecvFd(s[1], &kvm);
      if (got >= 0) close(got);
      if (got >= 0 && !kvm) ++ok;
      else if (!bad++) first = kvm ? 1000 + got : -9999;
    } else if (r == (flip_control ? -EFAULT : -EBADF)) {
      ++refused;
    } else if (!bad++) {
      first = r;
    }
  }
  StopFlipper(&f);
  char d[160];
  if (first >= 1000) snprintf(d, sizeof(d), "received KVM descriptor %ld", first - 1000);
  else snprintf(d, sizeof(d), "sendmsg returned %ld (or no descriptor arrived)", first);
  RaceVerdict(flip_control ? "sendmsg-msg_control" : "scm_rights-fd", i, refused, ok, bad, d, NULL);
  close(p[0]);
  close(p[1]);
  return refused;
}

/* (c) getsockname / getsockopt with the buffer at the end of the page below the low guard and its
 * length word flipping between a small and a huge value (huge reaches the region). */
static long LengthRace(char* page, int getopt) {
  const char* name = getopt ? "getsockopt-optlen" : "getsockname-addrlen";
  if (page == NULL) {
    printf("%s survived (the page below the guard is taken; not attacked)\n", name);
    return 0;
  }
  int s[2];
  uint32_t small, huge = 1u << 20, truth;
  char* buf;
  if (getopt) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0) abort();
    small = 8;
    truth = sizeof(struct ucred);
  } else {
    s[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
    s[1] = -1;
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "ix-hostile-%d-%s", getpid(),
                     "padding-to-forty-bytes-or-so");
    truth = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    if (bind(s[0], (struct sockaddr*)&a, truth) != 0) abort();
    small = 16;
  }
  buf = page + 4096 - small;
  volatile uint32_t len = small;
  struct Flipper f;
  StartFlipper(&f, &len, 4, small, huge);
  long i, refused = 0, ok = 0, bad = 0;
  long first_r = 0;
  uint32_t first_len = 0;
  double t0 = NowSeconds();
  for (i = 0; RaceGoesOn(i, Attempts(), refused, ok, t0); ++i) {
    long r = getopt ? RawSyscall6(SYS_getsockopt, s[0], SOL_SOCKET, SO_PEERCRED, (long)buf, (long)&len, 0)
                    : RawSyscall6(SYS_getsockname, s[0], (long)buf, (long)&len, 0, 0, 0);
    uint32_t l = len;
    if (r == -EFAULT) ++refused;
    else if (r == 0 && (l == small || l == huge || l == truth)) ++ok;
    else if (!bad++) first_r = r, first_len = l;
  }
  StopFlipper(&f);
  char d[160];
  snprintf(d, sizeof(d), "returned %ld with length %u (flipped %u/%u, true %u)", first_r, first_len, small,
           huge, truth);
  RaceVerdict(name, i, refused, ok, bad, d, NULL);
  close(s[0]);
  if (s[1] >= 0) close(s[1]);
  return refused;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  uintptr_t base = RegionOrExit();
  priv = base + 0x1000;
  memset(benign, 'A', sizeof(benign));
  char* page = PageBelowGuard(base);  /* before any thread's stack can take its place */
  long expect = 0;
  expect += WritevRace();
  int s[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, s) != 0) abort();
  fcntl(s[1], F_SETFL, O_NONBLOCK);
  expect += SendmsgIovBaseRace(s);
  expect += MsghdrRace(s, "sendmsg-msg_iov", 0);
  expect += MsghdrRace(s, "sendmsg-msg_iovlen", 1);
  char link[256] = "";
  int vmm_fd = FindVmmFd(link, sizeof(link));
  if (vmm_fd < 0) {
    printf("scm_rights-fd BREACH no VMM descriptor in /proc/self/fd under ix-run\n");
  } else {
    printf("vmm-fd %d %s\n", vmm_fd, link);
    expect += ScmRace(s, vmm_fd, 0);
  }
  expect += ScmRace(s, vmm_fd, 1);
  close(s[0]);
  close(s[1]);
  expect += LengthRace(page, 0);
  expect += LengthRace(page, 1);
  printf("expect-violations %ld\n", expect);
  printf("done\n");
  return 0;
}

// Tries to make the kernel touch the VMM's private state on its behalf: each attempt must fail with
// the errno ix-run documents, and the program must keep running. Prints one line per attempt,
// "name errno-name", and "found" or "no-region" first. Run natively it finds no region.
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

// FindRegion: the private region, found in /proc/self/maps (shared with the hostile programs).
#include "tests/hostile/hostile.h"

static void Report(const char* what, long r) {
  printf("%s %s\n", what, r >= 0 ? "ok" : strerrorname_np(errno));
}

int main(void) {
  uintptr_t base;
  if (!FindRegion(&base)) {
    printf("no-region\n");
    return 0;
  }
  printf("found\n");
  int zero = open("/dev/zero", O_RDONLY);
  // Straight into the region, and from below across the guard.
  Report("read-into", read(zero, (void*)(base + 4096), 64));
  Report("read-across", read(zero, (void*)(base - (1 << 20)), 2 << 20));
  char local[64];
  struct iovec iov[2] = {{local, sizeof(local)}, {(void*)(base + 8192), 64}};
  Report("readv", readv(zero, iov, 2));
  struct iovec mine = {local, sizeof(local)}, theirs = {(void*)base, sizeof(local)};
  Report("process_vm_writev", process_vm_writev(getpid(), &mine, 1, &theirs, 1, 0));
  Report("write-from", write(1, (void*)base, 16));
  int mem = open("/proc/self/mem", O_RDWR);
  Report("open-proc-self-mem", mem);
  if (mem >= 0) close(mem);
  Report("ptrace", ptrace(PTRACE_TRACEME, 0, 0, 0));
  // The statistics memfd ix-run shares: not writable or truncatable, nor reopenable by path.
  const char* stats = getenv("IX_STATS_FD");
  int stats_fd = stats ? atoi(stats) : -1;
  Report("ftruncate-stats", ftruncate(stats_fd, 0));
  char stats_path[64];
  snprintf(stats_path, sizeof(stats_path), "/proc/self/fd/%d", stats_fd);
  int again = open(stats_path, O_RDWR);
  Report("reopen-stats", again);
  if (again >= 0) close(again);
  // The VMM's descriptors (/dev/kvm, the VM, the vCPUs): listed in /proc/self/fd, unusable.
  int seen = 0, usable = 0;
  DIR* d = opendir("/proc/self/fd");
  for (struct dirent* e; d && (e = readdir(d));) {
    char path[300], link[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0) continue;
    link[n] = 0;
    if (!strstr(link, "kvm")) continue;
    ++seen;
    int fd = atoi(e->d_name);
    if (ioctl(fd, 0xae03 /* KVM_CHECK_EXTENSION */, 3 /* KVM_CAP_USER_MEMORY */) > 0) ++usable;
    if (dup(fd) >= 0) ++usable;
  }
  if (d) closedir(d);
  printf("kvm-fds %s, usable %d\n", seen > 0 ? "seen" : "none", usable);
  // Still alive and still able to make ordinary calls.
  Report("getpid", getpid());
  return 0;
}

/* The program exec_race.c execs, built twice: hostile_exec_dyn (dynamic) and hostile_exec_sta
 * (static), HOSTILE_EXEC_KIND naming which. Reports on the descriptor named by argv[1], in one
 * line, what an attacker racing the execve would want to change: whether it runs under ix (the
 * VMM-private region is in /proc/self/maps, and the VMM answers its ring query), which of the variables the racer tried to inject it sees,
 * and whether IX_SYSCALL_GUEST_EXIT lets it leave the guest (it must get -EPERM):
 *   "report kind=dyn|sta ix=0|1 ring=R ld_preload=<value or -> allow_exit=0|1 policy=0|1
 *    foo=0|1 guest_exit=<result>" */
#include "hostile.h"

#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  int fd = atoi(argv[1]);
  uintptr_t base;
  int ix = FindRegion(&base);
  int ring = GuestRing();
  const char* pre = getenv("LD_PRELOAD");
  const char* foo = getenv("FOO");
  /* Must fail (-EPERM under ix, -ENOSYS natively); 0 would mean this image left the guest. */
  long exit_r = RawSyscall6(IX_SYSCALL_GUEST_EXIT, 0, 0, 0, 0, 0, 0);
  dprintf(fd, "report kind=%s ix=%d ring=%d ld_preload=%s allow_exit=%d policy=%d foo=%d guest_exit=%ld\n",
          HOSTILE_EXEC_KIND, ix, ring, pre ? pre : "-", getenv("IX_ALLOW_EXIT") != NULL, getenv("IX_POLICY") != NULL,
          foo != NULL && strcmp(foo, "bar") == 0, exit_r);
  return 0;
}

// Test program: prints the privilege level its code runs at (CS & 3): 3 natively on Linux, and
// the guest ring under ix-run. Also reports the VMM's answer to IX_SYSCALL_GUEST_RING, and in
// ring 0 (Dune semantics) reads CR3, a privileged register a ring-3 program cannot read.
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  long ring = syscall(0x1d0e0002);
  printf("cpl=%d vmm_ring=%ld\n", cs & 3, ring);
  if ((cs & 3) == 0) {
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    printf("cr3 read: %s\n", cr3 != 0 && (cr3 & 0xfff) == 0 ? "ok" : "BAD");
  }
  return 0;
}

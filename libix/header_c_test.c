/* libix/ix.h compiles alone as strict C11, and its inline parts link. */
#include "libix/ix.h"

#include <stdio.h>

int main(void) {
  struct ix_options o;
  (void)o;
  printf("ix.h C11 OK (ABI %d)\n", IX_ABI_VERSION);
  return sizeof(struct ix_event) == 64 ? 0 : 1;
}

/* Compiles include/ix/abi.h as strict C11 and checks its layout and ring helpers at run time. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ix/abi.h"

#define CHECK(cond)                                          \
  do {                                                       \
    if (!(cond)) {                                           \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                              \
    }                                                        \
  } while (0)

int main(void) {
  CHECK(sizeof(struct ix_cmd) == 64);
  CHECK(sizeof(struct ix_event) == 64);
  CHECK(sizeof(struct ix_iov) == 16);
  CHECK(sizeof(struct ix_qp_header) == 7 * 64);
  CHECK(_Alignof(struct ix_qp_header) == 64);
  CHECK(offsetof(struct ix_cmd, ret) == 16);
  CHECK(offsetof(struct ix_cmd, arg) == 56);
  CHECK(offsetof(struct ix_event, local_port) == 46);
  CHECK(offsetof(struct ix_qp_header, ev_cons) == 256);
  CHECK(sizeof(struct ix_attach_req) == 72);
  CHECK(sizeof(struct ix_attach_resp) == 48);
  CHECK(ix_qp_area_bytes(8, 16) == 448 + 8 * 64 + 16 * 64);
  CHECK(strcmp(ix_strerror(IX_ETIMEDOUT), "connection timed out") == 0);
  CHECK(strcmp(ix_strerror(IX_ERROR_COUNT), "unknown ix error") == 0);

  /* One producer/consumer round trip over a command ring in plain memory. */
  enum { kEntries = 8 };
  void* mem = aligned_alloc(64, (size_t)ix_qp_area_bytes(kEntries, kEntries));
  CHECK(mem != NULL);
  memset(mem, 0, (size_t)ix_qp_area_bytes(kEntries, kEntries));
  struct ix_qp_header* h = (struct ix_qp_header*)mem;
  struct ix_cmd* ring = (struct ix_cmd*)((char*)mem + sizeof(*h));
  for (uint32_t i = 0; i < 20; ++i) {
    uint32_t prod = ix_load_relaxed(&h->cmd_prod.value);
    uint32_t cons = ix_load_acquire(&h->cmd_cons.value);
    CHECK(prod - cons < kEntries);
    struct ix_cmd* c = &ring[prod & (kEntries - 1)];
    memset(c, 0, sizeof(*c));
    c->op = IX_CMD_NOP;
    c->cookie = i;
    ix_store_release(&h->cmd_prod.value, prod + 1);
    /* consumer side */
    uint32_t avail = ix_load_acquire(&h->cmd_prod.value) - cons;
    CHECK(avail == 1);
    CHECK(ring[cons & (kEntries - 1)].cookie == i);
    ix_store_ret(&ring[cons & (kEntries - 1)].ret, -IX_EINVAL);
    ix_store_release(&h->cmd_cons.value, cons + 1);
    CHECK(ix_load_ret(&c->ret) == -IX_EINVAL);
  }
  ix_fence_seq_cst();
  free(mem);
  printf("abi C11 OK\n");
  return 0;
}

/* libix: the C API of the ix dataplane. Batched, non-blocking commands and event conditions over
 * one queue pair (include/ix/abi.h), the same code whether the stack runs in this process
 * (library mode) or in the ixd daemon (ixd mode), chosen by one option at ix_init.
 *
 *   struct ix_options o;
 *   ix_options_init(&o);                       // mode from IX_MODE (library|ixd), IX_IFACE, IX_IP,
 *   ix_t* ix;                                  // IX_SOCKET when the fields are left unset
 *   if (ix_init(&o, &ix) != 0) ...
 *   ix_tcp_listen(ix, 7, 128);
 *   struct ix_event ev[64];
 *   for (;;) {
 *     int n = ix_poll(ix, ev, 64, 1000000000);  // submits queued commands, returns events
 *     for (int i = 0; i < n; ++i) switch (ev[i].type) {
 *       case IX_EV_TCP_KNOCK: ix_tcp_accept(ix, ev[i].id, my_cookie); break;
 *       case IX_EV_TCP_RECV:
 *         if (ev[i].flags & IX_EVF_FIN) { ix_tcp_close(ix, ev[i].id); break; }
 *         ix_tcp_send(ix, ev[i].id, ev[i].cookie, ix_rx_data(ix, &ev[i]), ev[i].len);  // echo
 *         ix_tcp_recv_done(ix, ev[i].id, ev[i].buf);
 *         break;
 *       case IX_EV_CMD_DONE: ... ev[i].value is the result of a send, connect, ... ; break;
 *     }
 *   }
 *   ix_destroy(ix);
 *
 * Commands are queued in the command ring and become visible to the dataplane at ix_flush or
 * ix_poll; they execute in order. Results come back as IX_EV_CMD_DONE events (flags = opcode,
 * id, cookie = the command's, value = its return code) for connect, send, listen/unlisten,
 * udp bind/unbind, and for every command that failed; other successes are silent.
 * Every call returns 0 (or a non-negative value) on success and -IX_E* or -errno on failure.
 * ix_strerror(-ret) (ix/abi.h) puts an -IX_E* code into words; the -errno results are named
 * where a call can return them (ix_init: see ix_last_error; ix_poll: -ECONNRESET).
 *
 * Received bytes are read in place (ix_rx_data: read-only memory, valid until the buffer is
 * handed back with ix_tcp_recv_done / ix_udp_recv_done). Sending: ix_tcp_send copies into the TX
 * area; for zero copy, build the payload in ix_tx_alloc memory and pass it to ix_tcp_sendv.
 * TX memory is recycled once the commands queued after it have completed.
 *
 * Threading: an ix_t belongs to one thread. Several threads use several queue pairs
 * (ix_init_queues).  */
#ifndef IX_LIBIX_IX_H_
#define IX_LIBIX_IX_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ix/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ix_ctx ix_t;

enum ix_mode {
  IX_MODE_DEFAULT = 0, /* IX_MODE from the environment ("library" or "ixd"), else ixd */
  IX_MODE_LIBRARY = 1, /* the stack runs in this process, on the calling thread, in ix_poll */
  IX_MODE_IXD = 2      /* attach to the ixd daemon through its Unix socket */
};

/* A library-level event type beside the dataplane's (enum ix_event_type). */
#define IX_EV_CMD_DONE 64

struct ix_options {
  int mode;                /* enum ix_mode */
  const char* name;        /* for the dataplane's logs; NULL: "app" */
  const char* socket_path; /* ixd: NULL -> $IX_SOCKET or IX_DEFAULT_SOCKET */
  const char* iface;       /* library: the interface; NULL -> $IX_IFACE */
  const char* ip;          /* library: "A.B.C.D" or "A.B.C.D/len"; NULL -> $IX_IP */
  const char* gateway;     /* library: NULL -> $IX_GATEWAY or none */
  uint32_t cmd_entries;    /* 0: defaults */
  uint32_t ev_entries;
  uint32_t rx_buf_count;
  uint32_t rx_buf_size;
  uint64_t tx_bytes;
};

void ix_options_init(struct ix_options* o);
/* Creates one queue pair. Returns 0 or -errno / -IX_E*; *out set on success. On failure a message
 * for humans is available from ix_last_error(). */
int ix_init(const struct ix_options* o, ix_t** out);
/* Creates n (1..IX_MAX_QUEUES) queue pairs of one application (ixd mode; library mode: n == 1),
 * one per thread; the ports an application binds are shared by its queue pairs, and accepted
 * connections are spread over them. */
int ix_init_queues(const struct ix_options* o, ix_t** out, unsigned n);
/* Detaches this queue pair; the application's connections are reset once all its queue pairs
 * are destroyed. */
void ix_destroy(ix_t* ix);
const char* ix_last_error(void);
/* Which mode the context runs in (IX_MODE_LIBRARY or IX_MODE_IXD). */
int ix_mode_of(const ix_t* ix);

/* Makes queued commands visible to the dataplane (library mode: runs one stack iteration). */
int ix_flush(ix_t* ix);
/* Flushes, then returns up to max events (command results first), waiting up to timeout_ns
 * (0: do not wait; < 0: wait forever) for at least one. -ECONNRESET once ixd is gone. */
int ix_poll(ix_t* ix, struct ix_event* events, int max, int64_t timeout_ns);

/* Commands. */
int ix_tcp_listen(ix_t* ix, uint16_t port, uint32_t backlog);
int ix_tcp_unlisten(ix_t* ix, uint16_t port);
int ix_tcp_connect(ix_t* ix, uint32_t remote_ip, uint16_t remote_port, uint64_t cookie);
int ix_tcp_accept(ix_t* ix, uint32_t id, uint64_t cookie);
int ix_tcp_reject(ix_t* ix, uint32_t id);
/* iov entries must point into ix_tx_alloc memory (else -IX_EFAULT). */
int ix_tcp_sendv(ix_t* ix, uint32_t id, uint64_t cookie, const struct iovec* iov, int iovcnt);
/* Copies data into the TX area, then sends it (-IX_EAGAIN when the TX area is full). */
int ix_tcp_send(ix_t* ix, uint32_t id, uint64_t cookie, const void* data, size_t len);
int ix_tcp_recv_done(ix_t* ix, uint32_t id, uint32_t buf);
int ix_tcp_close(ix_t* ix, uint32_t id);    /* graceful; releases the id */
int ix_tcp_shutdown(ix_t* ix, uint32_t id); /* half close; keeps the id */
int ix_tcp_abort(ix_t* ix, uint32_t id);    /* reset; releases the id */
int ix_udp_bind(ix_t* ix, uint16_t port);
int ix_udp_unbind(ix_t* ix, uint16_t port);
int ix_udp_send(ix_t* ix, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
                const void* data, size_t len, uint64_t cookie, int notify);
int ix_udp_sendv(ix_t* ix, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
                 const struct iovec* iov, int iovcnt, uint64_t cookie, int notify);
int ix_udp_recv_done(ix_t* ix, uint32_t buf);
int ix_timer_set(ix_t* ix, uint32_t slot, uint64_t delay_ns, uint64_t cookie);
int ix_timer_cancel(ix_t* ix, uint32_t slot);

/* Memory. */
void* ix_tx_alloc(ix_t* ix, size_t len); /* NULL when the TX area is full (flush and retry) */
/* The received bytes of an IX_EV_TCP_RECV / IX_EV_UDP_RECV event (NULL if out of range). */
const void* ix_rx_data(const ix_t* ix, const struct ix_event* ev);
/* Commands queued or in flight (not yet completed by the dataplane). */
uint32_t ix_cmds_in_flight(const ix_t* ix);
/* Free command slots right now. */
uint32_t ix_cmd_room(const ix_t* ix);

/* Addresses: "A.B.C.D" -> host byte order (0 on error). */
uint32_t ix_parse_ip(const char* text);

#ifdef __cplusplus
}
#endif

#endif /* IX_LIBIX_IX_H_ */

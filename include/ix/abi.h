/* The application <-> dataplane ABI of ix: what libix (in the application) and the dataplane (ixd,
 * or the same code in-process in library mode) agree on. C11 and C++ compatible, self-contained,
 * no pointers: everything that crosses the boundary is an integer, an index or an offset.
 * Bump IX_ABI_VERSION on ANY change to a structure, a constant or a rule written here.
 *
 * Memory. Each queue pair (one per elastic application thread) has three shared areas:
 *   - the queue-pair area (struct ix_qp_header, then the command ring, then the event ring),
 *     mapped read-write by both sides;
 *   - the TX area: application-writable bytes the dataplane reads send payloads from;
 *   - the RX area: ix_qp_header.rx_buf_count buffers of rx_buf_size bytes that the dataplane writes
 *     received payloads into. The application maps it READ-ONLY (ixd seals its memfd with
 *     F_SEAL_FUTURE_WRITE after mapping it itself).
 * Areas are named by offsets from their own start, never by pointers: the two sides map them at
 * different addresses. The dataplane re-validates every offset and length it reads.
 *
 * Rings. Single-producer single-consumer, ix_qp_header.*_entries (powers of two) fixed-size slots,
 * free-running 32-bit indices (slot = index & (entries - 1)), each index on its own cache line.
 *   command ring: the application produces (cmd_prod), the dataplane consumes (cmd_cons);
 *   event ring:   the dataplane produces (ev_prod),    the application consumes (ev_cons).
 * A producer fills slots, then publishes with a release store of its index; a consumer reads the
 * other side's index with an acquire load (ix_load_acquire / ix_store_release below). The
 * dataplane keeps its own copy of every index and never trusts the shared copies: an application
 * that writes nonsense into cmd_prod or ev_cons stalls only itself (counted), and every slot is
 * copied out before it is checked, so rewriting a slot while it is processed cannot fool it.
 *
 * Commands and return codes. The application writes a struct ix_cmd into the slot at cmd_prod and
 * publishes it. The dataplane executes commands in ring order and writes the result into the
 * slot's `ret` before it advances cmd_cons past the slot; the application may reuse a slot only
 * after cmd_cons has passed it. ret >= 0 is success (a byte count, a connection id, or 0);
 * ret < 0 is -IX_E* below. A malformed or hostile command gets an error code and a per-application
 * counter, never anything worse.
 *
 * Connections. A connection is named twice: by an opaque 64-bit cookie the application chooses
 * (tcp_connect, tcp_accept) and that every event carries back, and by a 32-bit id the dataplane
 * assigns (slot and generation) and validates on every command. Ids are per queue pair: an id is
 * meaningful only on the queue pair whose events named it. A port (TCP listen, UDP bind) belongs
 * to the application that bound it, for all its queue pairs; connections accepted on it are
 * spread over them. An application's connections and memory are bounded by the dataplane.
 *
 * Receive (zero copy for the application). The TCP engine reassembles into dataplane-private
 * memory, so for a TCP connection the dataplane copies in-order bytes ONCE from the engine into
 * free buffers of the application's RX area and posts IX_EV_TCP_RECV (buf, data_off, len). The
 * application reads them in place and hands each buffer back with IX_CMD_TCP_RECV_DONE (conn id,
 * buf). Only then does the dataplane release those bytes in the engine, which is what reopens the
 * TCP receive window: an application that holds buffers throttles its peer (end-to-end
 * back-pressure), and one that never returns them starves only itself. Buffers may be returned in
 * any order. UDP datagrams are copied the same way (IX_EV_UDP_RECV, IX_CMD_UDP_RECV_DONE).
 *
 * Send. IX_CMD_TCP_SENDV / IX_CMD_UDP_SEND(V) name bytes in the application's TX area: either one
 * span (iov_cnt == 0: data_off, len) or an array of iov_cnt struct ix_iov at data_off in the TX
 * area. The dataplane copies the bytes into the connection's send buffer while it executes the
 * command, so the TX bytes are free again once cmd_cons has passed the command. TCP: ret = bytes
 * accepted (may be short, even 0); after a short send IX_EV_TCP_SENT reports that send space has
 * opened again (value = bytes of space), once per short send.
 *
 * Sleeping. The dataplane polls while busy. Before blocking it sets dp_sleeping = 1 (then a full
 * fence, then it re-checks the command ring); an application that publishes commands must, after
 * its release store and a full fence, write 1 to its kick eventfd if dp_sleeping != 0. The same
 * protocol with app_sleeping and the wake eventfd runs the other way. No system call is needed
 * while both sides are awake.
 *
 * Attach (ixd). The application connects a SOCK_SEQPACKET Unix socket (default IX_DEFAULT_SOCKET),
 * sends struct ix_attach_req, and receives struct ix_attach_resp with, per queue pair, IX_QP_FDS
 * file descriptors (SCM_RIGHTS) in the order of enum ix_qp_fd. ixd checks the peer's credentials
 * (same uid or root) and the ABI version. Closing the socket (or dying) detaches: ixd resets the
 * application's connections, releases its ports and reclaims its buffers. */
#ifndef IX_ABI_H_
#define IX_ABI_H_

#include <stddef.h>
#include <stdint.h>

#define IX_ABI_VERSION 2
#define IX_ABI_MAGIC 0x31424158u /* "XAB1" */
#define IX_CACHE_LINE 64

#ifdef __cplusplus
#define IX_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define IX_ALIGNAS(n) alignas(n)
#else
#define IX_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define IX_ALIGNAS(n) _Alignas(n)
#endif

/* ---- Error codes: ret = -IX_E* ----------------------------------------------------------------- */
enum ix_error {
  IX_OK = 0,
  IX_EINVAL = 1,        /* unknown opcode, bad flags, nonzero reserved field, bad argument */
  IX_EBADID = 2,        /* connection id unknown, stale, released, or of another queue pair */
  IX_EFAULT = 3,        /* offset or length outside the application's TX area */
  IX_EBADBUF = 4,       /* RX buffer not handed to this connection, or already returned */
  IX_EAGAIN = 5,        /* no room now (send space, table slots): try again after an event */
  IX_EPERM = 6,         /* the port belongs to another application */
  IX_EADDRINUSE = 7,    /* port already in use */
  IX_ENOMEM = 8,        /* a table is full */
  IX_ESTATE = 9,        /* the command makes no sense in the connection's state */
  IX_ECONNRESET = 10,   /* the peer reset the connection */
  IX_ECONNREFUSED = 11, /* the peer refused the connection */
  IX_ETIMEDOUT = 12,    /* retransmission limit reached */
  IX_EMSGSIZE = 13,     /* datagram too long */
  IX_ENETUNREACH = 14,  /* no route, or an ICMP net unreachable answered the connect */
  IX_ENOBUFS = 15,      /* the dataplane had no packet buffer */
  IX_ERING = 16,        /* (counters only) the application corrupted a ring index */
  IX_ECONNABORTED = 17, /* the connection was aborted locally */
  IX_ENOSYS = 18,       /* not supported by this dataplane */
  IX_EHOSTUNREACH = 19, /* an ICMP error answered the connect: host unreachable or prohibited */
  IX_ERROR_COUNT = 20
};

/* Words for an error code, for messages to people: takes the positive code (pass -ret), e.g.
 * ix_strerror(IX_EPERM) is "the port belongs to another application". Never NULL; a code outside
 * the enum gives "unknown ix error". Not part of the wire format: no ABI version change. */
static inline const char* ix_strerror(int code) {
  switch (code) {
    case IX_OK: return "success";
    case IX_EINVAL: return "invalid command or argument";
    case IX_EBADID: return "unknown or stale connection id";
    case IX_EFAULT: return "offset or length outside the TX area";
    case IX_EBADBUF: return "RX buffer not held by this connection";
    case IX_EAGAIN: return "no room now, try again after an event";
    case IX_EPERM: return "the port belongs to another application";
    case IX_EADDRINUSE: return "port already in use";
    case IX_ENOMEM: return "a dataplane table is full";
    case IX_ESTATE: return "not possible in the connection's state";
    case IX_ECONNRESET: return "connection reset by the peer";
    case IX_ECONNREFUSED: return "connection refused by the peer";
    case IX_ETIMEDOUT: return "connection timed out";
    case IX_EMSGSIZE: return "datagram too long";
    case IX_ENETUNREACH: return "network unreachable (no route, or ICMP)";
    case IX_ENOBUFS: return "the dataplane had no packet buffer";
    case IX_ERING: return "the application corrupted a ring index";
    case IX_ECONNABORTED: return "connection aborted locally";
    case IX_ENOSYS: return "not supported by this dataplane";
    case IX_EHOSTUNREACH: return "host unreachable (ICMP)";
    default: return "unknown ix error";
  }
}

/* ---- Commands: application -> dataplane -------------------------------------------------------- */
enum ix_cmd_op {
  IX_CMD_NOP = 0,           /* ret 0 */
  IX_CMD_TCP_LISTEN = 1,    /* IN port, arg (backlog). Claims the port for this application. */
  IX_CMD_TCP_UNLISTEN = 2,  /* IN port */
  IX_CMD_TCP_CONNECT = 3,   /* IN cookie, remote_ip, port (remote), local_port (0: any). ret = id;
                               IX_EV_TCP_CONNECTED or IX_EV_TCP_DEAD follows */
  IX_CMD_TCP_ACCEPT = 4,    /* IN id (from IX_EV_TCP_KNOCK), cookie. ret 0; data events follow */
  IX_CMD_TCP_REJECT = 5,    /* IN id (from IX_EV_TCP_KNOCK): the connection is reset */
  IX_CMD_TCP_SENDV = 6,     /* IN id, data_off, len / iov_cnt. ret = bytes accepted */
  IX_CMD_TCP_RECV_DONE = 7, /* IN id, buf: the buffer returns to the dataplane */
  IX_CMD_TCP_CLOSE = 8,     /* IN id, flags (IX_CLOSE_*). Without flags: graceful close and
                               release of the id (its unreturned RX buffers are reclaimed) */
  IX_CMD_UDP_BIND = 9,      /* IN port: claims the port for this application */
  IX_CMD_UDP_UNBIND = 10,   /* IN port */
  IX_CMD_UDP_SEND = 11,     /* IN local_port (bound by this app), remote_ip, port, data_off, len,
                               cookie; flags IX_SEND_NOTIFY asks for IX_EV_UDP_SENT. ret = len */
  IX_CMD_UDP_SENDV = 12,    /* as UDP_SEND with an iovec array (data_off, iov_cnt) */
  IX_CMD_UDP_RECV_DONE = 13, /* IN buf */
  IX_CMD_TIMER_SET = 14,    /* IN id (timer slot < IX_MAX_TIMERS), cookie, arg (delay in ns):
                               IX_EV_TIMER with the cookie after the delay; re-arms a set timer */
  IX_CMD_TIMER_CANCEL = 15, /* IN id (timer slot). ret 0, or -IX_ESTATE if it was not armed */
  IX_CMD_OP_COUNT = 16
};

/* IX_CMD_TCP_CLOSE flags. */
#define IX_CLOSE_SHUTDOWN 0x1u /* half close (send FIN), keep the id */
#define IX_CLOSE_ABORT 0x2u    /* send RST and release the id */
/* IX_CMD_UDP_SEND(V) flags. */
#define IX_SEND_NOTIFY 0x1u

#define IX_MAX_IOV 16    /* most iovecs in one SENDV */
#define IX_MAX_TIMERS 64 /* timer slots per queue pair */

/* One span of the TX area. */
struct ix_iov {
  uint64_t off; /* IN: offset in the TX area */
  uint32_t len; /* IN */
  uint32_t reserved;
};
IX_STATIC_ASSERT(sizeof(struct ix_iov) == 16, "ix_iov layout");

/* One command slot (one cache line). IN fields a command does not use are ignored and should be
 * zero; reserved0 must be zero (else -IX_EINVAL), so later versions can give it a meaning. */
struct ix_cmd {
  uint16_t op;         /* IN: enum ix_cmd_op */
  uint16_t flags;      /* IN */
  uint32_t id;         /* IN: connection id, or timer slot */
  uint64_t cookie;     /* IN: connection cookie (connect, accept), timer or send cookie */
  int64_t ret;         /* OUT (dataplane): result, >= 0 or -IX_E* */
  uint64_t data_off;   /* IN: TX-area offset of the bytes, or of the struct ix_iov array */
  uint32_t len;        /* IN: bytes at data_off when iov_cnt == 0 */
  uint32_t iov_cnt;    /* IN: 0, or the number of ix_iov at data_off (<= IX_MAX_IOV) */
  uint32_t remote_ip;  /* IN: host byte order */
  uint16_t port;       /* IN: remote port (connect, udp send) or the port to bind / listen */
  uint16_t local_port; /* IN: connect (0: ephemeral), udp send (the source port) */
  uint32_t buf;        /* IN: RX buffer index (recv_done) */
  uint32_t reserved0;
  uint64_t arg;        /* IN: backlog (listen), delay_ns (timer_set) */
};
IX_STATIC_ASSERT(sizeof(struct ix_cmd) == 64, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, id) == 4, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, cookie) == 8, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, ret) == 16, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, data_off) == 24, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, remote_ip) == 40, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, buf) == 48, "ix_cmd layout");
IX_STATIC_ASSERT(offsetof(struct ix_cmd, arg) == 56, "ix_cmd layout");

/* ---- Events: dataplane -> application ---------------------------------------------------------- */
enum ix_event_type {
  IX_EV_NONE = 0,
  IX_EV_TCP_KNOCK = 1,     /* a connection to a port this app listens on: id, remote_ip/port,
                              local_port. Answer with IX_CMD_TCP_ACCEPT or IX_CMD_TCP_REJECT;
                              the connection's other events wait for the answer */
  IX_EV_TCP_CONNECTED = 2, /* IX_CMD_TCP_CONNECT completed: id, cookie, remote_ip/port, local_port */
  IX_EV_TCP_RECV = 3,      /* bytes [data_off, data_off + len) of the RX area, in RX buffer buf.
                              len == 0 with IX_EVF_FIN (buf == IX_NO_BUF): the peer closed its
                              direction after all its data */
  IX_EV_TCP_SENT = 4,      /* send space opened after a short send: value = free bytes */
  IX_EV_TCP_DEAD = 5,      /* the connection ended: value = 0 (normal close) or -IX_E*; the id
                              stays valid until IX_CMD_TCP_CLOSE */
  IX_EV_UDP_RECV = 6,      /* datagram in buf at data_off, len; remote_ip/port, local_port */
  IX_EV_UDP_SENT = 7,      /* IX_SEND_NOTIFY send done: cookie, value = the command's ret */
  IX_EV_TIMER = 8,         /* id = timer slot, cookie */
  IX_EV_TYPE_COUNT = 9
};

#define IX_EVF_FIN 0x1u
#define IX_NO_BUF 0xffffffffu

struct ix_event {
  uint16_t type;        /* OUT: enum ix_event_type */
  uint16_t flags;       /* OUT: IX_EVF_* */
  uint32_t id;          /* OUT: connection id or timer slot */
  uint64_t cookie;      /* OUT: the connection's cookie (0 before accept) or timer/send cookie */
  int64_t value;        /* OUT: see the event type */
  uint32_t buf;         /* OUT: RX buffer index, or IX_NO_BUF */
  uint32_t len;         /* OUT: bytes */
  uint64_t data_off;    /* OUT: RX-area offset of the first byte */
  uint32_t remote_ip;   /* OUT: host byte order */
  uint16_t remote_port; /* OUT */
  uint16_t local_port;  /* OUT */
  uint64_t reserved[2];
};
IX_STATIC_ASSERT(sizeof(struct ix_event) == 64, "ix_event layout");
IX_STATIC_ASSERT(offsetof(struct ix_event, cookie) == 8, "ix_event layout");
IX_STATIC_ASSERT(offsetof(struct ix_event, value) == 16, "ix_event layout");
IX_STATIC_ASSERT(offsetof(struct ix_event, buf) == 24, "ix_event layout");
IX_STATIC_ASSERT(offsetof(struct ix_event, data_off) == 32, "ix_event layout");
IX_STATIC_ASSERT(offsetof(struct ix_event, remote_ip) == 40, "ix_event layout");

/* ---- The queue-pair area ----------------------------------------------------------------------- */
/* A 32-bit index alone on its cache line (so producer and consumer never share a line). */
struct ix_ring_index {
  IX_ALIGNAS(IX_CACHE_LINE) uint32_t value;
  uint8_t pad[IX_CACHE_LINE - sizeof(uint32_t)];
};
IX_STATIC_ASSERT(sizeof(struct ix_ring_index) == IX_CACHE_LINE, "ix_ring_index layout");

struct ix_qp_header {
  /* Written by the dataplane before the area is shared; the dataplane never reads them back. */
  uint32_t magic;         /* IX_ABI_MAGIC */
  uint32_t abi_version;   /* IX_ABI_VERSION */
  uint32_t cmd_entries;   /* power of two */
  uint32_t ev_entries;    /* power of two */
  uint64_t cmd_off;       /* offset of the command ring from the start of this header */
  uint64_t ev_off;        /* offset of the event ring */
  uint64_t tx_bytes;      /* size of the TX area */
  uint64_t rx_bytes;      /* size of the RX area */
  uint32_t rx_buf_count;  /* RX area = rx_buf_count buffers of rx_buf_size bytes */
  uint32_t rx_buf_size;
  uint32_t queue_index;   /* this queue pair's index among the application's */
  uint32_t reserved0;
  /* 64 bytes so far: the indices below start on the next cache line. */
  struct ix_ring_index cmd_prod;  /* app writes */
  struct ix_ring_index cmd_cons;  /* dataplane writes */
  struct ix_ring_index ev_prod;   /* dataplane writes */
  struct ix_ring_index ev_cons;   /* app writes */
  struct ix_ring_index dp_sleeping;  /* dataplane writes: 1 while it may block */
  struct ix_ring_index app_sleeping; /* app writes: 1 while it may block */
};
IX_STATIC_ASSERT(sizeof(struct ix_qp_header) == 7 * IX_CACHE_LINE, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, cmd_prod) == 64, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, cmd_cons) == 128, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, ev_prod) == 192, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, ev_cons) == 256, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, dp_sleeping) == 320, "ix_qp_header layout");
IX_STATIC_ASSERT(offsetof(struct ix_qp_header, app_sleeping) == 384, "ix_qp_header layout");

/* Bytes of a queue-pair area with the given ring sizes (header, command ring, event ring). */
static inline uint64_t ix_qp_area_bytes(uint32_t cmd_entries, uint32_t ev_entries) {
  return (uint64_t)sizeof(struct ix_qp_header) + (uint64_t)cmd_entries * sizeof(struct ix_cmd) +
         (uint64_t)ev_entries * sizeof(struct ix_event);
}

/* Limits the dataplane enforces on attach. */
#define IX_MIN_RING_ENTRIES 8u
#define IX_MAX_RING_ENTRIES 65536u
#define IX_MAX_QUEUES 8u
#define IX_MAX_RX_BUFS 65536u
#define IX_MIN_RX_BUF_SIZE 2048u /* holds any datagram (<= 1472 bytes) */
#define IX_MAX_RX_BUF_SIZE 65536u
#define IX_MAX_TX_BYTES (1ull << 30)

/* ---- Atomics usable from C11 and C++ (GCC / Clang builtins on plain integers) ------------------ */
static inline uint32_t ix_load_acquire(const uint32_t* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void ix_store_release(uint32_t* p, uint32_t v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint32_t ix_load_relaxed(const uint32_t* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void ix_store_relaxed(uint32_t* p, uint32_t v) {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* Full fence: orders a store before a later load (the sleeping protocol needs it). */
static inline void ix_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/* The 64-bit return code of a command slot. */
static inline int64_t ix_load_ret(const int64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void ix_store_ret(int64_t* p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/* ---- Attach protocol (ixd) --------------------------------------------------------------------- */
#define IX_DEFAULT_SOCKET "/run/ix/ixd.sock"

struct ix_attach_req {
  uint32_t magic;         /* IX_ABI_MAGIC */
  uint32_t abi_version;   /* IX_ABI_VERSION */
  uint32_t num_queues;    /* 1..IX_MAX_QUEUES */
  uint32_t cmd_entries;   /* 0: the dataplane's default; else a power of two in the limits */
  uint32_t ev_entries;    /* 0: default */
  uint32_t rx_buf_count;  /* 0: default */
  uint32_t rx_buf_size;   /* 0: default */
  uint32_t reserved0;
  uint64_t tx_bytes;      /* 0: default */
  char name[32];          /* for logs and counters, NUL-terminated */
};
IX_STATIC_ASSERT(sizeof(struct ix_attach_req) == 72, "ix_attach_req layout");

/* File descriptors per queue pair, in this order. */
enum ix_qp_fd {
  IX_QP_FD_AREA = 0, /* memfd: the queue-pair area (map read-write, shared) */
  IX_QP_FD_TX = 1,   /* memfd: the TX area (map read-write, shared) */
  IX_QP_FD_RX = 2,   /* memfd: the RX area (map read-only; sealed against writable mappings) */
  IX_QP_FD_KICK = 3, /* eventfd: app -> dataplane doorbell */
  IX_QP_FD_WAKE = 4, /* eventfd: dataplane -> app doorbell */
  IX_QP_FDS = 5
};

struct ix_attach_resp {
  uint32_t magic;        /* IX_ABI_MAGIC */
  uint32_t abi_version;  /* the dataplane's IX_ABI_VERSION */
  int32_t status;        /* 0, or -IX_E* (then no descriptors follow) */
  uint32_t num_queues;   /* queue pairs granted; num_queues * IX_QP_FDS descriptors follow */
  uint64_t qp_bytes;     /* size of each queue-pair area */
  uint64_t tx_bytes;     /* size of each TX area */
  uint64_t rx_bytes;     /* size of each RX area */
  uint32_t app_id;       /* the dataplane's name for this application */
  uint32_t reserved0;
};
IX_STATIC_ASSERT(sizeof(struct ix_attach_resp) == 48, "ix_attach_resp layout");

#endif /* IX_ABI_H_ */

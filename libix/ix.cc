// libix: the application side of a queue pair (command queueing, TX memory, results, events),
// independent of where the dataplane runs.
#include <errno.h>
#include <time.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "libix/ix_internal.h"

namespace ix::lib {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace ix::lib

namespace {

thread_local std::string g_last_error;

using ix::lib::Backend;

bool ReportsSuccess(uint16_t op) {
  switch (op) {
    case IX_CMD_TCP_CONNECT:
    case IX_CMD_TCP_SENDV:
    case IX_CMD_TCP_LISTEN:
    case IX_CMD_TCP_UNLISTEN:
    case IX_CMD_UDP_BIND:
    case IX_CMD_UDP_UNBIND:
    case IX_CMD_UDP_SEND:
    case IX_CMD_UDP_SENDV:
      return true;
    default:
      return false;
  }
}

// Moves completed commands' results into ix->completions and frees their TX memory.
void CollectCompletions(ix_t* ix) {
  const uint32_t cons = ix_load_acquire(&ix->m.header->cmd_cons.value);
  // The dataplane never completes more than was published; anything else is ignored.
  if (cons - ix->done > ix->published - ix->done) return;
  const uint32_t mask = ix->m.cmd_entries - 1;
  for (; ix->done != cons; ++ix->done) {
    const ix_ctx::SlotInfo& s = ix->slots[ix->done & mask];
    const int64_t ret = ix_load_ret(&ix->m.cmds[ix->done & mask].ret);
    ix->tx_tail = s.tx_mark;
    if (ret < 0 || ReportsSuccess(s.op)) {
      ix_event ev{};
      ev.type = IX_EV_CMD_DONE;
      ev.flags = s.op;
      ev.id = s.op == IX_CMD_TCP_CONNECT && ret >= 0 ? static_cast<uint32_t>(ret) : s.id;
      ev.cookie = s.cookie;
      ev.value = ret;
      ev.buf = IX_NO_BUF;
      ix->completions.push_back(ev);
    }
  }
}

bool HasProgress(void* arg) {
  ix_t* ix = static_cast<ix_t*>(arg);
  return ix_load_acquire(&ix->m.header->ev_prod.value) != ix->ev_cons ||
         ix_load_acquire(&ix->m.header->cmd_cons.value) != ix->done;
}

// A slot is free once the dataplane consumed it *and* its result was collected: reusing a slot
// whose result is still unread would lose that result (and the TX memory mark kept with it).
bool HasSlot(void* arg) {
  ix_t* ix = static_cast<ix_t*>(arg);
  CollectCompletions(ix);
  return ix->prod - ix->done < ix->m.cmd_entries;
}

int Collect(ix_t* ix, ix_event* out, int max) {
  CollectCompletions(ix);
  int n = 0;
  while (n < max && !ix->completions.empty()) {
    out[n++] = ix->completions.front();
    ix->completions.pop_front();
  }
  const uint32_t prod = ix_load_acquire(&ix->m.header->ev_prod.value);
  if (prod - ix->ev_cons > ix->m.ev_entries) return n;  // nonsense: ignore
  const uint32_t mask = ix->m.ev_entries - 1;
  while (n < max && ix->ev_cons != prod) {
    std::memcpy(&out[n++], &ix->m.events[ix->ev_cons & mask], sizeof(ix_event));
    ++ix->ev_cons;
  }
  ix_store_release(&ix->m.header->ev_cons.value, ix->ev_cons);
  return n;
}

// A free command slot, or null. When the ring is full, flushes and waits (bounded) for one.
ix_cmd* NextSlot(ix_t* ix) {
  if (!HasSlot(ix)) {
    ix_flush(ix);
    ix->backend->Wait(1000000000, HasSlot, ix);
    if (!HasSlot(ix)) return nullptr;
  }
  ix_cmd* c = &ix->m.cmds[ix->prod & (ix->m.cmd_entries - 1)];
  std::memset(static_cast<void*>(c), 0, sizeof(*c));
  return c;
}

int Queue(ix_t* ix, const ix_cmd& cmd) {
  ix_cmd* slot = NextSlot(ix);
  if (slot == nullptr) return -IX_EAGAIN;
  std::memcpy(static_cast<void*>(slot), &cmd, sizeof(cmd));
  ix_ctx::SlotInfo& s = ix->slots[ix->prod & (ix->m.cmd_entries - 1)];
  s.op = cmd.op;
  s.id = cmd.id;
  s.cookie = cmd.cookie;
  s.tx_mark = ix->tx_head;
  ++ix->prod;
  return 0;
}

ix_cmd Make(uint16_t op) {
  ix_cmd c{};
  c.op = op;
  return c;
}

// Turns iovecs into TX-area spans: one inline span, or an ix_iov array in TX memory.
int FillIov(ix_t* ix, ix_cmd* c, const struct iovec* iov, int iovcnt) {
  if (iovcnt < 0 || iovcnt > static_cast<int>(IX_MAX_IOV)) return -IX_EINVAL;
  auto offset_of = [&](const iovec& v, uint64_t* off) {
    const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
    if (v.iov_len == 0) {
      *off = 0;
      return true;
    }
    if (p < ix->m.tx || v.iov_len > ix->m.tx_bytes ||
        static_cast<uint64_t>(p - ix->m.tx) > ix->m.tx_bytes - v.iov_len) {
      return false;
    }
    *off = static_cast<uint64_t>(p - ix->m.tx);
    return true;
  };
  if (iovcnt == 1) {
    if (!offset_of(iov[0], &c->data_off)) return -IX_EFAULT;
    c->len = static_cast<uint32_t>(iov[0].iov_len);
    return 0;
  }
  ix_iov* arr = static_cast<ix_iov*>(ix_tx_alloc(ix, sizeof(ix_iov) * static_cast<size_t>(iovcnt)));
  if (arr == nullptr) return -IX_EAGAIN;
  for (int i = 0; i < iovcnt; ++i) {
    if (!offset_of(iov[i], &arr[i].off)) return -IX_EFAULT;
    arr[i].len = static_cast<uint32_t>(iov[i].iov_len);
    arr[i].reserved = 0;
  }
  c->data_off = static_cast<uint64_t>(reinterpret_cast<uint8_t*>(arr) - ix->m.tx);
  c->iov_cnt = static_cast<uint32_t>(iovcnt);
  return 0;
}

void ApplyEnv(ix_options* o) {
  if (o->mode == IX_MODE_DEFAULT) {
    const char* m = getenv("IX_MODE");
    o->mode = (m != nullptr && std::strcmp(m, "library") == 0) ? IX_MODE_LIBRARY : IX_MODE_IXD;
  }
  if (o->socket_path == nullptr) o->socket_path = getenv("IX_SOCKET");
  if (o->socket_path == nullptr) o->socket_path = IX_DEFAULT_SOCKET;
  if (o->iface == nullptr) o->iface = getenv("IX_IFACE");
  if (o->ip == nullptr) o->ip = getenv("IX_IP");
  if (o->gateway == nullptr) o->gateway = getenv("IX_GATEWAY");
  if (o->name == nullptr) o->name = "app";
}

}  // namespace

ix_t* ix::lib::NewContext(std::unique_ptr<Backend> b) {
  ix_t* ix = new ix_ctx();
  ix->m = b->map();
  ix->backend = std::move(b);
  ix->slots.resize(ix->m.cmd_entries);
  // Continue from wherever the indices are (a fresh area starts at 0).
  ix->prod = ix->published = ix->done = ix_load_acquire(&ix->m.header->cmd_cons.value);
  ix->ev_cons = ix_load_acquire(&ix->m.header->ev_cons.value);
  return ix;
}

extern "C" {

void ix_options_init(struct ix_options* o) { std::memset(o, 0, sizeof(*o)); }

const char* ix_last_error(void) { return g_last_error.c_str(); }

int ix_init(const struct ix_options* o, ix_t** out) { return ix_init_queues(o, out, 1); }

int ix_init_queues(const struct ix_options* opts, ix_t** out, unsigned n) {
  if (opts == nullptr || out == nullptr || n == 0 || n > IX_MAX_QUEUES) return -EINVAL;
  ix_options o = *opts;
  ApplyEnv(&o);
  if (o.mode == IX_MODE_LIBRARY) {
    if (n != 1) {
      g_last_error = "library mode runs one queue pair";
      return -EINVAL;
    }
    std::unique_ptr<Backend> b;
    if (int e = ix::lib::CreateLocalBackend(o, &b, &g_last_error); e != 0) return e;
    out[0] = ix::lib::NewContext(std::move(b));
    return 0;
  }
  std::vector<std::unique_ptr<Backend>> bs;
  if (int e = ix::lib::CreateIxdBackends(o, n, &bs, &g_last_error); e != 0) return e;
  for (unsigned i = 0; i < n; ++i) out[i] = ix::lib::NewContext(std::move(bs[i]));
  return 0;
}

void ix_destroy(ix_t* ix) { delete ix; }

int ix_mode_of(const ix_t* ix) { return ix->backend->mode(); }

int ix_flush(ix_t* ix) {
  const bool publish = ix->prod != ix->published;
  if (publish) {
    ix_store_release(&ix->m.header->cmd_prod.value, ix->prod);
    ix->published = ix->prod;
  }
  ix->backend->Kick(publish);
  return 0;
}

int ix_poll(ix_t* ix, struct ix_event* events, int max, int64_t timeout_ns) {
  if (max <= 0) return -IX_EINVAL;
  if (ix->backend->dead()) return -ECONNRESET;
  ix_flush(ix);
  int n = Collect(ix, events, max);
  if (n > 0 || timeout_ns == 0) return n;
  const uint64_t start = ix::lib::NowNs();
  for (;;) {
    int64_t left = -1;
    if (timeout_ns > 0) {
      const uint64_t spent = ix::lib::NowNs() - start;
      if (spent >= static_cast<uint64_t>(timeout_ns)) return 0;
      left = timeout_ns - static_cast<int64_t>(spent);
    }
    ix->backend->Wait(left, HasProgress, ix);
    n = Collect(ix, events, max);
    if (n > 0) return n;
    if (ix->backend->dead()) return -ECONNRESET;
  }
}

int ix_tcp_listen(ix_t* ix, uint16_t port, uint32_t backlog) {
  ix_cmd c = Make(IX_CMD_TCP_LISTEN);
  c.port = port;
  c.arg = backlog;
  return Queue(ix, c);
}

int ix_tcp_unlisten(ix_t* ix, uint16_t port) {
  ix_cmd c = Make(IX_CMD_TCP_UNLISTEN);
  c.port = port;
  return Queue(ix, c);
}

int ix_tcp_connect(ix_t* ix, uint32_t remote_ip, uint16_t remote_port, uint64_t cookie) {
  ix_cmd c = Make(IX_CMD_TCP_CONNECT);
  c.remote_ip = remote_ip;
  c.port = remote_port;
  c.cookie = cookie;
  return Queue(ix, c);
}

int ix_tcp_accept(ix_t* ix, uint32_t id, uint64_t cookie) {
  ix_cmd c = Make(IX_CMD_TCP_ACCEPT);
  c.id = id;
  c.cookie = cookie;
  return Queue(ix, c);
}

int ix_tcp_reject(ix_t* ix, uint32_t id) {
  ix_cmd c = Make(IX_CMD_TCP_REJECT);
  c.id = id;
  return Queue(ix, c);
}

int ix_tcp_sendv(ix_t* ix, uint32_t id, uint64_t cookie, const struct iovec* iov, int iovcnt) {
  ix_cmd c = Make(IX_CMD_TCP_SENDV);
  c.id = id;
  c.cookie = cookie;
  if (int e = FillIov(ix, &c, iov, iovcnt); e != 0) return e;
  return Queue(ix, c);
}

int ix_tcp_send(ix_t* ix, uint32_t id, uint64_t cookie, const void* data, size_t len) {
  void* p = ix_tx_alloc(ix, len);
  if (p == nullptr) {
    // Commands in flight hold the TX memory: let them complete and try once more.
    ix_flush(ix);
    ix->backend->Wait(1000000000, [](void* a) {
      ix_t* x = static_cast<ix_t*>(a);
      return ix_load_acquire(&x->m.header->cmd_cons.value) == x->published;
    }, ix);
    CollectCompletions(ix);
    p = ix_tx_alloc(ix, len);
    if (p == nullptr) return -IX_EAGAIN;
  }
  if (len > 0) std::memcpy(p, data, len);
  iovec v{p, len};
  return ix_tcp_sendv(ix, id, cookie, &v, 1);
}

int ix_tcp_recv_done(ix_t* ix, uint32_t id, uint32_t buf) {
  ix_cmd c = Make(IX_CMD_TCP_RECV_DONE);
  c.id = id;
  c.buf = buf;
  return Queue(ix, c);
}

static int CloseWith(ix_t* ix, uint32_t id, uint16_t flags) {
  ix_cmd c = Make(IX_CMD_TCP_CLOSE);
  c.id = id;
  c.flags = flags;
  return Queue(ix, c);
}
int ix_tcp_close(ix_t* ix, uint32_t id) { return CloseWith(ix, id, 0); }
int ix_tcp_shutdown(ix_t* ix, uint32_t id) { return CloseWith(ix, id, IX_CLOSE_SHUTDOWN); }
int ix_tcp_abort(ix_t* ix, uint32_t id) { return CloseWith(ix, id, IX_CLOSE_ABORT); }

int ix_udp_bind(ix_t* ix, uint16_t port) {
  ix_cmd c = Make(IX_CMD_UDP_BIND);
  c.port = port;
  return Queue(ix, c);
}

int ix_udp_unbind(ix_t* ix, uint16_t port) {
  ix_cmd c = Make(IX_CMD_UDP_UNBIND);
  c.port = port;
  return Queue(ix, c);
}

int ix_udp_sendv(ix_t* ix, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
                 const struct iovec* iov, int iovcnt, uint64_t cookie, int notify) {
  ix_cmd c = Make(iovcnt == 1 ? IX_CMD_UDP_SEND : IX_CMD_UDP_SENDV);
  c.local_port = local_port;
  c.remote_ip = remote_ip;
  c.port = remote_port;
  c.cookie = cookie;
  c.flags = notify ? IX_SEND_NOTIFY : 0;
  if (int e = FillIov(ix, &c, iov, iovcnt); e != 0) return e;
  return Queue(ix, c);
}

int ix_udp_send(ix_t* ix, uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
                const void* data, size_t len, uint64_t cookie, int notify) {
  void* p = ix_tx_alloc(ix, len);
  if (p == nullptr) return -IX_EAGAIN;
  if (len > 0) std::memcpy(p, data, len);
  iovec v{p, len};
  return ix_udp_sendv(ix, local_port, remote_ip, remote_port, &v, 1, cookie, notify);
}

int ix_udp_recv_done(ix_t* ix, uint32_t buf) {
  ix_cmd c = Make(IX_CMD_UDP_RECV_DONE);
  c.buf = buf;
  return Queue(ix, c);
}

int ix_timer_set(ix_t* ix, uint32_t slot, uint64_t delay_ns, uint64_t cookie) {
  ix_cmd c = Make(IX_CMD_TIMER_SET);
  c.id = slot;
  c.arg = delay_ns;
  c.cookie = cookie;
  return Queue(ix, c);
}

int ix_timer_cancel(ix_t* ix, uint32_t slot) {
  ix_cmd c = Make(IX_CMD_TIMER_CANCEL);
  c.id = slot;
  return Queue(ix, c);
}

void* ix_tx_alloc(ix_t* ix, size_t len) {
  const uint64_t size = ix->m.tx_bytes;
  len = (len + 7) & ~size_t{7};  // keep ix_iov arrays aligned
  if (len == 0) len = 8;
  if (len > size) return nullptr;
  uint64_t head = ix->tx_head;
  const uint64_t phys = head % size;
  if (phys + len > size) head += size - phys;  // no wrapped allocations: skip to the start
  if (head + len - ix->tx_tail > size) return nullptr;
  ix->tx_head = head + len;
  return ix->m.tx + head % size;
}

const void* ix_rx_data(const ix_t* ix, const struct ix_event* ev) {
  if (ev->data_off > ix->m.rx_bytes || ev->len > ix->m.rx_bytes - ev->data_off) return nullptr;
  return ix->m.rx + ev->data_off;
}

uint32_t ix_cmds_in_flight(const ix_t* ix) { return ix->prod - ix->done; }

uint32_t ix_cmd_room(const ix_t* ix) { return ix->m.cmd_entries - (ix->prod - ix->done); }

uint32_t ix_parse_ip(const char* text) {
  unsigned a, b, c, d;
  char extra;
  if (text == nullptr || sscanf(text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4) return 0;
  if (a > 255 || b > 255 || c > 255 || d > 255) return 0;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

}  // extern "C"

// libix for C++: RAII ownership of a queue pair and typed access to events. A thin layer over
// ix.h; every call maps to one C call.
//
//   ix::Context ctx;
//   if (int e = ctx.Init(opts); e != 0) return e;          // opts: struct ix_options
//   ctx.TcpListen(7);
//   ix_event ev[64];
//   for (int n; (n = ctx.Poll(ev, 1'000'000'000)) >= 0;)
//     for (int i = 0; i < n; ++i)
//       if (ev[i].type == IX_EV_TCP_RECV) { auto d = ctx.Data(ev[i]); ...; ctx.RecvDone(ev[i]); }
#ifndef IX_LIBIX_IX_HPP_
#define IX_LIBIX_IX_HPP_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ix.h"

namespace ix {

class Context {
 public:
  Context() = default;
  explicit Context(ix_t* adopt) : ix_(adopt) {}
  ~Context() { Reset(); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&& o) noexcept : ix_(o.ix_) { o.ix_ = nullptr; }
  Context& operator=(Context&& o) noexcept {
    if (this != &o) {
      Reset();
      ix_ = o.ix_;
      o.ix_ = nullptr;
    }
    return *this;
  }

  int Init(const ix_options& o) {
    Reset();
    return ix_init(&o, &ix_);
  }
  void Reset() {
    if (ix_ != nullptr) ix_destroy(ix_);
    ix_ = nullptr;
  }
  ix_t* get() const { return ix_; }
  explicit operator bool() const { return ix_ != nullptr; }

  // Events: at most N, waiting up to timeout_ns.
  template <size_t N>
  int Poll(ix_event (&events)[N], int64_t timeout_ns) {
    return ix_poll(ix_, events, static_cast<int>(N), timeout_ns);
  }
  int Flush() { return ix_flush(ix_); }

  int TcpListen(uint16_t port, uint32_t backlog = 128) { return ix_tcp_listen(ix_, port, backlog); }
  int TcpConnect(uint32_t ip, uint16_t port, uint64_t cookie) {
    return ix_tcp_connect(ix_, ip, port, cookie);
  }
  int Accept(const ix_event& knock, uint64_t cookie) { return ix_tcp_accept(ix_, knock.id, cookie); }
  int Reject(const ix_event& knock) { return ix_tcp_reject(ix_, knock.id); }
  int Send(uint32_t id, uint64_t cookie, std::string_view bytes) {
    return ix_tcp_send(ix_, id, cookie, bytes.data(), bytes.size());
  }
  // The payload of a receive event, read-only and in place.
  std::string_view Data(const ix_event& ev) const {
    const void* p = ix_rx_data(ix_, &ev);
    return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), ev.len);
  }
  int RecvDone(const ix_event& ev) {
    return ev.type == IX_EV_UDP_RECV ? ix_udp_recv_done(ix_, ev.buf)
                                     : ix_tcp_recv_done(ix_, ev.id, ev.buf);
  }
  int Close(uint32_t id) { return ix_tcp_close(ix_, id); }
  int Abort(uint32_t id) { return ix_tcp_abort(ix_, id); }
  int UdpBind(uint16_t port) { return ix_udp_bind(ix_, port); }
  int UdpSend(uint16_t local_port, uint32_t ip, uint16_t port, std::string_view bytes) {
    return ix_udp_send(ix_, local_port, ip, port, bytes.data(), bytes.size(), 0, 0);
  }
  int TimerSet(uint32_t slot, uint64_t delay_ns, uint64_t cookie) {
    return ix_timer_set(ix_, slot, delay_ns, cookie);
  }

 private:
  ix_t* ix_ = nullptr;
};

}  // namespace ix

#endif  // IX_LIBIX_IX_HPP_

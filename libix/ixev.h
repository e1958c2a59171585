// ixev: an event library on top of libix, in the style of IX's ixev. Per-connection callbacks,
// edge-triggered readiness, and send buffering with back-pressure, so that a server is a handful
// of callbacks:
//
//   ix::ev::Loop loop(ix);                              // ix: an ix_t from ix_init
//   loop.Listen(7, [](ix::ev::Conn& c) {                // a new connection: set its callbacks
//     c.on_recv = [](ix::ev::Conn& c, const uint8_t* p, size_t n) { c.Send(p, n); };   // echo
//   });
//   while (running) loop.RunOnce(/*timeout_ns=*/100'000'000);
//
// Receive: on_recv sees the bytes in place (the read-only RX buffer); the buffer goes back to the
// dataplane when the callback returns, so copy what must outlive it. An end of stream calls
// on_eof (default: Close()).
// Send: Send() copies into the connection's send buffer (bounded by send_limit) and returns how
// many bytes it took: fewer than asked means the buffer is full (back-pressure). on_writable is
// called once when room opens again after such a short Send (edge-triggered). Close() sends what
// is buffered first, then closes.
// Lifetime: a Conn lives from on_accept / Connect until on_dead returns or, after Close(), until
// the close has been queued; the Loop owns it. Do not keep Conn pointers past on_dead.
// Threading: a Loop and its connections belong to the thread that owns the ix_t.
#ifndef IX_LIBIX_IXEV_H_
#define IX_LIBIX_IXEV_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "ix.h"

namespace ix::ev {

class Loop;

class Conn {
 public:
  // Copies up to len bytes into the send buffer; returns how many it took (see above).
  size_t Send(const void* data, size_t len);
  size_t Send(const std::string& s) { return Send(s.data(), s.size()); }
  // Graceful close after the buffered bytes are sent; the Conn goes away soon after.
  void Close();
  // Reset now; buffered bytes are dropped. The Conn goes away soon after.
  void Abort();

  uint32_t id() const { return id_; }
  uint32_t remote_ip() const { return remote_ip_; }
  uint16_t remote_port() const { return remote_port_; }
  uint16_t local_port() const { return local_port_; }
  size_t send_buffered() const { return buf_.size() - buf_head_; }
  bool closing() const { return closing_; }

  size_t send_limit = 1 << 20;
  void* user = nullptr;
  std::function<void(Conn&, const uint8_t*, size_t)> on_recv;
  std::function<void(Conn&)> on_writable;
  std::function<void(Conn&)> on_eof;  // default: Close()
  std::function<void(Conn&)> on_connected;
  // The connection is gone: err 0 after a normal close, else -IX_E*.
  std::function<void(Conn&, int)> on_dead;

 private:
  friend class Loop;
  void Pump();  // one send in flight at a time

  Loop* loop_ = nullptr;
  uint64_t serial_ = 0;
  uint32_t id_ = 0;
  bool has_id_ = false;
  uint32_t remote_ip_ = 0;
  uint16_t remote_port_ = 0, local_port_ = 0;
  std::string buf_;          // send buffer: bytes [buf_head_, size) not yet accepted
  size_t buf_head_ = 0;
  size_t inflight_ = 0;      // bytes of the send command in flight (0: none)
  bool blocked_ = false;     // the stack took less than offered: wait for IX_EV_TCP_SENT
  bool sent_early_ = false;  // IX_EV_TCP_SENT came while a send's result was still outstanding
  bool want_writable_ = false;
  bool closing_ = false;
  bool released_ = false;    // close/abort queued
};

class Loop {
 public:
  explicit Loop(ix_t* ix) : ix_(ix) {}
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Accepts every connection to `port`; on_accept sets the new Conn's callbacks.
  int Listen(uint16_t port, std::function<void(Conn&)> on_accept, uint32_t backlog = 128);
  // Opens a connection; on_connected or on_dead follows. The Conn is valid until on_dead.
  Conn* Connect(uint32_t ip, uint16_t port);
  // Polls once (waiting up to timeout_ns for events) and dispatches. Returns events handled or
  // a negative error.
  int RunOnce(int64_t timeout_ns);
  size_t connections() const { return conns_.size(); }
  ix_t* ix() const { return ix_; }

  // Datagrams to ports bound with ix_udp_bind, in place; the buffer returns after the callback.
  std::function<void(const ix_event& ev, const uint8_t* data, size_t len)> on_udp;
  // IX_EV_TIMER and IX_EV_UDP_SENT events.
  std::function<void(const ix_event& ev)> on_other;
  // Commands rejected by the dataplane (other than sends), for diagnostics.
  uint64_t command_errors() const { return command_errors_; }

 private:
  friend class Conn;
  void Dispatch(const ix_event& ev);
  Conn* Find(uint64_t serial);
  void Release(Conn* c, bool abort);
  void Destroy(uint64_t serial);

  ix_t* ix_;
  uint64_t next_serial_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<uint16_t, std::function<void(Conn&)>> listeners_;
  uint64_t command_errors_ = 0;
};

}  // namespace ix::ev

#endif  // IX_LIBIX_IXEV_H_

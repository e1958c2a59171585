// The application half of ix-echo: a TCP echo server (with UDP echo on the same port) or a tiny
// HTTP/1.1 responder, written against the Stack's event API. No I/O of its own: it reacts to
// events and calls the stack, so tests drive it over the in-memory NIC pair.
//
//   EchoServer server(stack, {.mode = EchoMode::kEcho, .port = 7});
//   if (absl::Status st = server.Start(); !st.ok()) ...
//   for (;;) { stack->RunOnce(now); int n = server.HandleEvents(); stack->Flush(); ... }
//
// Echo mode: every byte read is sent back in order. Back-pressure: bytes are consumed from the
// receive buffer only once the send buffer took them; a short Send arms kTcpWritable, which
// resumes the echo. Nothing is dropped. When the peer closes, the rest is echoed and then the
// connection is closed (FIN after the queued data). UDP datagrams to the port are sent back.
// sockperf: sockperf's client ignores replies that still carry its "from client" flag, so echo
// mode speaks sockperf's message format when a peer uses it (header: 8-byte sequence number,
// 16-bit flags with bit 0 "client", bit 1 "pong request", bit 2 "warmup", 32-bit length, all big
// endian): a UDP datagram that is exactly one such message, and a TCP connection whose first 14
// bytes are one such header (sequence number below 2^16), are answered the way sockperf's server
// does it: a message with the pong-request flag comes back with the client flag cleared; others
// (throughput mode) get no reply. Anything else is echoed verbatim.
// HTTP mode: requests are read up to the blank line (bodies are not expected; at most
// kMaxRequestBytes of headers); any GET or HEAD gets 200 with a fixed body and Content-Length,
// other methods 405. Keep-alive by default for HTTP/1.1; "Connection: close" or HTTP/1.0 without
// "Connection: keep-alive" closes after the response. Pipelined requests are answered in order.
//
// Threading: the stack's owner thread only.
#ifndef IX_EXAMPLES_ECHO_ECHO_SERVER_H_
#define IX_EXAMPLES_ECHO_ECHO_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dataplane/core/stack.h"

namespace ix::examples {

enum class EchoMode { kEcho, kHttp };

struct EchoServerOptions {
  EchoMode mode = EchoMode::kEcho;
  uint16_t port = 7;
  uint32_t backlog = 4096;
  bool udp = true;  // echo mode: UDP echo on the same port
};

struct EchoServerCounters {
  uint64_t accepted = 0;
  uint64_t closed = 0;   // connections released by the server
  uint64_t resets = 0;   // kTcpReset events
  uint64_t bytes_echoed = 0;
  uint64_t udp_echoed = 0;
  uint64_t udp_send_failed = 0;
  uint64_t sockperf_replies = 0;
  uint64_t http_requests = 0;
  uint64_t http_bad_requests = 0;
};

inline constexpr size_t kMaxRequestBytes = 8192;

class EchoServer {
 public:
  EchoServer(dp::Stack* stack, const EchoServerOptions& options);

  // Listens (and binds UDP in echo mode).
  absl::Status Start();
  // Handles every event the stack has queued; returns how many.
  int HandleEvents();

  size_t open_connections() const { return open_; }
  const EchoServerCounters& counters() const { return counters_; }

  // The HTTP response body (for tests and curl).
  static absl::string_view HttpBody() { return "hello from ix\n"; }

  // sockperf message header facts (see above), for the server and tests.
  static constexpr size_t kSockperfHeaderBytes = 14;
  // Returns how many leading bytes of `prefix` are consistent with a sockperf header opening a
  // connection (all of them, up to 14, if it may be one).
  static size_t SockperfPrefixMatch(absl::Span<const uint8_t> prefix);

 private:
  enum class Proto : uint8_t { kUnknown, kEcho, kSockperf };
  struct Conn {
    net::tcp::ConnId id = net::tcp::kInvalidConnId;
    Proto proto = Proto::kUnknown;
    bool open = false;
    bool peer_closed = false;
    bool close_after_output = false;  // HTTP: Connection: close
    std::string in;                   // HTTP: request bytes not yet answered
    std::string out;                  // HTTP: response bytes the send buffer did not take
  };

  void HandleEvent(const dp::StackEvent& ev);
  Conn* Find(net::tcp::ConnId c);
  void Release(net::tcp::ConnId c, Conn* conn);
  void Echo(net::tcp::ConnId c, Conn* conn);
  void Sockperf(net::tcp::ConnId c, Conn* conn);
  void FlushOut(net::tcp::ConnId c, Conn* conn);
  void Http(net::tcp::ConnId c, Conn* conn);
  void HttpFlush(net::tcp::ConnId c, Conn* conn);
  // Parses complete requests at the head of conn->in and queues their responses.
  void HttpAnswer(Conn* conn);

  dp::Stack* stack_;
  EchoServerOptions options_;
  std::vector<Conn> conns_;  // indexed by the handle's slot
  size_t open_ = 0;
  EchoServerCounters counters_;
};

}  // namespace ix::examples

#endif  // IX_EXAMPLES_ECHO_ECHO_SERVER_H_

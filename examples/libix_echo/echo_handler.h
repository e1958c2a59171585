// The protocol side of ix-echo-app: TCP echo (with sockperf's ping-pong framing recognized, as
// its server would answer) and the reply to a UDP datagram. No I/O: StreamServer feeds it.
//
//   auto h = std::make_unique<ix::apps::EchoHandler>();   // one per connection
//   h->OnData(bytes, &out);                               // out: what to send back
//   std::string reply;
//   if (ix::apps::UdpEchoReply(datagram, &reply)) Send(reply);
//
// sockperf (ping-pong, throughput, under-load) frames every message with a 14-byte header:
// 64-bit sequence number, 16-bit flags (bit 0: from the client, bit 1: the client wants a
// reply), 32-bit total length, all big-endian. Its server answers only messages with bit 1 set,
// with bit 0 cleared, and stays silent otherwise; a plain echo would send every message back
// unchanged, which sockperf ignores. A TCP connection whose first 14 bytes look like such a
// header is served as sockperf; anything else is echoed byte for byte.
#ifndef IX_EXAMPLES_LIBIX_ECHO_ECHO_HANDLER_H_
#define IX_EXAMPLES_LIBIX_ECHO_ECHO_HANDLER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "examples/kv/stream_server.h"

namespace ix::apps {

inline constexpr size_t kSockperfHeaderBytes = 14;
inline constexpr size_t kSockperfMaxMessageBytes = 65535;

// How many leading bytes of p (at most kSockperfHeaderBytes) are consistent with the header of
// a sockperf client's first message.
[[nodiscard]] size_t SockperfPrefixMatch(absl::Span<const uint8_t> p);

// The reply to one UDP datagram: false when none is due (a sockperf message that asks for no
// reply); otherwise *reply is the datagram itself, or the sockperf answer to it.
[[nodiscard]] bool UdpEchoReply(absl::Span<const uint8_t> datagram, std::string* reply);

struct EchoCounters {
  uint64_t echoed_bytes = 0;
  uint64_t sockperf_replies = 0;
};

class EchoHandler : public StreamHandler {
 public:
  // `counters` (may be null) is shared by all connections and must outlive the handler.
  explicit EchoHandler(EchoCounters* counters = nullptr) : counters_(counters) {}
  Result OnData(absl::Span<const uint8_t> in, std::string* out) override;

 private:
  enum class Mode : uint8_t { kUnknown, kEcho, kSockperf };
  // Sockperf messages out of msg_ (a partial message stays there).
  void Sockperf(std::string* out);
  void Echo(absl::Span<const uint8_t> in, std::string* out);

  EchoCounters* counters_;
  Mode mode_ = Mode::kUnknown;
  std::string msg_;  // the start of the stream (kUnknown) or a partial sockperf message
};

}  // namespace ix::apps

#endif  // IX_EXAMPLES_LIBIX_ECHO_ECHO_HANDLER_H_

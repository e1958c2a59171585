// The network-stack operations the ixd command processor executes commands against: an abstract
// interface so that unit tests drive the processor with a fake and ixd (and libix's library mode)
// with the real dp::Stack through DpStackOps (dp_stack_ops.h). Mirrors dp::Stack's signatures.
#ifndef IX_DATAPLANE_IXD_STACK_OPS_H_
#define IX_DATAPLANE_IXD_STACK_OPS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/net/tcp/tcp_types.h"

namespace ix::ixd {

using net::tcp::ConnId;
using net::tcp::TcpError;
using net::tcp::TcpIoResult;
using net::tcp::TcpReadView;

// A stack event as the processor sees it (dp::StackEvent without the stack dependency).
enum class StackEventType : uint8_t {
  kTcpAccepted,
  kTcpConnected,
  kTcpReadable,
  kTcpWritable,
  kTcpPeerClosed,
  kTcpClosed,
  kTcpReset,
  kUdpReceived,
};

struct StackEvent {
  StackEventType type = StackEventType::kTcpReadable;
  ConnId conn = net::tcp::kInvalidConnId;
  TcpError error = TcpError::kOk;
  uint32_t remote_ip = 0;
  uint16_t remote_port = 0;
  uint16_t local_port = 0;
  absl::Span<const uint8_t> payload;  // kUdpReceived: valid until the stack runs again
};

// Result of UdpSend as an ABI error code: 0 or IX_E* (positive).
using UdpErrorCode = int;

// Threading: called only from the thread that owns the stack (the processor's thread).
class StackOps {
 public:
  virtual ~StackOps() = default;

  virtual absl::Status Listen(uint16_t port, uint32_t backlog) = 0;
  virtual absl::Status Unlisten(uint16_t port) = 0;
  virtual absl::StatusOr<ConnId> Connect(uint32_t remote_ip, uint16_t remote_port,
                                         uint16_t local_port) = 0;
  virtual TcpIoResult Send(ConnId c, absl::Span<const uint8_t> data) = 0;
  virtual size_t SendSpace(ConnId c) const = 0;
  virtual TcpReadView Peek(ConnId c) const = 0;
  virtual TcpError Consume(ConnId c, size_t n) = 0;
  virtual TcpError Shutdown(ConnId c) = 0;
  virtual TcpError Close(ConnId c) = 0;
  virtual TcpError Abort(ConnId c) = 0;
  virtual absl::Status UdpBind(uint16_t port) = 0;
  virtual absl::Status UdpUnbind(uint16_t port) = 0;
  virtual UdpErrorCode UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                               absl::Span<const uint8_t> payload) = 0;
  // Moves up to out.size() queued events into `out`.
  virtual size_t PollEvents(absl::Span<StackEvent> out) = 0;
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_STACK_OPS_H_

// StackOps over dp::Stack.
#include "dataplane/ixd/dp_stack_ops.h"

#include <algorithm>

#include "ix/abi.h"

namespace ix::ixd {

absl::Status DpStackOps::Listen(uint16_t port, uint32_t backlog) {
  return stack_->Listen(port, backlog);
}
absl::Status DpStackOps::Unlisten(uint16_t port) { return stack_->Unlisten(port); }
absl::StatusOr<ConnId> DpStackOps::Connect(uint32_t remote_ip, uint16_t remote_port,
                                           uint16_t local_port) {
  return stack_->Connect(remote_ip, remote_port, local_port);
}
TcpIoResult DpStackOps::Send(ConnId c, absl::Span<const uint8_t> data) {
  return stack_->Send(c, data);
}
size_t DpStackOps::SendSpace(ConnId c) const { return stack_->SendSpace(c); }
TcpReadView DpStackOps::Peek(ConnId c) const { return stack_->Peek(c); }
TcpError DpStackOps::Consume(ConnId c, size_t n) { return stack_->Consume(c, n); }
TcpError DpStackOps::Shutdown(ConnId c) { return stack_->Shutdown(c); }
TcpError DpStackOps::Close(ConnId c) { return stack_->Close(c); }
TcpError DpStackOps::Abort(ConnId c) { return stack_->Abort(c); }
absl::Status DpStackOps::UdpBind(uint16_t port) { return stack_->UdpBind(port); }
absl::Status DpStackOps::UdpUnbind(uint16_t port) { return stack_->UdpUnbind(port); }

UdpErrorCode DpStackOps::UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                                 absl::Span<const uint8_t> payload) {
  switch (stack_->UdpSend(src_port, dst_ip, dst_port, payload)) {
    case dp::UdpSendResult::kOk:
      return IX_OK;
    case dp::UdpSendResult::kTooLong:
      return IX_EMSGSIZE;
    case dp::UdpSendResult::kNoRoute:
      return IX_ENETUNREACH;
    case dp::UdpSendResult::kNoBuffer:
    case dp::UdpSendResult::kArpDropped:
    case dp::UdpSendResult::kTxFull:
      return IX_ENOBUFS;
    case dp::UdpSendResult::kBadArgument:
      return IX_EINVAL;
  }
  return IX_EINVAL;
}

size_t DpStackOps::PollEvents(absl::Span<StackEvent> out) {
  dp::StackEvent evs[64];
  const size_t n = stack_->PollEvents(absl::MakeSpan(evs, std::min<size_t>(64, out.size())));
  for (size_t i = 0; i < n; ++i) {
    const dp::StackEvent& e = evs[i];
    StackEvent& o = out[i];
    o.type = static_cast<StackEventType>(static_cast<uint8_t>(e.type));
    o.conn = e.conn;
    o.error = e.error;
    o.remote_ip = e.remote_ip;
    o.remote_port = e.remote_port;
    o.local_port = e.local_port;
    o.payload = e.payload;
  }
  return n;
}

// The two enums must stay in step (the cast above relies on it).
static_assert(static_cast<int>(dp::StackEventType::kTcpAccepted) ==
              static_cast<int>(StackEventType::kTcpAccepted));
static_assert(static_cast<int>(dp::StackEventType::kTcpReset) ==
              static_cast<int>(StackEventType::kTcpReset));
static_assert(static_cast<int>(dp::StackEventType::kUdpReceived) ==
              static_cast<int>(StackEventType::kUdpReceived));

}  // namespace ix::ixd

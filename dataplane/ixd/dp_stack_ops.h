// StackOps over the real run-to-completion stack (dataplane/core/stack.h): what ixd and libix's
// library mode hand to the command processor.
//
//   DpStackOps ops(stack.get());
//   Processor proc(&ops, {});
#ifndef IX_DATAPLANE_IXD_DP_STACK_OPS_H_
#define IX_DATAPLANE_IXD_DP_STACK_OPS_H_

#include "dataplane/core/stack.h"
#include "dataplane/ixd/stack_ops.h"

namespace ix::ixd {

class DpStackOps : public StackOps {
 public:
  explicit DpStackOps(dp::Stack* stack) : stack_(stack) {}

  absl::Status Listen(uint16_t port, uint32_t backlog) override;
  absl::Status Unlisten(uint16_t port) override;
  absl::StatusOr<ConnId> Connect(uint32_t remote_ip, uint16_t remote_port,
                                 uint16_t local_port) override;
  TcpIoResult Send(ConnId c, absl::Span<const uint8_t> data) override;
  size_t SendSpace(ConnId c) const override;
  TcpReadView Peek(ConnId c) const override;
  TcpError Consume(ConnId c, size_t n) override;
  TcpError Shutdown(ConnId c) override;
  TcpError Close(ConnId c) override;
  TcpError Abort(ConnId c) override;
  absl::Status UdpBind(uint16_t port) override;
  absl::Status UdpUnbind(uint16_t port) override;
  UdpErrorCode UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                       absl::Span<const uint8_t> payload) override;
  size_t PollEvents(absl::Span<StackEvent> out) override;

  dp::Stack* stack() const { return stack_; }

 private:
  dp::Stack* stack_;
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_DP_STACK_OPS_H_

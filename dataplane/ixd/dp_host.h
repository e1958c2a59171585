// The dataplane's own half: a packet-buffer pool, an AF_XDP queue on an interface and a stack on
// top, built from an interface name and an address. Used by ixd and by libix's library mode.
//
//   absl::StatusOr<std::unique_ptr<DpHost>> h = DpHost::Create({.iface = "eth1",
//                                                               .ip = "10.0.0.1/24"});
//   (*h)->stack()->RunOnce(dp::MonotonicNowNs());
#ifndef IX_DATAPLANE_IXD_DP_HOST_H_
#define IX_DATAPLANE_IXD_DP_HOST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/core/mbuf.h"
#include "dataplane/core/stack.h"
#include "dataplane/nic/af_xdp.h"

namespace ix::ixd {

struct DpHostOptions {
  std::string iface;
  std::string ip;       // "A.B.C.D" (prefix 24) or "A.B.C.D/len"
  std::string gateway;  // "" for none
  uint32_t queue_id = 0;
  uint32_t num_buffers = 4096;
  bool busy_poll = false;
};

class DpHost {
 public:
  static absl::StatusOr<std::unique_ptr<DpHost>> Create(const DpHostOptions& options);
  ~DpHost();  // stack, then queue, then pool
  DpHost(const DpHost&) = delete;
  DpHost& operator=(const DpHost&) = delete;

  dp::Stack* stack() const { return stack_.get(); }
  nic::AfXdpQueue* queue() const { return queue_.get(); }

 private:
  DpHost() = default;
  std::unique_ptr<core::MbufPool> pool_;
  std::unique_ptr<nic::AfXdpQueue> queue_;
  std::unique_ptr<dp::Stack> stack_;
};

// "A.B.C.D/len" -> address and prefix (len defaults to 24).
absl::Status ParseCidr(const std::string& text, net::Ipv4Address* ip, int* prefix_len);
// The MAC address of an interface in the calling thread's network namespace.
absl::StatusOr<net::MacAddress> InterfaceMac(const std::string& ifname);

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_DP_HOST_H_

// DpHost: pool + AF_XDP queue + stack.
#include "dataplane/ixd/dp_host.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace ix::ixd {

absl::Status ParseCidr(const std::string& text, net::Ipv4Address* ip, int* prefix_len) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.empty() || parts.size() > 2) {
    return absl::InvalidArgumentError(absl::StrFormat("bad address '%s'", text));
  }
  absl::StatusOr<net::Ipv4Address> a = net::ParseIpv4Address(parts[0]);
  if (!a.ok()) return a.status();
  int len = 24;
  if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &len) || len < 0 || len > 32)) {
    return absl::InvalidArgumentError(absl::StrFormat("bad prefix length in '%s'", text));
  }
  *ip = *a;
  *prefix_len = len;
  return absl::OkStatus();
}

absl::StatusOr<net::MacAddress> InterfaceMac(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrFormat("bad interface name '%s'", ifname));
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  const int r = ioctl(fd, SIOCGIFHWADDR, &ifr);
  const int err = errno;
  close(fd);
  if (r != 0) {
    return absl::ErrnoToStatus(err, absl::StrFormat("ioctl(SIOCGIFHWADDR, %s)", ifname));
  }
  return net::MacAddress::FromBytes(reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data));
}

absl::StatusOr<std::unique_ptr<DpHost>> DpHost::Create(const DpHostOptions& o) {
  dp::StackConfig cfg;
  if (absl::Status st = ParseCidr(o.ip, &cfg.ip, &cfg.prefix_len); !st.ok()) return st;
  if (!o.gateway.empty()) {
    absl::StatusOr<net::Ipv4Address> gw = net::ParseIpv4Address(o.gateway);
    if (!gw.ok()) return gw.status();
    cfg.gateway = *gw;
  }
  absl::StatusOr<net::MacAddress> mac = InterfaceMac(o.iface);
  if (!mac.ok()) return mac.status();
  cfg.mac = *mac;

  std::unique_ptr<DpHost> h(new DpHost());
  core::MbufPoolOptions po;
  po.num_buffers = o.num_buffers;
  po.name = "ixd-" + o.iface;
  absl::StatusOr<std::unique_ptr<core::MbufPool>> pool = core::MbufPool::Create(po);
  if (!pool.ok()) return pool.status();
  h->pool_ = std::move(*pool);
  nic::AfXdpOptions xo;
  xo.ifname = o.iface;
  xo.queue_id = o.queue_id;
  xo.pool = h->pool_.get();
  xo.busy_poll = o.busy_poll;
  absl::StatusOr<std::unique_ptr<nic::AfXdpQueue>> q = nic::AfXdpQueue::Open(xo);
  if (!q.ok()) return q.status();
  h->queue_ = std::move(*q);
  absl::StatusOr<std::unique_ptr<dp::Stack>> s = dp::Stack::Create(cfg, h->queue_.get());
  if (!s.ok()) return s.status();
  h->stack_ = std::move(*s);
  return h;
}

DpHost::~DpHost() {
  stack_.reset();
  queue_.reset();
  pool_.reset();
}

}  // namespace ix::ixd

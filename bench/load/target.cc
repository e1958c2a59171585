// Target address parsing and the loopback / namespace-only sending policy (see target.h).
#include "bench/load/target.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ix::load {
namespace {

// Names of interfaces that carry a default route (IPv4 or IPv6).
std::set<std::string> DefaultRouteInterfaces() {
  std::set<std::string> out;
  std::ifstream v4("/proc/net/route");
  std::string line;
  std::getline(v4, line);  // header
  while (std::getline(v4, line)) {
    std::istringstream ss(line);
    std::string iface, dest;
    if (ss >> iface >> dest && dest == "00000000") out.insert(iface);
  }
  std::ifstream v6("/proc/net/ipv6_route");
  while (std::getline(v6, line)) {
    std::istringstream ss(line);
    std::string dest, plen, src, splen, next, metric, ref, use, flags, iface;
    if (ss >> dest >> plen >> src >> splen >> next >> metric >> ref >> use >> flags >> iface &&
        plen == "00" && dest == std::string(32, '0') && iface != "lo") {
      out.insert(iface);
    }
  }
  return out;
}

bool SameSubnet(const sockaddr* a, const sockaddr* b, const sockaddr* mask) {
  if (a->sa_family != b->sa_family || mask == nullptr || mask->sa_family != a->sa_family) {
    return false;
  }
  const uint8_t *pa, *pb, *pm;
  size_t n;
  if (a->sa_family == AF_INET) {
    pa = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(a)->sin_addr);
    pb = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(b)->sin_addr);
    pm = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
    n = 4;
  } else {
    pa = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr.s6_addr;
    pb = reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr.s6_addr;
    pm = reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr.s6_addr;
    n = 16;
  }
  bool any_mask = false;
  for (size_t i = 0; i < n; ++i) {
    if ((pa[i] & pm[i]) != (pb[i] & pm[i])) return false;
    any_mask |= pm[i] != 0;
  }
  return any_mask;  // a /0 "subnet" is no subnet
}

}  // namespace

absl::StatusOr<Target> ParseTarget(absl::string_view host_port) {
  Target t;
  t.text = std::string(host_port);
  std::string host;
  absl::string_view port_text;
  if (!host_port.empty() && host_port[0] == '[') {
    const size_t close = host_port.find(']');
    if (close == absl::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad server address '", host_port, "' (want [IPV6]:PORT)"));
    }
    host = std::string(host_port.substr(1, close - 1));
    port_text = host_port.substr(close + 2);
  } else {
    const size_t colon = host_port.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad server address '", host_port, "' (want HOST:PORT)"));
    }
    host = std::string(host_port.substr(0, colon));
    port_text = host_port.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", host_port, "'"));
  }
  if (host == "localhost") host = "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    t.addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    t.addr_len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad host '", host, "' in '", host_port, "' (numeric IPv4/IPv6 or localhost only)"));
  }
  return t;
}

bool IsLoopback(const Target& t) {
  if (t.addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&t.addr);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (t.addr.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&t.addr)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

absl::Status CheckTargetAllowed(const Target& t, bool allow_netns_address) {
  if (IsLoopback(t)) return absl::OkStatus();
  if (!allow_netns_address) {
    return absl::PermissionDeniedError(absl::StrCat(
        "refusing to send to non-loopback address ", t.text,
        ": only 127.0.0.0/8 and ::1 are allowed unless --allow_netns_address is given "
        "(for an address inside a network namespace you created)"));
  }
  const std::set<std::string> default_ifs = DefaultRouteInterfaces();
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) {
    return absl::InternalError(absl::StrCat("getifaddrs: ", std::strerror(errno)));
  }
  bool ok = false;
  std::string via;
  for (ifaddrs* i = ifs; i != nullptr && !ok; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    if (default_ifs.count(i->ifa_name) != 0) continue;
    if (SameSubnet(i->ifa_addr, reinterpret_cast<const sockaddr*>(&t.addr), i->ifa_netmask)) {
      ok = true;
      via = i->ifa_name;
    }
  }
  freeifaddrs(ifs);
  if (!ok) {
    return absl::PermissionDeniedError(absl::StrCat(
        "refusing to send to ", t.text,
        ": with --allow_netns_address the address must be on a subnet directly attached to a "
        "local interface without a default route (e.g. a veth into a test namespace)"));
  }
  return absl::OkStatus();
}

}  // namespace ix::load

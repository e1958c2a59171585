// The server address ix-load sends to, and the policy on which addresses it may send to:
// loopback (127.0.0.0/8, ::1) always; otherwise only with --allow_netns_address, and then only an
// address on a subnet directly attached to an interface that does not carry a default route
// (a veth into a network namespace the caller created), never a routed or default-link host.
#ifndef IX_BENCH_LOAD_TARGET_H_
#define IX_BENCH_LOAD_TARGET_H_

#include <sys/socket.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ix::load {

struct Target {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string text;  // as given, for reports
};

// Parses "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (numeric addresses only, no DNS).
absl::StatusOr<Target> ParseTarget(absl::string_view host_port);

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopback(const Target& t);

// OK when the generator may send to t (see the file comment).
absl::Status CheckTargetAllowed(const Target& t, bool allow_netns_address);

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_TARGET_H_

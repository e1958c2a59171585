// ixd's stats socket: non-blocking accept, one non-blocking send, close.
#include "dataplane/ixd/stats_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ix::ixd {
namespace {

// mkdir -p of the socket's directory.
void MakeParentDirs(const std::string& path) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    const std::string dir = path.substr(0, i);
    (void)mkdir(dir.c_str(), 0755);
  }
}

}  // namespace

absl::StatusOr<int> ListenUnixSocket(const std::string& path, int type, mode_t mode) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket path '%s' is empty or too long", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  MakeParentDirs(path);
  // A socket file left by a dead server is replaced; a live one is not (connect succeeds).
  const int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(probe);
    if (live) return absl::AlreadyExistsError(absl::StrFormat("another ixd is serving %s", path));
  }
  const int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    close(fd);
    return absl::ErrnoToStatus(e, absl::StrFormat("bind(%s)", path));
  }
  if (chmod(path.c_str(), mode) != 0 || listen(fd, 64) != 0) {
    const int e = errno;
    close(fd);
    unlink(path.c_str());
    return absl::ErrnoToStatus(e, absl::StrFormat("chmod/listen(%s)", path));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<StatsServer>> StatsServer::Listen(const std::string& path) {
  absl::StatusOr<int> fd = ListenUnixSocket(path, SOCK_STREAM, 0600);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<StatsServer>(new StatsServer(*fd, path));
}

StatsServer::~StatsServer() {
  close(fd_);
  unlink(path_.c_str());
}

StatsServer::Result StatsServer::Serve(absl::FunctionRef<std::string()> render) {
  Result r;
  std::string answer;
  bool rendered = false;
  for (int i = 0; i < kMaxClientsPerServe; ++i) {
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) break;
    if (!rendered) {
      answer = render() + "\n";
      rendered = true;
    }
    const ssize_t n = send(c, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(answer.size())) {
      ++r.served;
    } else {
      ++r.dropped;
    }
    // Discard what the client sent so far (bounded), so that closing does not turn its read of
    // the answer into ECONNRESET; anything beyond is its problem.
    char sink[4096];
    (void)!recv(c, sink, sizeof(sink), MSG_DONTWAIT);
    close(c);
  }
  return r;
}

}  // namespace ix::ixd

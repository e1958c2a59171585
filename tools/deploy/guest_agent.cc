// ix-deploy-agent: runs inside an ix-deploy guest and answers the host over the virtio-serial port
// named org.ix.stats. The host writes one request line, "stats" or "logs"; the agent answers with
// one JSON object on one line (see guest_report.h; "stats" carries ixd's live counters, read from
// ixd's stats socket on each request). Between host connections the port reads EOF or
// reports POLLHUP; the agent then waits and retries, so hosts may come and go.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/deploy/guest_report.h"

namespace {

constexpr char kPortName[] = "org.ix.stats";

// /dev/vportNpM of the port named kPortName (devtmpfs has no /dev/virtio-ports links: no udev).
std::string FindPort() {
  for (int dev = 0; dev < 8; ++dev) {
    for (int port = 0; port < 32; ++port) {
      const std::string base = "vport" + std::to_string(dev) + "p" + std::to_string(port);
      if (ix::deploy::ReadFileOr("/sys/class/virtio-ports/" + base + "/name", "") ==
          std::string(kPortName) + "\n") {
        return "/dev/" + base;
      }
    }
  }
  return "";
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Serves requests on fd until the host goes away (EOF, POLLHUP or an error).
void Serve(int fd) {
  std::string buf;
  char chunk[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;
    if (r == 0) continue;
    if ((p.revents & POLLIN) == 0) return;  // POLLHUP: no host connected
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) return;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      const std::string request = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!WriteAll(fd, ix::deploy::Answer(request) + "\n")) return;
    }
    if (buf.size() > 4096) buf.clear();  // not a request of ours
  }
}

}  // namespace

int main() {
  std::string port;
  for (int i = 0; i < 300 && port.empty(); ++i) {
    port = FindPort();
    if (port.empty()) usleep(100 * 1000);
  }
  if (port.empty()) {
    fprintf(stderr, "ix-deploy-agent: no virtio-serial port named %s\n", kPortName);
    return 1;
  }
  fprintf(stderr, "ix-deploy-agent: serving on %s\n", port.c_str());
  for (;;) {
    const int fd = open(port.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "ix-deploy-agent: open %s: %s\n", port.c_str(), strerror(errno));
      sleep(1);
      continue;
    }
    Serve(fd);
    close(fd);
    usleep(200 * 1000);  // the host is not connected: look again soon
  }
}

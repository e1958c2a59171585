// ixd's stats socket: a Unix stream socket on which every connection gets one answer (a JSON
// object and "\n", see Daemon::StatsJson) and is then closed. Served from the daemon's own loop:
// accept, the one send and the close never block, so no client can stall the dataplane.
//
//   absl::StatusOr<std::unique_ptr<StatsServer>> s = StatsServer::Listen("/run/ix/ixd.sock.stats");
//   // poll (*s)->fd() for POLLIN together with the other sockets; when readable:
//   StatsServer::Result r = (*s)->Serve([&] { return daemon.StatsJson(); });
//
// Protocol: connect, read until EOF. There is no request: whatever the client sends is ignored
// (garbage included; up to 4 KiB of it is read and thrown away, so that the close does not turn
// the client's read into ECONNRESET), and every client gets the same answer. The answer is written
// with one non-blocking send; if the socket does not take all of it (EAGAIN or a short write, only
// possible for answers larger than the socket buffer; or the client already closed) the client is
// dropped and counted, and what it reads is then not a complete line. The socket file is mode
// 0600: only ixd's user and root may connect (the rule the attach socket checks with SO_PEERCRED).
//
// Threading: the daemon's thread calls everything.
#ifndef IX_DATAPLANE_IXD_STATS_SERVER_H_
#define IX_DATAPLANE_IXD_STATS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace ix::ixd {

// Creates, binds and listens on a non-blocking Unix socket of `type` at `path` (its directory is
// created; whatever is at `path` is replaced unless a live server answers there: AlreadyExists)
// and chmods the file to `mode`. Returns the listening descriptor; the caller closes it and
// unlinks the path. On error nothing is left open and a live server's file is never removed.
absl::StatusOr<int> ListenUnixSocket(const std::string& path, int type, mode_t mode);

class StatsServer {
 public:
  struct Result {
    uint64_t served = 0;   // clients that got the whole answer
    uint64_t dropped = 0;  // clients whose socket did not take the whole answer (or gone)
  };
  // Clients accepted in one Serve call at most (the rest wait in the backlog for the next one).
  static constexpr int kMaxClientsPerServe = 16;

  static absl::StatusOr<std::unique_ptr<StatsServer>> Listen(const std::string& path);
  ~StatsServer();  // closes the socket and removes its file
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Accepts pending clients (up to kMaxClientsPerServe), answers each with render() + "\n" and
  // closes it. render is called at most once per Serve, and only if a client is waiting.
  Result Serve(absl::FunctionRef<std::string()> render);

 private:
  StatsServer(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_STATS_SERVER_H_

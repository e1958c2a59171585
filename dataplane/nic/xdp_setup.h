// Process-wide AF_XDP setup shared by every AfXdpQueue: libxdp/libbpf logging, a usable bpffs,
// errno-to-Status mapping, and which XDP programs this process attached (so the last queue on an
// interface can remove them). Internal to nic/.
#ifndef IX_DATAPLANE_NIC_XDP_SETUP_H_
#define IX_DATAPLANE_NIC_XDP_SETUP_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ix::nic::xdp_internal {

// A Status for a failed call: "<context>: <call> failed: <strerror> (errno N)", with a code that
// fits the errno (NotFound for ENODEV, Unavailable for EBUSY, ...).
absl::Status ErrnoStatus(absl::string_view context, absl::string_view call, int err);

// Once per process: routes libxdp/libbpf warnings to stderr with a prefix (debug output dropped)
// and makes sure libxdp has a bpffs (LIBXDP_BPFFS set, /sys/fs/bpf mounted, or a private mount
// made here). Returns a description of the bpffs in use, for logs.
std::string EnsureLibxdpEnvironment();

// Identifies the calling thread's network namespace (the inode of /proc/thread-self/ns/net).
uint64_t CurrentNetnsId();

// Bookkeeping of XDP programs per (netns, ifindex), guarded by a process-wide mutex that also
// serializes socket creation and deletion. Usage from Open:
//   XdpProgramLock lock;                      // held across the whole open / close
//   BeforeFirstSocket(...) ... create the socket ... AfterSocketCreated(...)
// and from the destructor: lock, delete the socket, ReleaseInterface(...).
class XdpProgramLock {
 public:
  XdpProgramLock();
  ~XdpProgramLock();
  XdpProgramLock(const XdpProgramLock&) = delete;
  XdpProgramLock& operator=(const XdpProgramLock&) = delete;
};

// Call with the lock held, after a socket on (netns, ifindex) was created and bound. `xdp_flags`
// is the attach mode used. Records whether this process loaded the program now attached.
void NoteSocketCreated(uint64_t netns_id, int ifindex, uint32_t prog_id_before, uint32_t xdp_flags);
// Call with the lock held, after a socket was deleted. When it was the interface's last socket of
// this process and the program attached is the one this process loaded, detaches it.
// Returns a non-OK status only if the detach itself failed.
absl::Status NoteSocketDeleted(uint64_t netns_id, int ifindex);

// The attached XDP program id of any mode (0 if none), in the calling thread's namespace.
absl::Status QueryProgId(int ifindex, uint32_t* prog_id);

}  // namespace ix::nic::xdp_internal

#endif  // IX_DATAPLANE_NIC_XDP_SETUP_H_

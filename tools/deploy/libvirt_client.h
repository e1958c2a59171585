// libvirt_client: the few libvirt C API calls ix-deploy makes, behind absl::Status. The one place
// that includes libvirt.h.
//
//   absl::StatusOr<std::unique_ptr<LibvirtClient>> lv = LibvirtClient::Connect("qemu:///system");
//   (*lv)->DefineAndStart(xml);
//   absl::StatusOr<std::string> line = (*lv)->Request("ix-kv-0", "stats", absl::Seconds(10));
//
// Thread: one client per thread (libvirt connections are thread-safe, this wrapper is not).
// Connect starts a thread running libvirt's default event loop, which streams (the agent channel)
// need on a remote-driver connection; the thread ends with the process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct _virConnect;

namespace ix::deploy {

struct DomainStatus {
  bool exists = false;
  bool running = false;
  std::string state;   // running, paused, shutoff, crashed, ... ("absent" if not defined)
  std::string reason;  // for shutoff: crashed, destroyed, shutdown, failed, ...
  int id = -1;
};

class LibvirtClient {
 public:
  // Opens uri (e.g. qemu:///system, qemu+ssh://host/system). A refused local connection says how
  // to start libvirtd.
  static absl::StatusOr<std::unique_ptr<LibvirtClient>> Connect(const std::string& uri);
  ~LibvirtClient();

  const std::string& uri() const { return uri_; }
  // True if the connection goes to this machine (no host in the URI).
  bool IsLocal() const;
  // True if libvirt offers type='kvm' x86_64 domains (domain capabilities).
  bool OffersKvm();

  // virDomainDefineXML (persistent, so a crashed guest stays visible) then virDomainCreate.
  absl::Status DefineAndStart(const std::string& xml);
  absl::StatusOr<DomainStatus> Status(const std::string& name);
  // Destroys (if active) and undefines name. OK if there is no such domain.
  absl::Status Remove(const std::string& name);
  // The names of all domains (active or not) starting with prefix.
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix);
  // Sends request + "\n" on the domain's org.ix.stats channel and returns the first line of the
  // answer (without "\n"). DeadlineExceeded after timeout.
  absl::StatusOr<std::string> Request(const std::string& name, const std::string& request,
                                      absl::Duration timeout);

 private:
  LibvirtClient(_virConnect* conn, std::string uri) : conn_(conn), uri_(std::move(uri)) {}
  _virConnect* conn_;
  std::string uri_;
};

}  // namespace ix::deploy

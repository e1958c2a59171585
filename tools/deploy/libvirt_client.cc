// libvirt_client: libvirt C API calls for ix-deploy.
#include "tools/deploy/libvirt_client.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/deploy/domain_xml.h"

namespace ix::deploy {
namespace {

std::string LastError() {
  const char* m = virGetLastErrorMessage();
  return m != nullptr ? m : "unknown libvirt error";
}

void Silent(void*, virErrorPtr) {}  // errors come back as absl::Status, not on stderr

void StartEventLoop() {
  static std::once_flag once;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, Silent);
    if (virEventRegisterDefaultImpl() < 0) return;
    std::thread([] {
      for (;;) virEventRunDefaultImpl();
    }).detach();
  });
}

struct DomainCloser {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using DomainHandle = std::unique_ptr<virDomain, DomainCloser>;

const char* StateName(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING: return "running";
    case VIR_DOMAIN_BLOCKED: return "blocked";
    case VIR_DOMAIN_PAUSED: return "paused";
    case VIR_DOMAIN_SHUTDOWN: return "shutting-down";
    case VIR_DOMAIN_SHUTOFF: return "shutoff";
    case VIR_DOMAIN_CRASHED: return "crashed";
    case VIR_DOMAIN_PMSUSPENDED: return "pmsuspended";
    default: return "unknown";
  }
}

const char* ShutoffReason(int reason) {
  switch (reason) {
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_SHUTOFF_DESTROYED: return "destroyed";
    case VIR_DOMAIN_SHUTOFF_CRASHED: return "crashed";
    case VIR_DOMAIN_SHUTOFF_MIGRATED: return "migrated";
    case VIR_DOMAIN_SHUTOFF_SAVED: return "saved";
    case VIR_DOMAIN_SHUTOFF_FAILED: return "failed";
    case VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: return "from-snapshot";
    case VIR_DOMAIN_SHUTOFF_DAEMON: return "daemon";
    default: return "unknown";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LibvirtClient>> LibvirtClient::Connect(const std::string& uri) {
  StartEventLoop();
  virConnectPtr c = virConnectOpen(uri.c_str());
  if (c == nullptr) {
    std::string msg = absl::StrFormat("virConnectOpen(%s): %s", uri, LastError());
    if (!absl::StrContains(uri, "://") || absl::StrContains(uri, ":///")) {
      absl::StrAppend(&msg, "\n  is libvirtd running? start it with: sudo scripts/libvirtd.sh start"
                            " (or systemctl start libvirtd)");
    }
    return absl::UnavailableError(msg);
  }
  return std::unique_ptr<LibvirtClient>(new LibvirtClient(c, uri));
}

LibvirtClient::~LibvirtClient() { virConnectClose(conn_); }

bool LibvirtClient::IsLocal() const {
  return uri_.empty() || absl::StrContains(uri_, ":///");
}

bool LibvirtClient::OffersKvm() {
  char* caps = virConnectGetDomainCapabilities(conn_, nullptr, "x86_64", "q35", "kvm", 0);
  if (caps == nullptr) return false;
  free(caps);
  return true;
}

absl::Status LibvirtClient::DefineAndStart(const std::string& xml) {
  DomainHandle d(virDomainDefineXML(conn_, xml.c_str()));
  if (d == nullptr) return absl::InternalError(absl::StrCat("virDomainDefineXML: ", LastError()));
  if (virDomainCreate(d.get()) < 0) {
    const std::string err = LastError();
    virDomainUndefine(d.get());
    return absl::InternalError(absl::StrCat("virDomainCreate(", virDomainGetName(d.get()), "): ", err));
  }
  return absl::OkStatus();
}

absl::StatusOr<DomainStatus> LibvirtClient::Status(const std::string& name) {
  DomainStatus s;
  DomainHandle d(virDomainLookupByName(conn_, name.c_str()));
  if (d == nullptr) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
      s.state = "absent";
      return s;
    }
    return absl::InternalError(absl::StrFormat("virDomainLookupByName(%s): %s", name, LastError()));
  }
  int state = 0, reason = 0;
  if (virDomainGetState(d.get(), &state, &reason, 0) < 0) {
    return absl::InternalError(absl::StrFormat("virDomainGetState(%s): %s", name, LastError()));
  }
  s.exists = true;
  s.running = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED;
  s.state = StateName(state);
  if (state == VIR_DOMAIN_SHUTOFF) s.reason = ShutoffReason(reason);
  s.id = static_cast<int>(virDomainGetID(d.get()));
  return s;
}

absl::Status LibvirtClient::Remove(const std::string& name) {
  DomainHandle d(virDomainLookupByName(conn_, name.c_str()));
  if (d == nullptr) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return absl::OkStatus();
    return absl::InternalError(absl::StrFormat("virDomainLookupByName(%s): %s", name, LastError()));
  }
  if (virDomainIsActive(d.get()) == 1 && virDomainDestroy(d.get()) < 0 &&
      virDomainIsActive(d.get()) == 1) {
    return absl::InternalError(absl::StrFormat("virDomainDestroy(%s): %s", name, LastError()));
  }
  if (virDomainIsPersistent(d.get()) == 1 && virDomainUndefine(d.get()) < 0) {
    return absl::InternalError(absl::StrFormat("virDomainUndefine(%s): %s", name, LastError()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LibvirtClient::List(const std::string& prefix) {
  virDomainPtr* doms = nullptr;
  const int n = virConnectListAllDomains(conn_, &doms, 0);
  if (n < 0) return absl::InternalError(absl::StrCat("virConnectListAllDomains: ", LastError()));
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const char* nm = virDomainGetName(doms[i]);
    if (nm != nullptr && absl::StartsWith(nm, prefix)) names.push_back(nm);
    virDomainFree(doms[i]);
  }
  free(doms);
  return names;
}

absl::StatusOr<std::string> LibvirtClient::Request(const std::string& name,
                                                   const std::string& request,
                                                   absl::Duration timeout) {
  DomainHandle d(virDomainLookupByName(conn_, name.c_str()));
  if (d == nullptr) return absl::NotFoundError(absl::StrFormat("no domain %s: %s", name, LastError()));
  virStreamPtr st = virStreamNew(conn_, VIR_STREAM_NONBLOCK);
  if (st == nullptr) return absl::InternalError(absl::StrCat("virStreamNew: ", LastError()));
  const absl::Time deadline = absl::Now() + timeout;
  auto fail = [st](absl::Status s) {
    virStreamAbort(st);
    virStreamFree(st);
    return s;
  };
  if (virDomainOpenChannel(d.get(), kStatsChannel, st, VIR_DOMAIN_CHANNEL_FORCE) < 0) {
    return fail(absl::UnavailableError(
        absl::StrFormat("virDomainOpenChannel(%s, %s): %s", name, kStatsChannel, LastError())));
  }
  const std::string out = request + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    const int n = virStreamSend(st, out.data() + sent, out.size() - sent);
    if (n == -2) {
      if (absl::Now() > deadline) break;
      usleep(10 * 1000);
      continue;
    }
    if (n < 0) return fail(absl::UnavailableError(absl::StrCat("virStreamSend: ", LastError())));
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[65536];
  while (in.find('\n') == std::string::npos) {
    if (absl::Now() > deadline) {
      return fail(absl::DeadlineExceededError(absl::StrFormat(
          "no answer from ix-deploy-agent in %s within %s", name, absl::FormatDuration(timeout))));
    }
    const int n = virStreamRecv(st, buf, sizeof(buf));
    if (n == -2) {
      usleep(10 * 1000);
      continue;
    }
    if (n == 0) return fail(absl::UnavailableError(absl::StrCat("the channel of ", name, " closed")));
    if (n < 0) return fail(absl::UnavailableError(absl::StrCat("virStreamRecv: ", LastError())));
    in.append(buf, static_cast<size_t>(n));
  }
  virStreamAbort(st);
  virStreamFree(st);
  return in.substr(0, in.find('\n'));
}

}  // namespace ix::deploy

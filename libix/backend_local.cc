// libix library mode: the stack and the same command processor ixd uses run in this process, on
// the application's thread, whenever it calls ix_flush / ix_poll. No protection boundary: the
// queue pair lives in ordinary memory.
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "dataplane/core/stack.h"
#include "dataplane/ixd/dp_host.h"
#include "dataplane/ixd/dp_stack_ops.h"
#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/qp_memory.h"
#include "libix/inproc_map.h"
#include "libix/ix_internal.h"

namespace ix::lib {
namespace {

class LocalBackend : public Backend {
 public:
  int Init(const ix_options& o, std::string* error) {
    if (o.iface == nullptr || o.ip == nullptr) {
      *error = "library mode needs an interface and an address (IX_IFACE, IX_IP)";
      return -EINVAL;
    }
    ixd::DpHostOptions ho;
    ho.iface = o.iface;
    ho.ip = o.ip;
    if (o.gateway != nullptr) ho.gateway = o.gateway;
    absl::StatusOr<std::unique_ptr<ixd::DpHost>> h = ixd::DpHost::Create(ho);
    if (!h.ok()) {
      *error = std::string(h.status().message());
      return -ENODEV;
    }
    host_ = std::move(*h);
    ops_ = std::make_unique<ixd::DpStackOps>(host_->stack());
    proc_ = std::make_unique<ixd::Processor>(ops_.get(), ixd::ProcessorConfig{});
    ixd::QpSizes sizes;
    sizes.cmd_entries = o.cmd_entries;
    sizes.ev_entries = o.ev_entries;
    sizes.rx_buf_count = o.rx_buf_count;
    sizes.rx_buf_size = o.rx_buf_size;
    sizes.tx_bytes = o.tx_bytes;
    absl::StatusOr<std::unique_ptr<ixd::QpMemory>> m = ixd::QpMemory::Create(sizes, false);
    if (!m.ok()) {
      *error = std::string(m.status().message());
      return -EINVAL;
    }
    mem_ = std::move(*m);
    app_ = proc_->AddApp(o.name);
    if (!proc_->AddQueue(app_, mem_->view()).ok()) {
      *error = "cannot add the queue pair";
      return -EINVAL;
    }
    map_ = MappingOf(mem_->view());
    return 0;
  }

  ~LocalBackend() override {
    if (proc_ != nullptr) {
      proc_->RemoveApp(app_);  // resets connections, as ixd does when an app leaves
      host_->stack()->Flush();
    }
  }

  // One run-to-completion iteration: packets in, commands, events out, packets out.
  int Iterate() {
    const uint64_t now = dp::MonotonicNowNs();
    dp::Stack* s = host_->stack();
    int work = s->RunOnce(now);
    work += proc_->ProcessCommands(now);
    work += proc_->PumpStackEvents();
    work += proc_->RunTimers(now);
    work += proc_->FlushEvents();
    work += s->Flush();
    return work;
  }

  void Kick(bool) override { (void)Iterate(); }

  void Wait(int64_t timeout_ns, bool (*ready)(void*), void* arg) override {
    const uint64_t start = NowNs();
    uint64_t idle_since = 0;
    for (;;) {
      const int work = Iterate();
      if (ready(arg)) return;
      const uint64_t now = NowNs();
      if (timeout_ns >= 0 && now - start >= static_cast<uint64_t>(timeout_ns)) return;
      if (work > 0) {
        idle_since = 0;
        continue;
      }
      if (idle_since == 0) idle_since = now;
      if (now - idle_since < 50000) continue;  // spin 50 us, then sleep on the NIC
      uint64_t sleep_ns = 1000000;
      const uint64_t deadline = std::min(host_->stack()->NextDeadline(), proc_->NextDeadline());
      const uint64_t dnow = dp::MonotonicNowNs();
      if (deadline <= dnow) continue;
      sleep_ns = std::min<uint64_t>(sleep_ns, deadline - dnow);
      if (timeout_ns >= 0) {
        sleep_ns = std::min<uint64_t>(sleep_ns, static_cast<uint64_t>(timeout_ns) - (now - start));
      }
      pollfd p{host_->queue()->WaitFd(), POLLIN, 0};
      timespec ts{static_cast<time_t>(sleep_ns / 1000000000), static_cast<long>(sleep_ns % 1000000000)};
      if (p.fd >= 0) {
        (void)ppoll(&p, 1, &ts, nullptr);
      } else {
        nanosleep(&ts, nullptr);
      }
    }
  }

  int mode() const override { return IX_MODE_LIBRARY; }

 private:
  std::unique_ptr<ixd::DpHost> host_;
  std::unique_ptr<ixd::DpStackOps> ops_;
  std::unique_ptr<ixd::Processor> proc_;
  std::unique_ptr<ixd::QpMemory> mem_;
  uint32_t app_ = 0;
};

}  // namespace

int CreateLocalBackend(const ix_options& o, std::unique_ptr<Backend>* out, std::string* error) {
  auto b = std::make_unique<LocalBackend>();
  if (int e = b->Init(o, error); e != 0) return e;
  *out = std::move(b);
  return 0;
}

}  // namespace ix::lib

// Daemon::StatsJson: the daemon's, the processor's and the stack's counters as the stats socket's
// one JSON object (the fields are listed in daemon.h).
#include <time.h>
#include <unistd.h>

#include <string>

#include "dataplane/ixd/daemon.h"
#include "nlohmann/json.hpp"

namespace ix::ixd {
namespace {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

nlohmann::json AppJson(uint32_t id, const std::string& name, pid_t pid, size_t queues,
                       size_t connections, const AppCounters& k) {
  uint64_t rejected = 0;
  for (uint64_t e : k.errors) rejected += e;
  return {{"id", id},
          {"name", name},  // the app's choice: dumped with invalid UTF-8 replaced
          {"pid", pid},
          {"queues", queues},
          {"connections", connections},
          {"commands", k.commands},
          {"rejected", rejected},
          {"ring_corrupt", k.cmd_ring_corrupt + k.ev_ring_corrupt},
          {"cmd_budget_hits", k.cmd_budget_hits},
          {"buf_double_return", k.buf_double_return},
          {"events_posted", k.events_posted},
          {"rx_bytes", k.rx_bytes},
          {"tx_bytes", k.tx_bytes},
          {"rx_buf_starved", k.rx_buf_starved},
          {"udp_dropped", k.udp_dropped},
          {"knocks_dropped", k.knocks_dropped},
          {"notify_dropped", k.notify_dropped},
          {"wakeups", k.wakeups}};
}

}  // namespace

std::string Daemon::StatsJson() const {
  nlohmann::json j = {{"version", 1},
                      {"pid", getpid()},
                      {"uptime_ns", MonotonicNs() - created_ns_},
                      {"socket", options_.socket_path},
                      {"stats_socket", options_.stats_socket_path},
                      {"attached", stats_.attached},
                      {"detached", stats_.detached},
                      {"refused", stats_.refused},
                      {"sleeps", stats_.sleeps},
                      {"iterations", stats_.iterations},
                      {"stats_served", stats_.stats_served},
                      {"stats_dropped", stats_.stats_dropped},
                      {"apps_removed", proc_->apps_removed()},
                      {"orphan_events", proc_->orphan_events()}};
  nlohmann::json apps = nlohmann::json::array();
  size_t pending = 0;
  for (const auto& [fd, c] : apps_) {
    if (c.app_id == 0) {
      ++pending;
      continue;
    }
    apps.push_back(AppJson(c.app_id, c.name, c.pid, c.queues.size(),
                           proc_->app_connections(c.app_id), proc_->app_counters(c.app_id)));
  }
  j["apps_attached"] = apps.size();
  j["clients_pending"] = pending;
  j["apps"] = std::move(apps);
  if (hooks_.counters) {
    nlohmann::json stack = nlohmann::json::object();
    hooks_.counters([&](absl::string_view name, uint64_t value) {
      stack[std::string(name)] = value;
    });
    j["stack"] = std::move(stack);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ix::ixd

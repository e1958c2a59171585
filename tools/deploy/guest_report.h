// guest_report: what ix-deploy-agent tells the host about its guest, from the guest's files and
// ixd's stats socket (testable with a fake root directory).
//
//   std::string line = ix::deploy::Answer("stats");     // one JSON object, no newline
//
// "stats": {"uptime_s", "ixd": {"pid","running","serving","attached","detached","nic_mode"},
//           "ixd_live": {...} or "ixd_error": TEXT,
//           "app": {"name","pid","running"}, "nic": {"iface","ip","rx_packets","tx_packets",
//           "rx_bytes","tx_bytes","rx_dropped","tx_dropped"}, "mem_available_kb"}
//   "ixd" is what ixd's log says (attach and detach lines, the AF_XDP mode line); "ixd_live" is
//   ixd's own answer on its stats socket (kIxdStatsSocket; fields in dataplane/ixd/daemon.h:
//   attached, detached, refused, sleeps, apps_attached, apps[], uptime_ns, stack{stack.*, net.*,
//   tcp.*, nic.*, xsk.*}); when that socket is missing, refuses, is silent for kIxdTimeoutMs or
//   answers something that is not JSON, "ixd_error" says so instead. "nic" is the kernel's
//   counters of the interface ixd drives.
// "logs":  {"ixd": TEXT, "app": TEXT, "agent": TEXT} (the last 16 KiB of each log)
// anything else: {"error": "unknown request ..."}
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace ix::deploy {

// Where guest_init.sh tells ixd to serve its stats (ixd --stats_socket), under the guest root.
inline constexpr char kIxdStatsSocket[] = "/run/ix/ixd.sock.stats";
// How long the agent waits for ixd's answer (ixd answers within its 100 ms idle sleep).
inline constexpr int kIxdTimeoutMs = 2000;

// Connects to ixd's stats socket at `path`, reads its one JSON line and parses it into *out.
// Returns "" on success, else what went wrong (for "ixd_error"). Never waits more than timeout_ms.
std::string QueryIxdStats(const std::string& path, int timeout_ms, nlohmann::json* out);

// The contents of path, or fallback if it cannot be read.
std::string ReadFileOr(const std::string& path, const std::string& fallback);

// Answers one request line. root prefixes every guest path (/run/ix, /var/log, /proc, /sys).
std::string Answer(const std::string& request, const std::string& root = "");

}  // namespace ix::deploy

// guest_report: what ix-deploy-agent tells the host about its guest (pure over files, testable
// with a fake root directory).
//
//   std::string line = ix::deploy::Answer("stats");     // one JSON object, no newline
//
// "stats": {"uptime_s", "ixd": {"pid","running","serving","attached","detached","nic_mode"},
//           "app": {"name","pid","running"}, "nic": {"iface","ip","rx_packets","tx_packets",
//           "rx_bytes","tx_bytes","rx_dropped","tx_dropped"}, "mem_available_kb"}
//   ixd has no live statistics interface: its counters here are what its log says (attach and
//   detach lines, the AF_XDP mode line) plus the kernel's counters of the interface it drives.
// "logs":  {"ixd": TEXT, "app": TEXT, "agent": TEXT} (the last 16 KiB of each log)
// anything else: {"error": "unknown request ..."}
#pragma once

#include <string>

namespace ix::deploy {

// The contents of path, or fallback if it cannot be read.
std::string ReadFileOr(const std::string& path, const std::string& fallback);

// Answers one request line. root prefixes every guest path (/run/ix, /var/log, /proc, /sys).
std::string Answer(const std::string& request, const std::string& root = "");

}  // namespace ix::deploy

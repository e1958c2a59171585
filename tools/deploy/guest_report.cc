// guest_report: the agent's answers, built from the guest's files.
#include "tools/deploy/guest_report.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace ix::deploy {
namespace {

int64_t ToInt(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A process is running if /proc/PID/stat exists and its state is not Z (zombie) or X (dead).
bool Running(const std::string& root, int64_t pid) {
  if (pid <= 0) return false;
  const std::string stat = ReadFileOr(root + "/proc/" + std::to_string(pid) + "/stat", "");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::string LineWith(const std::string& text, const std::string& needle) {
  const size_t p = text.find(needle);
  if (p == std::string::npos) return "";
  const size_t begin = text.rfind('\n', p);
  const size_t end = text.find('\n', p);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end == std::string::npos ? std::string::npos : end - (begin == std::string::npos ? 0 : begin + 1));
}

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Reads from a non-blocking socket until EOF, `max` bytes or the deadline. Returns "" or an error.
std::string ReadToEof(int fd, int64_t deadline_ms, size_t max, std::string* out) {
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      if (out->size() > max) return "answer longer than " + std::to_string(max) + " bytes";
      continue;
    }
    if (n == 0) return "";
    if (errno == EINTR) continue;
    // ixd closes without reading what a client sent; the answer read before that still counts.
    if (errno == ECONNRESET && !out->empty()) return "";
    if (errno != EAGAIN && errno != EWOULDBLOCK) return std::string("recv: ") + strerror(errno);
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) return "no answer within the timeout";
    pollfd p{fd, POLLIN, 0};
    (void)poll(&p, 1, static_cast<int>(left));
  }
}

nlohmann::json Stats(const std::string& root) {
  nlohmann::json j;
  j["uptime_s"] = std::strtod(ReadFileOr(root + "/proc/uptime", "0").c_str(), nullptr);
  const std::string ixd_log = ReadFileOr(root + "/var/log/ixd.log", "");
  const int64_t ixd_pid = ToInt(ReadFileOr(root + "/run/ix/ixd.pid", "0"));
  j["ixd"] = {{"pid", ixd_pid},
              {"running", Running(root, ixd_pid)},
              {"serving", ixd_log.find("ixd: serving") != std::string::npos},
              {"attached", CountLines(ixd_log, "ixd: attached app")},
              {"detached", CountLines(ixd_log, "ixd: detached app")},
              {"nic_mode", LineWith(ixd_log, "[ix nic]")}};
  nlohmann::json live;
  const std::string live_error = QueryIxdStats(root + kIxdStatsSocket, kIxdTimeoutMs, &live);
  if (live_error.empty()) {
    j["ixd_live"] = std::move(live);
  } else {
    j["ixd_error"] = live_error + (Running(root, ixd_pid) ? "" : " (ixd is not running)");
  }
  const int64_t app_pid = ToInt(ReadFileOr(root + "/run/ix/app.pid", "0"));
  j["app"] = {{"name", Trim(ReadFileOr(root + "/etc/ix-deploy/app.name", ""))},
              {"pid", app_pid},
              {"running", Running(root, app_pid)}};
  std::istringstream net(ReadFileOr(root + "/run/ix/net", ""));
  std::string iface, ip, gw;
  net >> iface >> ip >> gw;
  nlohmann::json nic = {{"iface", iface}, {"ip", ip}};
  for (const char* c : {"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped"}) {
    nic[c] = ToInt(ReadFileOr(root + "/sys/class/net/" + iface + "/statistics/" + c, "0"));
  }
  j["nic"] = nic;
  std::istringstream mem(ReadFileOr(root + "/proc/meminfo", ""));
  std::string key;
  int64_t value = 0;
  while (mem >> key >> value) {
    if (key == "MemAvailable:") j["mem_available_kb"] = value;
    mem.ignore(64, '\n');
  }
  return j;
}

}  // namespace

std::string ReadFileOr(const std::string& path, const std::string& fallback) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return fallback;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string QueryIxdStats(const std::string& path, int timeout_ms, nlohmann::json* out) {
  const std::string where = "ixd stats socket " + path + ": ";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return where + "path too long";
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return where + "socket: " + strerror(errno);
  // A full backlog (EAGAIN) means ixd is not serving it: no retry.
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    close(fd);
    return where + "connect: " + strerror(e);
  }
  std::string text;
  const std::string error = ReadToEof(fd, NowMs() + timeout_ms, 1 << 20, &text);
  close(fd);
  if (!error.empty()) return where + error;
  const size_t nl = text.find('\n');
  if (nl == std::string::npos) {
    return where + "incomplete answer (" + std::to_string(text.size()) + " bytes, no newline)";
  }
  nlohmann::json j = nlohmann::json::parse(text.substr(0, nl), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return where + "the answer is not a JSON object";
  *out = std::move(j);
  return "";
}

std::string Answer(const std::string& request, const std::string& root) {
  const std::string r = Trim(request);
  if (r == "stats") return Stats(root).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (r == "logs") {
    nlohmann::json j;
    for (const char* name : {"ixd", "app", "agent"}) {
      j[name] = Tail(ReadFileOr(root + "/var/log/" + name + ".log", ""), 16384);
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return nlohmann::json{{"error", "unknown request '" + r + "' (stats, logs)"}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ix::deploy

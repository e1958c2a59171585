// EchoServer: TCP/UDP echo and the tiny HTTP/1.1 responder over the Stack's events.
#include "examples/echo/echo_server.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataplane/net/wire.h"

namespace ix::examples {

using dp::StackEvent;
using dp::StackEventType;
using net::tcp::ConnId;
using net::tcp::TcpError;

namespace {
constexpr uint32_t kSlotMask = (1u << 24) - 1;

// The first n bytes of a read view (n <= v.size()).
std::string CopyPrefix(const net::tcp::TcpReadView& v, size_t n) {
  std::string s;
  const size_t n1 = std::min(n, v.first.size());
  s.append(reinterpret_cast<const char*>(v.first.data()), n1);
  s.append(reinterpret_cast<const char*>(v.second.data()), n - n1);
  return s;
}

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
}  // namespace

EchoServer::EchoServer(dp::Stack* stack, const EchoServerOptions& options)
    : stack_(stack), options_(options), conns_(stack->config().tcp.max_connections) {}

absl::Status EchoServer::Start() {
  if (absl::Status st = stack_->Listen(options_.port, options_.backlog); !st.ok()) return st;
  if (options_.mode == EchoMode::kEcho && options_.udp) return stack_->UdpBind(options_.port);
  return absl::OkStatus();
}

int EchoServer::HandleEvents() {
  StackEvent ev[64];
  int total = 0;
  for (size_t n; (n = stack_->PollEvents(absl::MakeSpan(ev))) > 0;) {
    for (size_t i = 0; i < n; ++i) HandleEvent(ev[i]);
    total += static_cast<int>(n);
  }
  return total;
}

EchoServer::Conn* EchoServer::Find(ConnId c) {
  const uint32_t slot = c & kSlotMask;
  if (slot >= conns_.size() || !conns_[slot].open || conns_[slot].id != c) return nullptr;
  return &conns_[slot];
}

void EchoServer::Release(ConnId c, Conn* conn) {
  (void)stack_->Close(c);
  *conn = Conn{};
  --open_;
  ++counters_.closed;
}

size_t EchoServer::SockperfPrefixMatch(absl::Span<const uint8_t> p) {
  for (size_t i = 0; i < p.size() && i < kSockperfHeaderBytes; ++i) {
    const uint8_t b = p[i];
    bool ok = true;
    if (i < 6 || i == 8 || i == 10) ok = b == 0;            // seq < 2^16, flags and length high
    if (i == 9) ok = (b & 1) != 0 && b < 8;                 // client flag set, known flags only
    if (i == 13 && p.size() >= 14) {                        // 14 <= length <= 65535
      const uint32_t len = net::LoadBe32(p.data() + 10);
      ok = len >= kSockperfHeaderBytes && len <= 65535;
    }
    if (!ok) return i;
  }
  return std::min(p.size(), kSockperfHeaderBytes);
}

namespace {
// For one whole UDP datagram: 0 not sockperf, 1 sockperf without reply, 2 reply needed.
int SockperfDatagram(absl::Span<const uint8_t> d) {
  if (d.size() < EchoServer::kSockperfHeaderBytes) return 0;
  const uint16_t flags = net::LoadBe16(d.data() + 8);
  if ((flags & 1) == 0 || flags >= 8 || net::LoadBe32(d.data() + 10) != d.size()) return 0;
  return (flags & 2) != 0 ? 2 : 1;
}
}  // namespace

void EchoServer::HandleEvent(const StackEvent& ev) {
  if (ev.type == StackEventType::kUdpReceived) {
    const int sp = SockperfDatagram(ev.payload);
    if (sp == 1) return;  // sockperf throughput message: its server does not answer
    absl::Span<const uint8_t> reply = ev.payload;
    uint8_t buf[2048];
    if (sp == 2 && ev.payload.size() <= sizeof(buf)) {
      memcpy(buf, ev.payload.data(), ev.payload.size());
      buf[9] &= static_cast<uint8_t>(~1u);  // from the server
      reply = absl::MakeConstSpan(buf, ev.payload.size());
      ++counters_.sockperf_replies;
    }
    if (stack_->UdpSend(ev.local_port, ev.remote_ip, ev.remote_port, reply) ==
        dp::UdpSendResult::kOk) {
      ++counters_.udp_echoed;
    } else {
      ++counters_.udp_send_failed;
    }
    return;
  }
  if (ev.type == StackEventType::kTcpAccepted) {
    const uint32_t slot = ev.conn & kSlotMask;
    if (slot >= conns_.size()) {  // cannot happen: the table has max_connections slots
      (void)stack_->Abort(ev.conn);
      return;
    }
    conns_[slot] = Conn{};
    conns_[slot].id = ev.conn;
    conns_[slot].open = true;
    ++open_;
    ++counters_.accepted;
    return;
  }
  Conn* conn = Find(ev.conn);
  if (conn == nullptr) return;
  switch (ev.type) {
    case StackEventType::kTcpReadable:
    case StackEventType::kTcpWritable:
    case StackEventType::kTcpPeerClosed:
      if (ev.type == StackEventType::kTcpPeerClosed) conn->peer_closed = true;
      if (options_.mode == EchoMode::kEcho) {
        Echo(ev.conn, conn);
      } else {
        Http(ev.conn, conn);
      }
      return;
    case StackEventType::kTcpReset:
      ++counters_.resets;
      Release(ev.conn, conn);
      return;
    case StackEventType::kTcpClosed:
      Release(ev.conn, conn);
      return;
    default:
      return;
  }
}

void EchoServer::Echo(ConnId c, Conn* conn) {
  if (conn->proto != Proto::kEcho) {
    const net::tcp::TcpReadView v = stack_->Peek(c);
    if (conn->proto == Proto::kUnknown) {
      uint8_t head[kSockperfHeaderBytes];
      const size_t n1 = std::min(v.first.size(), sizeof(head));
      memcpy(head, v.first.data(), n1);
      const size_t n2 = std::min(v.second.size(), sizeof(head) - n1);
      memcpy(head + n1, v.second.data(), n2);
      const size_t have = n1 + n2;
      const size_t match = SockperfPrefixMatch(absl::MakeConstSpan(head, have));
      if (match < have) {
        conn->proto = Proto::kEcho;
      } else if (have == kSockperfHeaderBytes) {
        conn->proto = Proto::kSockperf;
      } else if (conn->peer_closed) {
        conn->proto = Proto::kEcho;
      } else {
        return;  // too few bytes to tell yet
      }
    }
    if (conn->proto == Proto::kSockperf) {
      Sockperf(c, conn);
      return;
    }
  }
  // Send what was read; consume only what the send buffer took. A short Send arms kTcpWritable.
  const net::tcp::TcpReadView v = stack_->Peek(c);
  size_t n = 0;
  if (!v.first.empty()) n = stack_->Send(c, v.first).bytes;
  if (n == v.first.size() && !v.second.empty()) n += stack_->Send(c, v.second).bytes;
  if (n > 0) {
    (void)stack_->Consume(c, n);
    counters_.bytes_echoed += n;
  }
  if (conn->peer_closed && n == v.size()) Release(c, conn);  // FIN follows the queued data
}

void EchoServer::Sockperf(ConnId c, Conn* conn) {
  // Whole messages only; replies wait in conn->out when the send buffer is full (bounded).
  FlushOut(c, conn);
  while (conn->out.size() < 65536) {
    const net::tcp::TcpReadView v = stack_->Peek(c);
    if (v.size() < kSockperfHeaderBytes) break;
    std::string msg = CopyPrefix(v, kSockperfHeaderBytes);
    const uint32_t len = net::LoadBe32(reinterpret_cast<const uint8_t*>(msg.data()) + 10);
    const uint16_t flags = net::LoadBe16(reinterpret_cast<const uint8_t*>(msg.data()) + 8);
    if (len < kSockperfHeaderBytes || len > 65535 || (flags & 1) == 0) {  // lost sync: echo
      conn->proto = Proto::kEcho;
      Echo(c, conn);
      return;
    }
    if (v.size() < len) break;
    if (flags & 2) {
      msg = CopyPrefix(v, len);
      msg[9] = static_cast<char>(msg[9] & ~1);
      conn->out.append(msg, 0, len);
      ++counters_.sockperf_replies;
    }
    (void)stack_->Consume(c, len);
    counters_.bytes_echoed += len;
    FlushOut(c, conn);
  }
  if (conn->peer_closed && conn->out.empty()) Release(c, conn);
}

void EchoServer::FlushOut(ConnId c, Conn* conn) {
  if (conn->out.empty()) return;
  const size_t n = stack_->Send(c, Bytes(conn->out)).bytes;
  conn->out.erase(0, n);
}

void EchoServer::Http(ConnId c, Conn* conn) {
  const net::tcp::TcpReadView v = stack_->Peek(c);
  if (v.size() > 0) {
    conn->in.append(reinterpret_cast<const char*>(v.first.data()), v.first.size());
    conn->in.append(reinterpret_cast<const char*>(v.second.data()), v.second.size());
    (void)stack_->Consume(c, v.size());
    HttpAnswer(conn);
  }
  HttpFlush(c, conn);
}

void EchoServer::HttpFlush(ConnId c, Conn* conn) {
  if (!conn->out.empty()) {
    const size_t n = stack_->Send(c, Bytes(conn->out)).bytes;
    conn->out.erase(0, n);
  }
  if (conn->out.empty() && (conn->close_after_output || conn->peer_closed)) Release(c, conn);
}

void EchoServer::HttpAnswer(Conn* conn) {
  while (!conn->close_after_output) {
    const size_t end = conn->in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (conn->in.size() > kMaxRequestBytes) {
        ++counters_.http_bad_requests;
        absl::StrAppend(&conn->out,
                        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n");
        conn->close_after_output = true;
      }
      return;
    }
    const absl::string_view head(conn->in.data(), end);
    std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
    std::vector<absl::string_view> request_line = absl::StrSplit(lines[0], ' ');
    bool keep_alive = true;
    bool bad = request_line.size() != 3 || !absl::StartsWith(request_line[2], "HTTP/1.");
    if (!bad && request_line[2] == "HTTP/1.0") keep_alive = false;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) continue;
      const absl::string_view name = absl::StripAsciiWhitespace(lines[i].substr(0, colon));
      const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
      if (absl::EqualsIgnoreCase(name, "connection")) {
        const std::string v = absl::AsciiStrToLower(value);
        if (absl::StrContains(v, "close")) keep_alive = false;
        if (absl::StrContains(v, "keep-alive")) keep_alive = true;
      }
      if (absl::EqualsIgnoreCase(name, "content-length") && value != "0") bad = true;
    }
    ++counters_.http_requests;
    const char* ka = keep_alive ? "keep-alive" : "close";
    if (bad) {
      ++counters_.http_bad_requests;
      absl::StrAppend(&conn->out,
                      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      keep_alive = false;
    } else if (request_line[0] == "GET" || request_line[0] == "HEAD") {
      absl::StrAppend(&conn->out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ",
                      HttpBody().size(), "\r\nConnection: ", ka, "\r\n\r\n");
      if (request_line[0] == "GET") absl::StrAppend(&conn->out, HttpBody());
    } else {
      absl::StrAppend(&conn->out,
                      "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0"
                      "\r\nConnection: ",
                      ka, "\r\n\r\n");
    }
    conn->in.erase(0, end + 4);
    if (!keep_alive) conn->close_after_output = true;
  }
}

}  // namespace ix::examples

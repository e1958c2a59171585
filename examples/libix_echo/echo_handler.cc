// EchoHandler: byte echo, or sockperf's server side of ping-pong, per TCP connection.
#include "examples/libix_echo/echo_handler.h"

#include <algorithm>

namespace ix::apps {
namespace {

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// A header in the middle of a sockperf stream: client flag set, known flags, sane length.
bool ValidHeader(const uint8_t* h) {
  const uint16_t flags = Be16(h + 8);
  const uint32_t len = Be32(h + 10);
  return (flags & 1) != 0 && flags < 8 && len >= kSockperfHeaderBytes &&
         len <= kSockperfMaxMessageBytes;
}

}  // namespace

size_t SockperfPrefixMatch(absl::Span<const uint8_t> p) {
  const size_t n = std::min(p.size(), kSockperfHeaderBytes);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t b = p[i];
    bool ok = true;
    if (i < 6 || i == 8 || i == 10) ok = b == 0;  // first sequence numbers, flags/length high
    if (i == 9) ok = (b & 1) != 0 && b < 8;       // client flag set, known flags only
    if (i == 13) ok = ValidHeader(p.data());
    if (!ok) return i;
  }
  return n;
}

bool UdpEchoReply(absl::Span<const uint8_t> d, std::string* reply) {
  reply->assign(reinterpret_cast<const char*>(d.data()), d.size());
  if (d.size() < kSockperfHeaderBytes) return true;
  const uint16_t flags = Be16(d.data() + 8);
  // Not sockperf: echoed as is.
  if ((flags & 1) == 0 || flags >= 8 || Be32(d.data() + 10) != d.size()) return true;
  if ((flags & 2) == 0) return false;  // sockperf message without a reply
  (*reply)[9] = static_cast<char>((*reply)[9] & ~1);  // from the server
  return true;
}

StreamHandler::Result EchoHandler::OnData(absl::Span<const uint8_t> in, std::string* out) {
  if (mode_ == Mode::kUnknown) {
    msg_.append(reinterpret_cast<const char*>(in.data()), in.size());
    const auto head = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(msg_.data()),
                                          msg_.size());
    const size_t match = SockperfPrefixMatch(head);
    if (match < std::min(head.size(), kSockperfHeaderBytes)) {
      mode_ = Mode::kEcho;
      std::string start;
      start.swap(msg_);
      Echo(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(start.data()), start.size()),
           out);
    } else if (match == kSockperfHeaderBytes) {
      mode_ = Mode::kSockperf;
      Sockperf(out);
    }
    return Result{.consumed = in.size()};
  }
  if (mode_ == Mode::kEcho) {
    Echo(in, out);
  } else {
    msg_.append(reinterpret_cast<const char*>(in.data()), in.size());
    Sockperf(out);
  }
  return Result{.consumed = in.size()};
}

void EchoHandler::Echo(absl::Span<const uint8_t> in, std::string* out) {
  out->append(reinterpret_cast<const char*>(in.data()), in.size());
  if (counters_ != nullptr) counters_->echoed_bytes += in.size();
}

void EchoHandler::Sockperf(std::string* out) {
  size_t pos = 0;
  while (msg_.size() - pos >= kSockperfHeaderBytes) {
    const auto* h = reinterpret_cast<const uint8_t*>(msg_.data() + pos);
    if (!ValidHeader(h)) {
      // Lost framing: from here on, plain echo.
      mode_ = Mode::kEcho;
      std::string rest = msg_.substr(pos);
      msg_.clear();
      Echo(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(rest.data()), rest.size()), out);
      return;
    }
    const uint32_t len = Be32(h + 10);
    if (msg_.size() - pos < len) break;
    if ((Be16(h + 8) & 2) != 0) {
      const size_t at = out->size();
      out->append(msg_, pos, len);
      (*out)[at + 9] = static_cast<char>((*out)[at + 9] & ~1);
      if (counters_ != nullptr) ++counters_->sockperf_replies;
    }
    pos += len;
  }
  msg_.erase(0, pos);
}

}  // namespace ix::apps

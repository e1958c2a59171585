// Decimal parsing and formatting for the kv protocol, on std::string_view (the installed
// Abseil's absl::string_view is a distinct type, so absl::SimpleAtoi does not take ours).
#ifndef IX_EXAMPLES_KV_NUMBERS_H_
#define IX_EXAMPLES_KV_NUMBERS_H_

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace ix::kv {

// Parses decimal digits (optionally after one '+', as strtoull allows) that fit in uint64_t.
[[nodiscard]] inline bool ParseDecimalU64(std::string_view s, uint64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

// Parses an optionally signed ('-' or '+') decimal integer that fits in int64_t.
[[nodiscard]] inline bool ParseDecimalI64(std::string_view s, int64_t* out) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
  if (s.empty()) return false;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

inline void AppendDecimal(std::string* out, uint64_t v) {
  char buf[20];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(ptr - buf));
}

inline std::string DecimalString(uint64_t v) {
  std::string s;
  AppendDecimal(&s, v);
  return s;
}

}  // namespace ix::kv

#endif  // IX_EXAMPLES_KV_NUMBERS_H_

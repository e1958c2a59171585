// Echo and memcached text-protocol request formatting and response parsing (see workload.h).
#include "bench/load/workload.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ix::load {
namespace {

// Longest response line accepted before the stream is declared garbage.
constexpr size_t kMaxLineBytes = 4096;
// Largest value a VALUE line may announce.
constexpr uint64_t kMaxValueBytes = 64u << 20;

ParseResult NeedMore() { return {ParseStatus::kNeedMore, Outcome::kOk, 0}; }
ParseResult ProtocolError() { return {ParseStatus::kProtocolError, Outcome::kOk, 0}; }
ParseResult Done(Outcome o, size_t consumed) { return {ParseStatus::kDone, o, consumed}; }

// Finds the first line of in. Returns false with *status set when there is none yet.
bool FirstLine(absl::string_view in, absl::string_view* line, ParseStatus* status) {
  const size_t eol = in.find("\r\n");
  if (eol == absl::string_view::npos) {
    *status = in.size() > kMaxLineBytes ? ParseStatus::kProtocolError : ParseStatus::kNeedMore;
    return false;
  }
  *line = in.substr(0, eol);
  return true;
}

bool IsErrorLine(absl::string_view line) {
  return line == "ERROR" || absl::StartsWith(line, "CLIENT_ERROR") ||
         absl::StartsWith(line, "SERVER_ERROR");
}

size_t Digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

}  // namespace

void EchoWorkload::Next(Rng& rng, Request* req, std::string* out) {
  req->op = Op::kEcho;
  req->key = seq_++;
  req->size = o_.payload_size.Sample(rng);
  const size_t base = out->size();
  out->resize(base + req->size);
  char* p = out->data() + base;
  for (uint32_t j = 0; j < req->size; ++j) p[j] = PayloadByte(req->key, j);
}

ParseResult EchoWorkload::Parse(const Request& req, absl::string_view in) const {
  if (in.size() < req.size) return NeedMore();
  for (uint32_t j = 0; j < req.size; ++j) {
    if (in[j] != PayloadByte(req.key, j)) return Done(Outcome::kBadData, req.size);
  }
  return Done(Outcome::kOk, req.size);
}

absl::StatusOr<std::unique_ptr<MemcacheWorkload>> MemcacheWorkload::Create(
    const MemcacheOptions& o) {
  if (!(o.get_ratio >= 0 && o.get_ratio <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("get ratio must be in [0, 1], got ",
                                                   o.get_ratio));
  }
  if (o.num_keys == 0) return absl::InvalidArgumentError("key count must be > 0");
  const size_t need = 1 + Digits(o.num_keys - 1);
  if (o.key_size < need || o.key_size > 250) {
    return absl::InvalidArgumentError(absl::StrCat("key size must be in [", need,
                                                   ", 250] for ", o.num_keys, " keys, got ",
                                                   o.key_size));
  }
  if (o.key_dist.num_keys() != o.num_keys) {
    return absl::InvalidArgumentError("key distribution built for a different key count");
  }
  return std::unique_ptr<MemcacheWorkload>(new MemcacheWorkload(o));
}

std::string MemcacheWorkload::KeyName(uint64_t i, uint32_t key_size) {
  std::string digits = absl::StrCat(i);
  std::string key = "k";
  if (key_size > digits.size() + 1) key.append(key_size - digits.size() - 1, '0');
  key += digits;
  return key;
}

std::string MemcacheWorkload::FormatGet(absl::string_view key) {
  return absl::StrCat("get ", key, "\r\n");
}

std::string MemcacheWorkload::FormatSet(absl::string_view key, uint64_t key_index,
                                        uint32_t value_size) {
  std::string s = absl::StrCat("set ", key, " 0 0 ", value_size, "\r\n");
  const size_t base = s.size();
  s.resize(base + value_size + 2);
  for (uint32_t j = 0; j < value_size; ++j) s[base + j] = ValueByte(key_index, j);
  s[base + value_size] = '\r';
  s[base + value_size + 1] = '\n';
  return s;
}

void MemcacheWorkload::Next(Rng& rng, Request* req, std::string* out) {
  const bool get = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < o_.get_ratio;
  req->key = o_.key_dist.Sample(rng);
  const std::string key = KeyName(req->key, o_.key_size);
  if (get) {
    req->op = Op::kGet;
    req->size = 0;
    out->append(FormatGet(key));
  } else {
    req->op = Op::kSet;
    req->size = o_.value_size.Sample(rng);
    out->append(FormatSet(key, req->key, req->size));
  }
}

ParseResult MemcacheWorkload::Parse(const Request& req, absl::string_view in) const {
  return req.op == Op::kGet ? ParseGet(req, in) : ParseSet(in);
}

ParseResult MemcacheWorkload::ParseSet(absl::string_view in) const {
  absl::string_view line;
  ParseStatus st;
  if (!FirstLine(in, &line, &st)) return {st, Outcome::kOk, 0};
  const size_t n = line.size() + 2;
  if (line == "STORED") return Done(Outcome::kOk, n);
  if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND" || IsErrorLine(line)) {
    return Done(Outcome::kServerError, n);
  }
  return ProtocolError();
}

ParseResult MemcacheWorkload::ParseGet(const Request& req, absl::string_view in) const {
  absl::string_view line;
  ParseStatus st;
  if (!FirstLine(in, &line, &st)) return {st, Outcome::kOk, 0};
  const size_t header = line.size() + 2;
  if (line == "END") return Done(Outcome::kMiss, header);
  if (IsErrorLine(line)) return Done(Outcome::kServerError, header);
  if (!absl::StartsWith(line, "VALUE ")) return ProtocolError();
  // VALUE <key> <flags> <bytes> [<cas unique>]
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
  uint64_t bytes = 0;
  uint32_t flags = 0;
  if (f.size() < 4 || f.size() > 5 || !absl::SimpleAtoi(f[2], &flags) ||
      !absl::SimpleAtoi(f[3], &bytes) || bytes > kMaxValueBytes) {
    return ProtocolError();
  }
  constexpr absl::string_view kTrailer = "\r\nEND\r\n";
  const size_t total = header + bytes + kTrailer.size();
  if (in.size() < total) {
    // Reject a broken trailer as soon as its bytes are visible.
    const size_t have = in.size() > header + bytes ? in.size() - header - bytes : 0;
    if (have > 0 && in.substr(header + bytes, have) != kTrailer.substr(0, have)) {
      return ProtocolError();
    }
    return NeedMore();
  }
  if (in.substr(header + bytes, kTrailer.size()) != kTrailer) return ProtocolError();
  if (f[1] != KeyName(req.key, o_.key_size)) return Done(Outcome::kBadData, total);
  const absl::string_view data = in.substr(header, bytes);
  for (uint64_t j = 0; j < bytes; ++j) {
    if (data[j] != ValueByte(req.key, j)) return Done(Outcome::kBadData, total);
  }
  return Done(Outcome::kHit, total);
}

}  // namespace ix::load

// Request mixes for ix-load: how requests are formatted and how their responses are parsed.
//
// Two protocols:
//   echo      each request is a payload of a sampled size; the response is the same bytes. Bytes
//             follow a pattern derived from the request's sequence number and are verified.
//   memcache  the memcached text protocol: "get <key>\r\n" and "set <key> 0 0 <n>\r\n<data>\r\n"
//             with a get/set ratio, key count, key size, key popularity and value size
//             distribution. Keys are KeyName(i); values are ValueByte(i, j) for byte j of key i,
//             so any hit can be verified whichever set wrote it.
// Responses on a connection arrive in request order, so the parser is told which request the
// bytes at the front of the input belong to.
//
// Usage:
//   auto w = MemcacheWorkload::Create(options);     // absl::StatusOr<std::unique_ptr<...>>
//   Request r; std::string out;
//   (*w)->Next(rng, &r, &out);                      // appends the request's bytes
//   ParseResult p = (*w)->Parse(r, received_bytes); // kNeedMore until the reply is complete
#ifndef IX_BENCH_LOAD_WORKLOAD_H_
#define IX_BENCH_LOAD_WORKLOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/load/distributions.h"

namespace ix::load {

enum class Op : uint8_t { kEcho, kGet, kSet };

// One request as the connection remembers it until its response is parsed.
struct Request {
  uint64_t scheduled_ns = 0;  // absolute due time; latency is measured from here
  uint64_t key = 0;           // memcache key index, or echo sequence number
  uint32_t size = 0;          // echo payload bytes, or set value bytes
  Op op = Op::kEcho;
  bool measured = false;      // scheduled inside the measurement phase
  bool retry = false;         // re-sent after a connection reset (not its first send)
};

enum class ParseStatus : uint8_t {
  kNeedMore,       // the response is not complete yet; call again with more bytes
  kDone,           // a complete response of `consumed` bytes
  kProtocolError,  // the stream cannot be understood any more: reset the connection
};

enum class Outcome : uint8_t {
  kOk,          // echo matched, or set STORED
  kHit,         // get returned the value (and it verified)
  kMiss,        // get returned END only
  kServerError, // ERROR / CLIENT_ERROR / SERVER_ERROR / NOT_STORED / EXISTS / NOT_FOUND
  kBadData,     // response complete but wrong content (echo mismatch, wrong key or value bytes)
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  Outcome outcome = Outcome::kOk;
  size_t consumed = 0;
};

inline bool IsError(Outcome o) { return o == Outcome::kServerError || o == Outcome::kBadData; }

class Workload {
 public:
  virtual ~Workload() = default;
  // Fills *req (op, key, size; not the times) and appends its wire bytes to *out.
  virtual void Next(Rng& rng, Request* req, std::string* out) = 0;
  // Parses the response to req at the front of in (which may hold more responses after it).
  virtual ParseResult Parse(const Request& req, absl::string_view in) const = 0;
  virtual std::string Name() const = 0;
};

struct EchoOptions {
  SizeDist payload_size;
};

class EchoWorkload : public Workload {
 public:
  explicit EchoWorkload(const EchoOptions& o) : o_(o) {}
  void Next(Rng& rng, Request* req, std::string* out) override;
  ParseResult Parse(const Request& req, absl::string_view in) const override;
  std::string Name() const override { return "echo"; }
  // Byte j of echo request number seq.
  static char PayloadByte(uint64_t seq, uint64_t j) {
    return static_cast<char>('a' + (seq + j) % 26);
  }

 private:
  EchoOptions o_;
  uint64_t seq_ = 0;
};

struct MemcacheOptions {
  double get_ratio = 0.9;  // fraction of gets, in [0, 1]
  uint64_t num_keys = 10000;
  uint32_t key_size = 16;  // bytes per key, 1..250 and enough to hold the key's digits
  SizeDist value_size;
  KeyDist key_dist;
};

class MemcacheWorkload : public Workload {
 public:
  static absl::StatusOr<std::unique_ptr<MemcacheWorkload>> Create(const MemcacheOptions& o);

  void Next(Rng& rng, Request* req, std::string* out) override;
  ParseResult Parse(const Request& req, absl::string_view in) const override;
  std::string Name() const override { return "memcache"; }

  // Key i: "k" followed by i in decimal, zero-padded to key_size bytes in total.
  static std::string KeyName(uint64_t i, uint32_t key_size);
  // Byte j of the value stored under key i.
  static char ValueByte(uint64_t key, uint64_t j) {
    return static_cast<char>('A' + (key * 7 + j) % 26);
  }
  // The wire bytes of a get or a set, for tests and tools.
  static std::string FormatGet(absl::string_view key);
  static std::string FormatSet(absl::string_view key, uint64_t key_index, uint32_t value_size);

 private:
  explicit MemcacheWorkload(const MemcacheOptions& o) : o_(o) {}
  ParseResult ParseGet(const Request& req, absl::string_view in) const;
  ParseResult ParseSet(absl::string_view in) const;

  MemcacheOptions o_;
};

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_WORKLOAD_H_

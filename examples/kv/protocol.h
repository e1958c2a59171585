// KvSession: an incremental parser and executor of the memcached text protocol, one per
// connection, independent of any transport (epoll sockets, libix, tests).
//
// The transport hands Process() whatever bytes arrived (any segmentation: one byte at a
// time, or many pipelined commands at once) and sends what Process() appended to `out`.
// Process() consumes every byte it is given, keeping at most one partial command line
// (<= max_line_bytes) and one partial value (<= the store's max item size) inside the
// session, so per-connection memory is bounded; the only exceptions are below (`close`,
// `output_full`).
//
// Usage:
//   KvStore store;
//   KvSession session(&store);
//   std::string out;
//   KvProcessResult r = session.Process(bytes, now_s, &out);
//   Send(out); out.clear();
//   if (r.output_full) { /* after sending, call Process again with bytes[r.consumed..] */ }
//   if (r.close) { /* send out, then close the connection */ }
#ifndef IX_EXAMPLES_KV_PROTOCOL_H_
#define IX_EXAMPLES_KV_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "examples/kv/store.h"

namespace ix::kv {

// Version reported by the `version` command and `stats` (clients parse the numbers).
inline constexpr std::string_view kKvVersion = "1.6.0-ix";

struct KvSessionOptions {
  // A command line longer than this (without its newline) closes the connection with
  // SERVER_ERROR, except get/gets/gat/gats, whose keys are then processed as they stream in.
  size_t max_line_bytes = 2048;
  // Process() stops starting new work once `out` holds this many bytes (see output_full).
  size_t output_soft_limit_bytes = 4u << 20;
  // For `stats` only: when the server started (Unix seconds) and its process id (0: omit).
  uint64_t server_start_s = 0;
  int64_t pid = 0;
};

struct [[nodiscard]] KvProcessResult {
  // Bytes of the input consumed. Less than the input size only when `close` or
  // `output_full` is set; the unconsumed tail must then be offered again (first) in the
  // next call, after `out` has been sent.
  size_t consumed = 0;
  // The client sent `quit` or a line too long to be a command: send `out`, then close.
  // Every later Process() call consumes its input and does nothing.
  bool close = false;
  // `out` reached output_soft_limit_bytes with work left: send `out`, then call Process()
  // again (with the unconsumed tail and any new bytes; possibly with an empty input).
  bool output_full = false;
};

class KvSession {
 public:
  // `store` must outlive the session. Counts one connection in the store's stats.
  explicit KvSession(KvStore* store, const KvSessionOptions& options = {});
  ~KvSession();
  KvSession(const KvSession&) = delete;
  KvSession& operator=(const KvSession&) = delete;

  // Parses and executes as much of `in` as possible, appending responses to `out`.
  // `now_s` is the current Unix time in seconds (the session never reads a clock).
  KvProcessResult Process(absl::Span<const uint8_t> in, uint64_t now_s, std::string* out);
  KvProcessResult Process(std::string_view in, uint64_t now_s, std::string* out) {
    return Process(absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(in.data()),
                                             in.size()),
                   now_s, out);
  }

  // Bytes held inside the session between calls (partial line, partial value, keys).
  [[nodiscard]] size_t buffered_bytes() const;
  // True after quit or a fatal protocol error.
  [[nodiscard]] bool closed() const { return state_ == State::kClosed; }

 private:
  enum class State : uint8_t {
    kLine,       // reading a command line
    kData,       // reading the data block of a storage command
    kSwallow,    // discarding the data block of a rejected storage command
    kGetKeys,    // emitting the keys of a get/gets/gat/gats line, possibly still arriving
    kSwallowLine,  // discarding the rest of a streamed get line after an error
    kClosed,
  };

  // One step of each state over in[*pos..]; each advances *pos.
  void StepLine(std::string_view in, size_t* pos, std::string* out);
  void StepData(std::string_view in, size_t* pos, std::string* out);
  void StepGetKeys(std::string_view in, size_t* pos, std::string* out);

  using TokenSpan = absl::Span<const std::string_view>;

  void ExecuteLine(std::string_view line, std::string* out);
  // Command handlers; `t` holds the line's tokens, t[0] being the command name.
  void SetNoreplyMaybe(TokenSpan t);
  void ProcessUpdate(KvStoreMode mode, TokenSpan t, std::string* out);
  void ProcessArithmetic(TokenSpan t, bool incr, std::string* out);
  void ProcessDelete(TokenSpan t, std::string* out);
  void ProcessTouch(TokenSpan t, std::string* out);
  void ProcessFlushAll(TokenSpan t, std::string* out);
  void ProcessVerbosity(TokenSpan t, std::string* out);
  void ProcessStats(TokenSpan t, std::string* out);
  // A line over max_line_bytes with no newline yet (in line_buf_).
  void HandleLongLine(std::string* out);
  // Starts a get-family command whose keys begin at `keys` (with or without the line end).
  void StartGet(std::string_view command, std::string_view args, bool line_complete,
                std::string* out);
  void EmitKey(std::string_view key, std::string* out);
  void FinishData(std::string* out);
  void Reply(std::string_view text, std::string* out);  // text + "\r\n" unless noreply_
  void AppendStats(std::string* out);

  KvStore* store_;
  KvSessionOptions options_;
  State state_ = State::kLine;
  uint64_t now_s_ = 0;
  bool noreply_ = false;

  std::string line_buf_;  // partial command line, <= max_line_bytes + 1

  // kData / kSwallow.
  KvStoreMode data_mode_ = KvStoreMode::kSet;
  std::string data_key_;
  uint32_t data_flags_ = 0;
  int64_t data_exptime_ = 0;
  uint64_t data_cas_ = 0;
  size_t data_left_ = 0;   // bytes still to read (value + "\r\n") or to swallow
  std::string data_buf_;   // value + "\r\n" so far

  // kGetKeys.
  bool get_cas_ = false;
  bool get_touch_ = false;
  int64_t get_exptime_ = 0;
  std::string keys_buf_;      // unprocessed keys text (bounded by max_line_bytes)
  size_t keys_pos_ = 0;       // next unprocessed byte in keys_buf_
  bool keys_line_end_ = false;  // keys_buf_ holds the end of the line
};

}  // namespace ix::kv

#endif  // IX_EXAMPLES_KV_PROTOCOL_H_

// KvSession: the memcached text protocol state machine (command lines, data blocks, keys).
// Replies and error strings follow memcached 1.6 (doc/protocol.txt and its proto_text.c).
#include "examples/kv/protocol.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "examples/kv/numbers.h"

namespace ix::kv {
namespace {

// memcached's tokenizer stops at 24 tokens; longer lines fail every fixed-count check.
constexpr size_t kMaxTokens = 24;
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";

using Tokens = absl::InlinedVector<std::string_view, 8>;

// Splits on ' ' (memcached splits on spaces only). At most kMaxTokens tokens are returned;
// a longer line returns kMaxTokens + 1 (the rest as one token) so count checks fail.
Tokens Tokenize(std::string_view line) {
  Tokens tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    if (tokens.size() == kMaxTokens) {
      tokens.push_back(line.substr(i));
      break;
    }
    size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    tokens.push_back(line.substr(i, end - i));
    i = end;
  }
  return tokens;
}

// Keys are 1..250 bytes. Like memcached, any byte but the separators is allowed: control
// characters, DEL and bytes >= 0x80 included (protocol.txt asks clients not to send them,
// but memcached never checks, and memcaslap's keys start with an 8-byte binary prefix).
// Spaces and the line end cannot reach here (they split tokens and lines). NUL is refused:
// memcached's C-string tokenizer would end the line there, ix-kv calls the line malformed.
bool ValidKey(std::string_view key) {
  return !key.empty() && key.size() <= kMaxKeyBytes &&
         key.find('\0') == std::string_view::npos;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  uint64_t v;
  if (!ParseDecimalU64(s, &v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}
bool ParseU64(std::string_view s, uint64_t* out) { return ParseDecimalU64(s, out); }

// memcached's safe_strtol: a signed number no larger than INT32_MAX.
bool ParseExptime(std::string_view s, int64_t* out) {
  int64_t v;
  if (!ParseDecimalI64(s, &v) || v > std::numeric_limits<int32_t>::max()) return false;
  *out = v;
  return true;
}

bool IsGetCommand(std::string_view cmd) {
  return cmd == "get" || cmd == "gets" || cmd == "gat" || cmd == "gats";
}

}  // namespace

KvSession::KvSession(KvStore* store, const KvSessionOptions& options)
    : store_(store), options_(options) {
  ++store_->mutable_stats().curr_connections;
  ++store_->mutable_stats().total_connections;
}

KvSession::~KvSession() { --store_->mutable_stats().curr_connections; }

size_t KvSession::buffered_bytes() const {
  return line_buf_.capacity() + data_buf_.capacity() + keys_buf_.capacity() +
         data_key_.capacity();
}

KvProcessResult KvSession::Process(absl::Span<const uint8_t> in_bytes, uint64_t now_s,
                                   std::string* out) {
  std::string_view in(reinterpret_cast<const char*>(in_bytes.data()), in_bytes.size());
  now_s_ = now_s;
  const size_t out_start = out->size();
  KvProcessResult result;
  size_t pos = 0;
  bool stalled = false;  // the get-keys reader needs more input
  while (state_ != State::kClosed && !stalled) {
    bool buffered_work = state_ == State::kGetKeys;
    if (pos == in.size() && !buffered_work) break;
    if (out->size() >= options_.output_soft_limit_bytes) {
      result.output_full = true;
      break;
    }
    switch (state_) {
      case State::kLine:
        StepLine(in, &pos, out);
        break;
      case State::kData:
      case State::kSwallow:
        StepData(in, &pos, out);
        break;
      case State::kGetKeys: {
        size_t before_pos = pos;
        size_t before_out = out->size();
        State before_state = state_;
        size_t before_keys = keys_pos_;
        StepGetKeys(in, &pos, out);
        if (pos == before_pos && out->size() == before_out && state_ == before_state &&
            keys_pos_ == before_keys) {
          stalled = true;
        }
        break;
      }
      case State::kSwallowLine: {
        size_t nl = in.find('\n', pos);
        if (nl == std::string_view::npos) {
          pos = in.size();
        } else {
          pos = nl + 1;
          state_ = State::kLine;
        }
        break;
      }
      case State::kClosed:
        break;
    }
  }
  if (state_ == State::kClosed) {
    result.close = true;
    result.output_full = false;
    pos = in.size();  // nothing after quit or a fatal error is looked at
  }
  result.consumed = pos;
  KvStats& stats = store_->mutable_stats();
  stats.bytes_read += pos;
  stats.bytes_written += out->size() - out_start;
  return result;
}

void KvSession::StepLine(std::string_view in, size_t* pos, std::string* out) {
  std::string_view rest = in.substr(*pos);
  size_t nl = rest.find('\n');
  size_t take = nl == std::string_view::npos ? rest.size() : nl;
  if (line_buf_.size() + take > options_.max_line_bytes) {
    // Same decision whatever the segmentation: look at the first max_line_bytes + 1 bytes.
    size_t n = options_.max_line_bytes + 1 - line_buf_.size();
    line_buf_.append(rest.substr(0, n));
    *pos += n;
    HandleLongLine(out);
    return;
  }
  if (nl == std::string_view::npos) {
    line_buf_.append(rest);
    *pos = in.size();
    return;
  }
  std::string_view line;
  if (line_buf_.empty()) {
    line = rest.substr(0, nl);
  } else {
    line_buf_.append(rest.substr(0, nl));
    line = line_buf_;
  }
  *pos += nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  ExecuteLine(line, out);
  line_buf_.clear();
}

void KvSession::HandleLongLine(std::string* out) {
  std::string_view s = line_buf_;
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  size_t cmd_end = s.find(' ', i);
  std::string_view cmd =
      cmd_end == std::string_view::npos ? std::string_view() : s.substr(i, cmd_end - i);
  if (IsGetCommand(cmd)) {
    // A multi-get too long to buffer: emit keys as they arrive (memcached allows these).
    StartGet(cmd, s.substr(cmd_end + 1), /*line_complete=*/false, out);
  } else {
    out->append("SERVER_ERROR command line too long\r\n");
    state_ = State::kClosed;
  }
  line_buf_.clear();
  line_buf_.shrink_to_fit();
}

void KvSession::StartGet(std::string_view command, std::string_view args, bool line_complete,
                         std::string* out) {
  get_cas_ = command == "gets" || command == "gats";
  get_touch_ = command == "gat" || command == "gats";
  get_exptime_ = 0;
  if (get_touch_) {
    size_t i = args.find_first_not_of(' ');
    size_t end = i == std::string_view::npos ? std::string_view::npos : args.find(' ', i);
    if (end == std::string_view::npos && line_complete) end = args.size();
    // An exptime token cut off by the line limit is as invalid as a missing one.
    if (i == std::string_view::npos || end == std::string_view::npos ||
        !ParseExptime(args.substr(i, end - i), &get_exptime_)) {
      Reply("CLIENT_ERROR invalid exptime argument", out);
      state_ = line_complete ? State::kLine : State::kSwallowLine;
      return;
    }
    args = args.substr(end);
  }
  keys_buf_.assign(args.data(), args.size());
  keys_pos_ = 0;
  keys_line_end_ = line_complete;
  state_ = State::kGetKeys;
}

void KvSession::StepGetKeys(std::string_view in, size_t* pos, std::string* out) {
  // 1. Emit the next complete key already buffered.
  while (keys_pos_ < keys_buf_.size() && keys_buf_[keys_pos_] == ' ') ++keys_pos_;
  if (keys_pos_ < keys_buf_.size()) {
    size_t sp = keys_buf_.find(' ', keys_pos_);
    if (sp != std::string::npos || keys_line_end_) {
      size_t end = sp == std::string::npos ? keys_buf_.size() : sp;
      std::string_view key(keys_buf_.data() + keys_pos_, end - keys_pos_);
      keys_pos_ = sp == std::string::npos ? end : sp + 1;
      if (!ValidKey(key)) {
        Reply(kBadFormat, out);
        state_ = keys_line_end_ ? State::kLine : State::kSwallowLine;
        keys_buf_.clear();
        return;
      }
      EmitKey(key, out);
      return;
    }
    if (keys_buf_.size() - keys_pos_ > kMaxKeyBytes) {  // a partial key already too long
      Reply(kBadFormat, out);
      state_ = State::kSwallowLine;
      keys_buf_.clear();
      return;
    }
  } else if (keys_line_end_) {
    out->append("END\r\n");
    state_ = State::kLine;
    keys_buf_.clear();
    if (keys_buf_.capacity() > options_.max_line_bytes + 1) keys_buf_.shrink_to_fit();
    return;
  }
  // 2. Refill from the input: keep the partial key, append up to the newline.
  if (*pos == in.size()) return;
  keys_buf_.erase(0, keys_pos_);
  keys_pos_ = 0;
  std::string_view rest = in.substr(*pos);
  size_t nl = rest.find('\n');
  size_t take = nl == std::string_view::npos ? rest.size() : nl;
  size_t room = options_.max_line_bytes + 1 - std::min(keys_buf_.size(), options_.max_line_bytes);
  size_t n = std::min(take, room);
  keys_buf_.append(rest.substr(0, n));
  *pos += n;
  if (n == take && nl != std::string_view::npos) {
    *pos += 1;
    keys_line_end_ = true;
    if (!keys_buf_.empty() && keys_buf_.back() == '\r') keys_buf_.pop_back();
  }
}

void KvSession::EmitKey(std::string_view key, std::string* out) {
  std::optional<KvItemView> item = get_touch_ ? store_->GetAndTouch(key, get_exptime_, now_s_)
                                              : store_->Get(key, now_s_);
  if (!item.has_value()) return;
  out->append("VALUE ");
  out->append(item->key);
  out->push_back(' ');
  AppendDecimal(out, item->flags);
  out->push_back(' ');
  AppendDecimal(out, item->value.size());
  if (get_cas_) {
    out->push_back(' ');
    AppendDecimal(out, item->cas);
  }
  out->append("\r\n");
  out->append(item->value);
  out->append("\r\n");
}

void KvSession::Reply(std::string_view text, std::string* out) {
  if (noreply_) return;
  out->append(text);
  out->append("\r\n");
}

void KvSession::ExecuteLine(std::string_view line, std::string* out) {
  noreply_ = false;
  // Get-family commands hand their keys to the streaming key reader.
  size_t i = line.find_first_not_of(' ');
  if (i != std::string_view::npos) {
    size_t cmd_end = line.find(' ', i);
    std::string_view cmd = line.substr(i, cmd_end == line.npos ? line.npos : cmd_end - i);
    if (IsGetCommand(cmd)) {
      std::string_view args =
          cmd_end == std::string_view::npos ? std::string_view() : line.substr(cmd_end + 1);
      if (args.find_first_not_of(' ') == std::string_view::npos) {
        Reply("ERROR", out);  // no key
        return;
      }
      StartGet(cmd, args, /*line_complete=*/true, out);
      return;
    }
  }

  const Tokens t = Tokenize(line);
  if (t.empty() || t[0].size() < 2) {
    Reply("ERROR", out);
    return;
  }
  const std::string_view cmd = t[0];
  if (cmd == "set") {
    ProcessUpdate(KvStoreMode::kSet, t, out);
  } else if (cmd == "add") {
    ProcessUpdate(KvStoreMode::kAdd, t, out);
  } else if (cmd == "replace") {
    ProcessUpdate(KvStoreMode::kReplace, t, out);
  } else if (cmd == "append") {
    ProcessUpdate(KvStoreMode::kAppend, t, out);
  } else if (cmd == "prepend") {
    ProcessUpdate(KvStoreMode::kPrepend, t, out);
  } else if (cmd == "cas") {
    ProcessUpdate(KvStoreMode::kCas, t, out);
  } else if (cmd == "incr" || cmd == "decr") {
    ProcessArithmetic(t, /*incr=*/cmd == "incr", out);
  } else if (cmd == "delete") {
    ProcessDelete(t, out);
  } else if (cmd == "touch") {
    ProcessTouch(t, out);
  } else if (cmd == "flush_all") {
    ProcessFlushAll(t, out);
  } else if (cmd == "version") {
    Reply(std::string("VERSION ").append(kKvVersion), out);
  } else if (cmd == "verbosity") {
    ProcessVerbosity(t, out);
  } else if (cmd == "stats") {
    ProcessStats(t, out);
  } else if (cmd == "quit") {
    state_ = State::kClosed;
  } else {
    Reply("ERROR", out);
  }
}

// memcached's set_noreply_maybe: "noreply" is recognised as the last token only.
void KvSession::SetNoreplyMaybe(TokenSpan t) { noreply_ = t.back() == "noreply"; }

// <cmd> <key> <flags> <exptime> <bytes> [noreply]  /  cas ... <bytes> <cas unique> [noreply]
void KvSession::ProcessUpdate(KvStoreMode mode, TokenSpan t, std::string* out) {
  const bool cas = mode == KvStoreMode::kCas;
  const size_t base = cas ? 6 : 5;
  if (t.size() != base && t.size() != base + 1) {
    Reply("ERROR", out);
    return;
  }
  SetNoreplyMaybe(t);
  std::string_view key = t[1];
  uint32_t flags;
  int64_t exptime;
  int64_t vlen;
  uint64_t cas_unique = 0;
  if (!ValidKey(key) || !ParseU32(t[2], &flags) || !ParseExptime(t[3], &exptime) ||
      !ParseExptime(t[4], &vlen) || (cas && !ParseU64(t[5], &cas_unique)) || vlen < 0) {
    // Like memcached, the data block is not swallowed: it will be read as a command.
    Reply(kBadFormat, out);
    return;
  }
  const size_t value_bytes = static_cast<size_t>(vlen);
  data_left_ = value_bytes + 2;
  if (!store_->ItemSizeOk(key.size(), value_bytes)) {
    Reply("SERVER_ERROR object too large for cache", out);
    store_->RejectTooLarge(mode, key, now_s_);
    state_ = State::kSwallow;
    return;
  }
  data_mode_ = mode;
  data_key_.assign(key.data(), key.size());
  data_flags_ = flags;
  data_exptime_ = exptime;
  data_cas_ = cas_unique;
  data_buf_.clear();
  data_buf_.reserve(data_left_);
  state_ = State::kData;
}

// incr|decr <key> <value> [noreply]
void KvSession::ProcessArithmetic(TokenSpan t, bool incr, std::string* out) {
  if (t.size() != 3 && t.size() != 4) {
    Reply("ERROR", out);
    return;
  }
  SetNoreplyMaybe(t);
  if (!ValidKey(t[1])) {
    Reply(kBadFormat, out);
    return;
  }
  uint64_t delta;
  if (!ParseU64(t[2], &delta)) {
    Reply("CLIENT_ERROR invalid numeric delta argument", out);
    return;
  }
  uint64_t value = 0;
  switch (store_->Delta(t[1], incr, delta, now_s_, &value)) {
    case KvDeltaStatus::kOk:
      Reply(DecimalString(value), out);
      break;
    case KvDeltaStatus::kNotFound:
      Reply("NOT_FOUND", out);
      break;
    case KvDeltaStatus::kNonNumeric:
      Reply("CLIENT_ERROR cannot increment or decrement non-numeric value", out);
      break;
  }
}

// delete <key> [0] [noreply]  (the legacy hold time is accepted only as 0)
void KvSession::ProcessDelete(TokenSpan t, std::string* out) {
  const size_t n = t.size();
  if (n < 2 || n > 4) {
    Reply("ERROR", out);
    return;
  }
  if (n > 2) {
    const bool hold_is_zero = t[2] == "0";
    SetNoreplyMaybe(t);
    const bool valid =
        (n == 3 && (hold_is_zero || noreply_)) || (n == 4 && hold_is_zero && noreply_);
    if (!valid) {
      Reply("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]", out);
      return;
    }
  }
  if (!ValidKey(t[1])) {
    Reply(kBadFormat, out);
    return;
  }
  Reply(store_->Delete(t[1], now_s_) ? "DELETED" : "NOT_FOUND", out);
}

// touch <key> <exptime> [noreply]
void KvSession::ProcessTouch(TokenSpan t, std::string* out) {
  if (t.size() != 3 && t.size() != 4) {
    Reply("ERROR", out);
    return;
  }
  SetNoreplyMaybe(t);
  if (!ValidKey(t[1])) {
    Reply(kBadFormat, out);
    return;
  }
  int64_t exptime;
  if (!ParseExptime(t[2], &exptime)) {
    Reply("CLIENT_ERROR invalid exptime argument", out);
    return;
  }
  Reply(store_->Touch(t[1], exptime, now_s_) ? "TOUCHED" : "NOT_FOUND", out);
}

// flush_all [delay] [noreply]
void KvSession::ProcessFlushAll(TokenSpan t, std::string* out) {
  if (t.size() > 3) {
    Reply("ERROR", out);
    return;
  }
  SetNoreplyMaybe(t);
  int64_t delay = 0;
  if (t.size() != (noreply_ ? 2u : 1u) && !ParseExptime(t[1], &delay)) {
    Reply("CLIENT_ERROR invalid exptime argument", out);
    return;
  }
  store_->FlushAll(delay, now_s_);
  Reply("OK", out);
}

// verbosity <level> [noreply]: accepted and ignored (there is no log to make verbose).
void KvSession::ProcessVerbosity(TokenSpan t, std::string* out) {
  if (t.size() != 2 && t.size() != 3) {
    Reply("ERROR", out);
    return;
  }
  SetNoreplyMaybe(t);
  uint32_t level;
  if (!ParseU32(t[1], &level)) {
    Reply(kBadFormat, out);
    return;
  }
  Reply("OK", out);
}

// stats | stats reset | stats items|slabs|conns (empty listings)
void KvSession::ProcessStats(TokenSpan t, std::string* out) {
  if (t.size() == 1) {
    AppendStats(out);
  } else if (t[1] == "reset") {
    store_->ResetStats();
    Reply("RESET", out);
  } else if (t[1] == "items" || t[1] == "slabs" || t[1] == "conns") {
    Reply("END", out);
  } else {
    Reply("ERROR", out);
  }
}

void KvSession::StepData(std::string_view in, size_t* pos, std::string* out) {
  size_t n = std::min(data_left_, in.size() - *pos);
  if (state_ == State::kData) data_buf_.append(in.substr(*pos, n));
  *pos += n;
  data_left_ -= n;
  if (data_left_ != 0) return;
  if (state_ == State::kSwallow) {
    state_ = State::kLine;
    return;
  }
  FinishData(out);
}

void KvSession::FinishData(std::string* out) {
  state_ = State::kLine;
  const size_t size = data_buf_.size();
  if (size < 2 || data_buf_[size - 2] != '\r' || data_buf_[size - 1] != '\n') {
    data_buf_.clear();
    Reply("CLIENT_ERROR bad data chunk", out);
    return;
  }
  data_buf_.resize(size - 2);
  KvStoreStatus status = store_->Store(data_mode_, data_key_, std::move(data_buf_), data_flags_,
                                       data_exptime_, data_cas_, now_s_);
  data_buf_ = std::string();
  switch (status) {
    case KvStoreStatus::kStored:
      Reply("STORED", out);
      break;
    case KvStoreStatus::kNotStored:
      Reply("NOT_STORED", out);
      break;
    case KvStoreStatus::kExists:
      Reply("EXISTS", out);
      break;
    case KvStoreStatus::kNotFound:
      Reply("NOT_FOUND", out);
      break;
    case KvStoreStatus::kTooLarge:
      Reply("SERVER_ERROR object too large for cache", out);
      break;
  }
}

void KvSession::AppendStats(std::string* out) {
  const KvStats& s = store_->stats();
  auto stat = [out](std::string_view name, uint64_t value) {
    out->append("STAT ").append(name).append(" ");
    AppendDecimal(out, value);
    out->append("\r\n");
  };
  if (options_.pid > 0) stat("pid", static_cast<uint64_t>(options_.pid));
  stat("uptime", now_s_ >= options_.server_start_s ? now_s_ - options_.server_start_s : 0);
  stat("time", now_s_);
  out->append("STAT version ").append(kKvVersion).append("\r\n");
  stat("pointer_size", sizeof(void*) * 8);
  stat("curr_connections", s.curr_connections);
  stat("total_connections", s.total_connections);
  stat("cmd_get", s.cmd_get);
  stat("cmd_set", s.cmd_set);
  stat("cmd_flush", s.cmd_flush);
  stat("cmd_touch", s.cmd_touch);
  stat("get_hits", s.get_hits);
  stat("get_misses", s.get_misses);
  stat("get_expired", s.get_expired);
  stat("delete_misses", s.delete_misses);
  stat("delete_hits", s.delete_hits);
  stat("incr_misses", s.incr_misses);
  stat("incr_hits", s.incr_hits);
  stat("decr_misses", s.decr_misses);
  stat("decr_hits", s.decr_hits);
  stat("cas_misses", s.cas_misses);
  stat("cas_hits", s.cas_hits);
  stat("cas_badval", s.cas_badval);
  stat("touch_hits", s.touch_hits);
  stat("touch_misses", s.touch_misses);
  stat("store_too_large", s.store_too_large);
  stat("store_no_memory", s.store_no_memory);
  stat("bytes_read", s.bytes_read);
  stat("bytes_written", s.bytes_written);
  stat("limit_maxbytes", store_->options().memory_limit_bytes);
  stat("item_size_max", store_->options().max_item_bytes);
  stat("threads", 1);
  stat("bytes", s.bytes);
  stat("curr_items", s.curr_items);
  stat("total_items", s.total_items);
  stat("evictions", s.evictions);
  stat("reclaimed", s.reclaimed);
  out->append("END\r\n");
}

}  // namespace ix::kv

// KvStore: the single-threaded item store behind the ix key-value server (memcached semantics).
//
// One KvStore per dataplane core; it never reads a clock (every call takes `now_s`, Unix
// seconds) and never does I/O. Memory is bounded: keys, values and a fixed per-item overhead
// are counted against `memory_limit_bytes`, and the least recently used items are evicted
// to make room (O(1) per operation: hash map + intrusive doubly linked list). Expired items
// are removed lazily, when they are looked up or reach the LRU tail.
//
// Usage:
//   KvStore store(KvStoreOptions{.memory_limit_bytes = 64 << 20});
//   KvStoreStatus s = store.Store(KvStoreMode::kSet, "k", "value", /*flags=*/0,
//                                 /*exptime=*/0, /*cas_unique=*/0, now_s);
//   if (std::optional<KvItemView> v = store.Get("k", now_s)) Use(v->value);
#ifndef IX_EXAMPLES_KV_STORE_H_
#define IX_EXAMPLES_KV_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace ix::kv {

// Protocol limits shared with the session.
inline constexpr size_t kMaxKeyBytes = 250;
// Relative exptimes larger than this are absolute Unix times (memcached's 30 days).
inline constexpr int64_t kMaxRelativeExptimeS = 60 * 60 * 24 * 30;

// Returns the absolute expiry for a protocol exptime given the current time: 0 = never,
// kExpiredNowS = already expired (negative exptime, or an absolute time not in the future).
inline constexpr uint64_t kExpiredNowS = 1;
[[nodiscard]] uint64_t ExpiryFromExptime(int64_t exptime, uint64_t now_s);

struct KvStoreOptions {
  size_t memory_limit_bytes = 64u << 20;
  // Largest item (key + value + per-item overhead), memcached's -I (item_size_max).
  size_t max_item_bytes = 1u << 20;
};

// Counters reported by `stats`. The session adds the connection-level ones.
struct KvStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;  // bytes counted against the memory limit
  uint64_t evictions = 0;  // live items removed to make room
  uint64_t reclaimed = 0;  // expired or flushed items removed (lazily or at the LRU tail)
  uint64_t cmd_get = 0;  // keys looked up by get/gets/gat/gats
  uint64_t cmd_set = 0;
  uint64_t cmd_flush = 0;
  uint64_t cmd_touch = 0;
  uint64_t get_hits = 0;
  uint64_t get_misses = 0;
  uint64_t get_expired = 0;
  uint64_t delete_hits = 0;
  uint64_t delete_misses = 0;
  uint64_t incr_hits = 0;
  uint64_t incr_misses = 0;
  uint64_t decr_hits = 0;
  uint64_t decr_misses = 0;
  uint64_t cas_hits = 0;
  uint64_t cas_misses = 0;
  uint64_t cas_badval = 0;
  uint64_t touch_hits = 0;
  uint64_t touch_misses = 0;
  uint64_t store_too_large = 0;
  uint64_t store_no_memory = 0;
  // Maintained by KvSession (one per connection).
  uint64_t curr_connections = 0;
  uint64_t total_connections = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

enum class KvStoreMode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

enum class [[nodiscard]] KvStoreStatus : uint8_t {
  kStored,
  kNotStored,  // add found the key, replace/append/prepend did not, or append grew too large
  kExists,     // cas unique mismatch
  kNotFound,   // cas on a missing key
  kTooLarge,   // the item can never fit (max_item_bytes or memory_limit_bytes)
};

enum class [[nodiscard]] KvDeltaStatus : uint8_t { kOk, kNotFound, kNonNumeric };

// A read-only view of an item. Valid until the next non-const call on the store.
struct KvItemView {
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint64_t cas = 0;
};

class KvStore {
 public:
  // Memory counted for an item besides its key and value bytes: the item header, the hash
  // slot and allocator slack (an estimate, the same for every item).
  static const size_t kItemOverheadBytes;

  explicit KvStore(const KvStoreOptions& options = {});
  ~KvStore();
  KvStore(const KvStore&) = delete;
  KvStore& operator=(const KvStore&) = delete;

  // True when an item with these sizes can be stored at all (checked before a session
  // buffers a value, so that too-large data is swallowed instead of copied).
  [[nodiscard]] bool ItemSizeOk(size_t key_bytes, size_t value_bytes) const;

  // Looks `key` up; a hit becomes the most recently used item. Counts cmd_get/get_hits/...
  std::optional<KvItemView> Get(std::string_view key, uint64_t now_s);
  // Get and, on a hit, set a new exptime (gat/gats). Counts as a touch.
  std::optional<KvItemView> GetAndTouch(std::string_view key, int64_t exptime, uint64_t now_s);

  // The six storage commands. `exptime` is the raw protocol value; `cas_unique` is used by
  // kCas only; `flags` and `exptime` are ignored by kAppend/kPrepend. A failed kSet of a
  // too-large item removes the old item (memcached does, to avoid serving stale data).
  KvStoreStatus Store(KvStoreMode mode, std::string_view key, std::string value, uint32_t flags,
                      int64_t exptime, uint64_t cas_unique, uint64_t now_s);

  // Records that a storage command was refused before its data was read because the item
  // would be too large; a kSet also removes the old item (as Store() does).
  void RejectTooLarge(KvStoreMode mode, std::string_view key, uint64_t now_s);

  // incr/decr: the value must be a decimal 64-bit unsigned integer; incr wraps at 2^64,
  // decr stops at 0. On kOk, *new_value holds the result, which is also stored.
  KvDeltaStatus Delta(std::string_view key, bool incr, uint64_t delta, uint64_t now_s,
                      uint64_t* new_value);

  // Returns true when a live item was removed.
  bool Delete(std::string_view key, uint64_t now_s);
  // Sets a new exptime; returns true when the item exists.
  bool Touch(std::string_view key, int64_t exptime, uint64_t now_s);
  // flush_all: invalidates every item now (delay_exptime <= 0) or at the time the exptime
  // denotes (items stored before then become invalid then).
  void FlushAll(int64_t delay_exptime, uint64_t now_s);

  // Keys from least to most recently used (for tests; O(n)).
  [[nodiscard]] std::vector<std::string> KeysLruToMru() const;

  const KvStats& stats() const { return stats_; }
  KvStats& mutable_stats() { return stats_; }
  // "stats reset": zeroes the cumulative counters, keeps the gauges.
  void ResetStats();
  const KvStoreOptions& options() const { return options_; }

 private:
  struct Item;

  [[nodiscard]] static size_t Footprint(size_t key_bytes, size_t value_bytes);
  // Applies a due delayed flush_all.
  void MaybeFlush(uint64_t now_s);
  // Returns the live item for key, removing it if expired (counted in *expired).
  Item* FindLive(std::string_view key, uint64_t now_s, bool* expired = nullptr);
  void Unlink(Item* item);  // removes from the map and the list, frees it, updates counters
  void PushFront(Item* item);
  void MoveToFront(Item* item);
  // Evicts from the LRU tail until `bytes` more fit. Returns false if impossible.
  bool MakeRoom(size_t bytes, uint64_t now_s);
  // Inserts a new item (no item with this key may exist). Returns false if it cannot fit.
  bool Insert(std::string_view key, std::string value, uint32_t flags, uint64_t expiry_s,
              uint64_t now_s);
  void ClearAll();

  KvStoreOptions options_;
  KvStats stats_;
  absl::flat_hash_map<std::string_view, std::unique_ptr<Item>> map_;  // key views into Item
  Item* lru_head_ = nullptr;  // most recently used
  Item* lru_tail_ = nullptr;  // least recently used
  uint64_t next_cas_ = 1;
  uint64_t pending_flush_at_s_ = 0;  // 0 = none
};

}  // namespace ix::kv

#endif  // IX_EXAMPLES_KV_STORE_H_

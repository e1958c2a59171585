// KvStore: hash map + intrusive LRU list with memory accounting, lazy expiry and CAS uniques.
#include "examples/kv/store.h"

#include <limits>
#include <utility>

#include "examples/kv/numbers.h"

namespace ix::kv {

struct KvStore::Item {
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint64_t expiry_s = 0;  // see ExpiryFromExptime
  uint64_t cas = 0;
  Item* prev = nullptr;  // towards the head (more recently used)
  Item* next = nullptr;  // towards the tail (less recently used)
};

// The item header plus a hash slot (key view, pointer, control byte) and malloc headers.
const size_t KvStore::kItemOverheadBytes = sizeof(KvStore::Item) + 48;

namespace {

bool IsExpired(uint64_t expiry_s, uint64_t now_s) {
  return expiry_s == kExpiredNowS || (expiry_s != 0 && expiry_s <= now_s);
}

// memcached accepts what strtoull accepts followed by whitespace or the end: optional
// leading whitespace, decimal digits, no sign, no overflow (stored values may carry trailing
// space padding from other servers' in-place decr).
bool ParseStoredNumber(std::string_view s, uint64_t* out) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  size_t digits_begin = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == digits_begin) return false;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n') return false;
  }
  return ParseDecimalU64(s.substr(digits_begin, i - digits_begin), out);
}

}  // namespace

uint64_t ExpiryFromExptime(int64_t exptime, uint64_t now_s) {
  if (exptime == 0) return 0;
  if (exptime < 0) return kExpiredNowS;
  if (exptime <= kMaxRelativeExptimeS) return now_s + static_cast<uint64_t>(exptime);
  uint64_t absolute_s = static_cast<uint64_t>(exptime);
  return absolute_s <= now_s ? kExpiredNowS : absolute_s;
}

KvStore::KvStore(const KvStoreOptions& options) : options_(options) {}

KvStore::~KvStore() = default;

size_t KvStore::Footprint(size_t key_bytes, size_t value_bytes) {
  return key_bytes + value_bytes + kItemOverheadBytes;
}

bool KvStore::ItemSizeOk(size_t key_bytes, size_t value_bytes) const {
  if (value_bytes > std::numeric_limits<size_t>::max() / 2) return false;
  size_t footprint = Footprint(key_bytes, value_bytes);
  return footprint <= options_.max_item_bytes && footprint <= options_.memory_limit_bytes;
}

void KvStore::MaybeFlush(uint64_t now_s) {
  if (pending_flush_at_s_ != 0 && now_s >= pending_flush_at_s_) {
    // Every item present now was stored before the flush time: a store at or after it
    // would have come through here first.
    pending_flush_at_s_ = 0;
    ClearAll();
  }
}

void KvStore::ClearAll() {
  map_.clear();
  lru_head_ = lru_tail_ = nullptr;
  stats_.curr_items = 0;
  stats_.bytes = 0;
}

KvStore::Item* KvStore::FindLive(std::string_view key, uint64_t now_s, bool* expired) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  Item* item = it->second.get();
  if (IsExpired(item->expiry_s, now_s)) {
    if (expired != nullptr) *expired = true;
    ++stats_.reclaimed;
    Unlink(item);
    return nullptr;
  }
  return item;
}

void KvStore::Unlink(Item* item) {
  if (item->prev != nullptr) {
    item->prev->next = item->next;
  } else {
    lru_head_ = item->next;
  }
  if (item->next != nullptr) {
    item->next->prev = item->prev;
  } else {
    lru_tail_ = item->prev;
  }
  stats_.bytes -= Footprint(item->key.size(), item->value.size());
  --stats_.curr_items;
  auto it = map_.find(std::string_view(item->key));
  map_.erase(it);  // frees item
}

void KvStore::PushFront(Item* item) {
  item->prev = nullptr;
  item->next = lru_head_;
  if (lru_head_ != nullptr) lru_head_->prev = item;
  lru_head_ = item;
  if (lru_tail_ == nullptr) lru_tail_ = item;
}

void KvStore::MoveToFront(Item* item) {
  if (lru_head_ == item) return;
  // Detach (item is not the head, so item->prev != nullptr).
  item->prev->next = item->next;
  if (item->next != nullptr) {
    item->next->prev = item->prev;
  } else {
    lru_tail_ = item->prev;
  }
  PushFront(item);
}

bool KvStore::MakeRoom(size_t bytes, uint64_t now_s) {
  while (stats_.bytes + bytes > options_.memory_limit_bytes) {
    Item* victim = lru_tail_;
    if (victim == nullptr) return false;
    if (IsExpired(victim->expiry_s, now_s)) {
      ++stats_.reclaimed;
    } else {
      ++stats_.evictions;
    }
    Unlink(victim);
  }
  return true;
}

bool KvStore::Insert(std::string_view key, std::string value, uint32_t flags, uint64_t expiry_s,
                     uint64_t now_s) {
  size_t footprint = Footprint(key.size(), value.size());
  if (!MakeRoom(footprint, now_s)) return false;
  auto item = std::make_unique<Item>();
  item->key.assign(key.data(), key.size());
  item->value = std::move(value);
  item->flags = flags;
  item->expiry_s = expiry_s;
  item->cas = next_cas_++;
  Item* raw = item.get();
  map_.emplace(std::string_view(raw->key), std::move(item));
  PushFront(raw);
  stats_.bytes += footprint;
  ++stats_.curr_items;
  ++stats_.total_items;
  return true;
}

std::optional<KvItemView> KvStore::Get(std::string_view key, uint64_t now_s) {
  MaybeFlush(now_s);
  ++stats_.cmd_get;
  bool expired = false;
  Item* item = FindLive(key, now_s, &expired);
  if (item == nullptr) {
    ++stats_.get_misses;
    if (expired) ++stats_.get_expired;
    return std::nullopt;
  }
  ++stats_.get_hits;
  MoveToFront(item);
  return KvItemView{item->key, item->value, item->flags, item->cas};
}

std::optional<KvItemView> KvStore::GetAndTouch(std::string_view key, int64_t exptime,
                                               uint64_t now_s) {
  MaybeFlush(now_s);
  ++stats_.cmd_touch;
  Item* item = FindLive(key, now_s);
  if (item == nullptr) {
    ++stats_.touch_misses;
    return std::nullopt;
  }
  ++stats_.touch_hits;
  // An immediately expiring exptime still returns the value; the item is reclaimed lazily.
  item->expiry_s = ExpiryFromExptime(exptime, now_s);
  MoveToFront(item);
  return KvItemView{item->key, item->value, item->flags, item->cas};
}

KvStoreStatus KvStore::Store(KvStoreMode mode, std::string_view key, std::string value,
                             uint32_t flags, int64_t exptime, uint64_t cas_unique,
                             uint64_t now_s) {
  MaybeFlush(now_s);
  ++stats_.cmd_set;
  Item* old = FindLive(key, now_s);
  switch (mode) {
    case KvStoreMode::kSet:
      break;
    case KvStoreMode::kAdd:
      if (old != nullptr) {
        MoveToFront(old);  // memcached bumps the existing item on a failed add
        return KvStoreStatus::kNotStored;
      }
      break;
    case KvStoreMode::kReplace:
    case KvStoreMode::kAppend:
    case KvStoreMode::kPrepend:
      if (old == nullptr) return KvStoreStatus::kNotStored;
      break;
    case KvStoreMode::kCas:
      if (old == nullptr) {
        ++stats_.cas_misses;
        return KvStoreStatus::kNotFound;
      }
      if (old->cas != cas_unique) {
        ++stats_.cas_badval;
        return KvStoreStatus::kExists;
      }
      ++stats_.cas_hits;
      break;
  }

  uint64_t expiry_s;
  if (mode == KvStoreMode::kAppend || mode == KvStoreMode::kPrepend) {
    if (!ItemSizeOk(key.size(), old->value.size() + value.size())) {
      return KvStoreStatus::kNotStored;  // memcached: the combined item cannot be allocated
    }
    if (mode == KvStoreMode::kAppend) {
      value.insert(0, old->value);
    } else {
      value.append(old->value);
    }
    flags = old->flags;
    expiry_s = old->expiry_s;
  } else {
    if (!ItemSizeOk(key.size(), value.size())) {
      RejectTooLarge(mode, key, now_s);
      return KvStoreStatus::kTooLarge;
    }
    expiry_s = ExpiryFromExptime(exptime, now_s);
  }
  if (old != nullptr) Unlink(old);
  if (expiry_s == kExpiredNowS) return KvStoreStatus::kStored;  // stored and expired at once
  if (!Insert(key, std::move(value), flags, expiry_s, now_s)) {
    // Unreachable: ItemSizeOk guarantees the footprint fits in an empty store.
    ++stats_.store_no_memory;
    return KvStoreStatus::kTooLarge;
  }
  return KvStoreStatus::kStored;
}

void KvStore::RejectTooLarge(KvStoreMode mode, std::string_view key, uint64_t now_s) {
  ++stats_.store_too_large;
  if (mode != KvStoreMode::kSet) return;
  if (Item* old = FindLive(key, now_s); old != nullptr) Unlink(old);
}

KvDeltaStatus KvStore::Delta(std::string_view key, bool incr, uint64_t delta, uint64_t now_s,
                             uint64_t* new_value) {
  MaybeFlush(now_s);
  Item* item = FindLive(key, now_s);
  if (item == nullptr) {
    ++(incr ? stats_.incr_misses : stats_.decr_misses);
    return KvDeltaStatus::kNotFound;
  }
  uint64_t value;
  if (!ParseStoredNumber(item->value, &value)) return KvDeltaStatus::kNonNumeric;
  if (incr) {
    value += delta;  // wraps at 2^64 as the protocol says
  } else {
    value = delta > value ? 0 : value - delta;
  }
  ++(incr ? stats_.incr_hits : stats_.decr_hits);
  std::string text = DecimalString(value);
  MoveToFront(item);
  if (text.size() > item->value.size()) {
    // Grow: make room without evicting the item itself (it is the head now).
    size_t growth = text.size() - item->value.size();
    while (stats_.bytes + growth > options_.memory_limit_bytes && lru_tail_ != item) {
      ++stats_.evictions;
      Unlink(lru_tail_);
    }
  }
  stats_.bytes = stats_.bytes - item->value.size() + text.size();
  item->value = std::move(text);
  item->cas = next_cas_++;
  *new_value = value;
  return KvDeltaStatus::kOk;
}

bool KvStore::Delete(std::string_view key, uint64_t now_s) {
  MaybeFlush(now_s);
  Item* item = FindLive(key, now_s);
  if (item == nullptr) {
    ++stats_.delete_misses;
    return false;
  }
  ++stats_.delete_hits;
  Unlink(item);
  return true;
}

bool KvStore::Touch(std::string_view key, int64_t exptime, uint64_t now_s) {
  MaybeFlush(now_s);
  ++stats_.cmd_touch;
  Item* item = FindLive(key, now_s);
  if (item == nullptr) {
    ++stats_.touch_misses;
    return false;
  }
  ++stats_.touch_hits;
  uint64_t expiry_s = ExpiryFromExptime(exptime, now_s);
  if (expiry_s == kExpiredNowS) {
    Unlink(item);
  } else {
    item->expiry_s = expiry_s;
    MoveToFront(item);
  }
  return true;
}

void KvStore::FlushAll(int64_t delay_exptime, uint64_t now_s) {
  ++stats_.cmd_flush;
  if (delay_exptime <= 0) {
    pending_flush_at_s_ = 0;
    ClearAll();
    return;
  }
  uint64_t at_s = ExpiryFromExptime(delay_exptime, now_s);
  if (at_s == kExpiredNowS) {
    pending_flush_at_s_ = 0;
    ClearAll();
    return;
  }
  pending_flush_at_s_ = at_s;
}

std::vector<std::string> KvStore::KeysLruToMru() const {
  std::vector<std::string> keys;
  keys.reserve(map_.size());
  for (const Item* item = lru_tail_; item != nullptr; item = item->prev) {
    keys.push_back(item->key);
  }
  return keys;
}

void KvStore::ResetStats() {
  KvStats fresh;
  fresh.curr_items = stats_.curr_items;
  fresh.bytes = stats_.bytes;
  fresh.curr_connections = stats_.curr_connections;
  stats_ = fresh;
}

}  // namespace ix::kv

// Unit tests for KvStore: commands, CAS, incr/decr, expiry with fake time, LRU and memory
// limit, and a randomized comparison against a simple reference model.
#include "examples/kv/store.h"

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ix::kv {
namespace {

using ::testing::ElementsAre;

constexpr uint64_t kT0 = 1'700'000'000;  // a realistic "now" in Unix seconds

std::string GetValue(KvStore& s, std::string_view key, uint64_t now = kT0) {
  std::optional<KvItemView> v = s.Get(key, now);
  return v.has_value() ? std::string(v->value) : "<miss>";
}

KvStoreStatus Set(KvStore& s, std::string_view key, std::string value, int64_t exptime = 0,
                  uint64_t now = kT0) {
  return s.Store(KvStoreMode::kSet, key, std::move(value), 0, exptime, 0, now);
}

TEST(KvStoreTest, SetGetFlagsAndCasUniques) {
  KvStore s;
  ASSERT_EQ(s.Store(KvStoreMode::kSet, "a", "hello", 42, 0, 0, kT0), KvStoreStatus::kStored);
  std::optional<KvItemView> v = s.Get("a", kT0);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->key, "a");
  EXPECT_EQ(v->value, "hello");
  EXPECT_EQ(v->flags, 42u);
  uint64_t cas1 = v->cas;
  ASSERT_EQ(Set(s, "a", "world"), KvStoreStatus::kStored);
  v = s.Get("a", kT0);
  EXPECT_EQ(v->value, "world");
  EXPECT_GT(v->cas, cas1);
  ASSERT_EQ(Set(s, "b", ""), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "b"), "");
  EXPECT_EQ(GetValue(s, "c"), "<miss>");
  EXPECT_EQ(s.stats().curr_items, 2u);
  EXPECT_EQ(s.stats().get_hits, 3u);
  EXPECT_EQ(s.stats().get_misses, 1u);
}

TEST(KvStoreTest, AddReplaceAppendPrepend) {
  KvStore s;
  EXPECT_EQ(s.Store(KvStoreMode::kReplace, "k", "x", 0, 0, 0, kT0), KvStoreStatus::kNotStored);
  EXPECT_EQ(s.Store(KvStoreMode::kAppend, "k", "x", 0, 0, 0, kT0), KvStoreStatus::kNotStored);
  EXPECT_EQ(s.Store(KvStoreMode::kPrepend, "k", "x", 0, 0, 0, kT0), KvStoreStatus::kNotStored);
  EXPECT_EQ(GetValue(s, "k"), "<miss>");
  EXPECT_EQ(s.Store(KvStoreMode::kAdd, "k", "mid", 7, 0, 0, kT0), KvStoreStatus::kStored);
  EXPECT_EQ(s.Store(KvStoreMode::kAdd, "k", "other", 0, 0, 0, kT0), KvStoreStatus::kNotStored);
  EXPECT_EQ(s.Store(KvStoreMode::kAppend, "k", ">", 99, 0, 0, kT0), KvStoreStatus::kStored);
  EXPECT_EQ(s.Store(KvStoreMode::kPrepend, "k", "<", 99, 0, 0, kT0), KvStoreStatus::kStored);
  std::optional<KvItemView> v = s.Get("k", kT0);
  EXPECT_EQ(v->value, "<mid>");
  EXPECT_EQ(v->flags, 7u);  // append/prepend keep the flags
  EXPECT_EQ(s.Store(KvStoreMode::kReplace, "k", "new", 1, 0, 0, kT0), KvStoreStatus::kStored);
  v = s.Get("k", kT0);
  EXPECT_EQ(v->value, "new");
  EXPECT_EQ(v->flags, 1u);
}

TEST(KvStoreTest, CompareAndSwap) {
  KvStore s;
  EXPECT_EQ(s.Store(KvStoreMode::kCas, "k", "v", 0, 0, 1, kT0), KvStoreStatus::kNotFound);
  ASSERT_EQ(Set(s, "k", "v1"), KvStoreStatus::kStored);
  uint64_t cas = s.Get("k", kT0)->cas;
  EXPECT_EQ(s.Store(KvStoreMode::kCas, "k", "v2", 0, 0, cas + 1, kT0), KvStoreStatus::kExists);
  EXPECT_EQ(GetValue(s, "k"), "v1");
  EXPECT_EQ(s.Store(KvStoreMode::kCas, "k", "v2", 0, 0, cas, kT0), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "k"), "v2");
  // The old unique is now stale.
  EXPECT_EQ(s.Store(KvStoreMode::kCas, "k", "v3", 0, 0, cas, kT0), KvStoreStatus::kExists);
  EXPECT_EQ(s.stats().cas_misses, 1u);
  EXPECT_EQ(s.stats().cas_badval, 2u);
  EXPECT_EQ(s.stats().cas_hits, 1u);
}

TEST(KvStoreTest, Delete) {
  KvStore s;
  EXPECT_FALSE(s.Delete("k", kT0));
  ASSERT_EQ(Set(s, "k", "v"), KvStoreStatus::kStored);
  EXPECT_TRUE(s.Delete("k", kT0));
  EXPECT_FALSE(s.Delete("k", kT0));
  EXPECT_EQ(GetValue(s, "k"), "<miss>");
  EXPECT_EQ(s.stats().curr_items, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(KvStoreTest, IncrDecrEdgeCases) {
  KvStore s;
  uint64_t v = 0;
  EXPECT_EQ(s.Delta("n", true, 1, kT0, &v), KvDeltaStatus::kNotFound);
  ASSERT_EQ(Set(s, "n", "10"), KvStoreStatus::kStored);
  uint64_t cas_before = s.Get("n", kT0)->cas;
  EXPECT_EQ(s.Delta("n", true, 5, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(v, 15u);
  EXPECT_EQ(GetValue(s, "n"), "15");
  EXPECT_GT(s.Get("n", kT0)->cas, cas_before);  // incr is a modification
  EXPECT_EQ(s.Delta("n", false, 100, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(v, 0u);  // decr stops at zero
  EXPECT_EQ(GetValue(s, "n"), "0");
  // incr wraps at 2^64.
  ASSERT_EQ(Set(s, "n", "18446744073709551615"), KvStoreStatus::kStored);
  EXPECT_EQ(s.Delta("n", true, 2, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(GetValue(s, "n"), "1");
  // Growing and shrinking length.
  ASSERT_EQ(Set(s, "n", "99"), KvStoreStatus::kStored);
  EXPECT_EQ(s.Delta("n", true, 1, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(GetValue(s, "n"), "100");
  EXPECT_EQ(s.Delta("n", false, 91, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(GetValue(s, "n"), "9");
  // Trailing space padding (left by other servers' in-place decr) is accepted.
  ASSERT_EQ(Set(s, "n", "12  "), KvStoreStatus::kStored);
  EXPECT_EQ(s.Delta("n", true, 1, kT0, &v), KvDeltaStatus::kOk);
  EXPECT_EQ(v, 13u);
  for (const char* bad : {"", "abc", "12abc", "-1", "18446744073709551616", "1.5", " "}) {
    ASSERT_EQ(Set(s, "bad", bad), KvStoreStatus::kStored);
    EXPECT_EQ(s.Delta("bad", true, 1, kT0, &v), KvDeltaStatus::kNonNumeric) << bad;
    EXPECT_EQ(GetValue(s, "bad"), bad);  // unchanged
  }
  EXPECT_EQ(s.stats().bytes, [&] {
    KvStore fresh;
    (void)Set(fresh, "n", "13");
    (void)Set(fresh, "bad", " ");
    return fresh.stats().bytes;
  }());
}

TEST(KvStoreTest, ExptimeConversion) {
  EXPECT_EQ(ExpiryFromExptime(0, kT0), 0u);
  EXPECT_EQ(ExpiryFromExptime(-1, kT0), kExpiredNowS);
  EXPECT_EQ(ExpiryFromExptime(10, kT0), kT0 + 10);
  EXPECT_EQ(ExpiryFromExptime(kMaxRelativeExptimeS, kT0), kT0 + kMaxRelativeExptimeS);
  // Just over 30 days is an absolute time in 1970: already past.
  EXPECT_EQ(ExpiryFromExptime(kMaxRelativeExptimeS + 1, kT0), kExpiredNowS);
  EXPECT_EQ(ExpiryFromExptime(static_cast<int64_t>(kT0) + 100, kT0), kT0 + 100);
  EXPECT_EQ(ExpiryFromExptime(static_cast<int64_t>(kT0), kT0), kExpiredNowS);
}

TEST(KvStoreTest, ExpiryWithFakeTime) {
  KvStore s;
  ASSERT_EQ(Set(s, "rel", "v", 10), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "abs", "v", static_cast<int64_t>(kT0) + 5), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "never", "v", 0), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "neg", "v", -1), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "neg"), "<miss>");
  EXPECT_EQ(GetValue(s, "abs", kT0 + 4), "v");
  EXPECT_EQ(GetValue(s, "abs", kT0 + 5), "<miss>");
  EXPECT_EQ(GetValue(s, "rel", kT0 + 9), "v");
  EXPECT_EQ(GetValue(s, "rel", kT0 + 10), "<miss>");
  EXPECT_EQ(GetValue(s, "never", kT0 + 100'000'000), "v");
  EXPECT_EQ(s.stats().curr_items, 1u);  // expired items were reclaimed on access
  EXPECT_GE(s.stats().get_expired, 2u);
  // An expired item counts as missing for add/replace/cas/incr/delete/touch.
  ASSERT_EQ(Set(s, "e", "5", 1), KvStoreStatus::kStored);
  uint64_t later = kT0 + 2;
  uint64_t v;
  EXPECT_EQ(s.Delta("e", true, 1, later, &v), KvDeltaStatus::kNotFound);
  ASSERT_EQ(Set(s, "e", "5", 1), KvStoreStatus::kStored);
  EXPECT_EQ(s.Store(KvStoreMode::kReplace, "e", "x", 0, 0, 0, later), KvStoreStatus::kNotStored);
  ASSERT_EQ(Set(s, "e", "5", 1), KvStoreStatus::kStored);
  EXPECT_EQ(s.Store(KvStoreMode::kAdd, "e", "x", 0, 0, 0, later), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "e", later), "x");
}

TEST(KvStoreTest, TouchAndGetAndTouch) {
  KvStore s;
  EXPECT_FALSE(s.Touch("k", 10, kT0));
  ASSERT_EQ(Set(s, "k", "v", 10), KvStoreStatus::kStored);
  EXPECT_TRUE(s.Touch("k", 100, kT0 + 5));
  EXPECT_EQ(GetValue(s, "k", kT0 + 50), "v");
  EXPECT_EQ(GetValue(s, "k", kT0 + 105), "<miss>");
  ASSERT_EQ(Set(s, "k", "v", 0), KvStoreStatus::kStored);
  EXPECT_TRUE(s.Touch("k", -1, kT0));  // touched into immediate expiry
  EXPECT_EQ(GetValue(s, "k"), "<miss>");
  ASSERT_EQ(Set(s, "g", "v", 0), KvStoreStatus::kStored);
  std::optional<KvItemView> got = s.GetAndTouch("g", 3, kT0);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, "v");
  EXPECT_EQ(GetValue(s, "g", kT0 + 2), "v");
  EXPECT_EQ(GetValue(s, "g", kT0 + 3), "<miss>");
  EXPECT_FALSE(s.GetAndTouch("g", 3, kT0).has_value());
  ASSERT_EQ(Set(s, "h", "v", 0), KvStoreStatus::kStored);
  EXPECT_TRUE(s.GetAndTouch("h", -1, kT0).has_value());  // returned once, then gone
  EXPECT_EQ(GetValue(s, "h"), "<miss>");
}

TEST(KvStoreTest, FlushAllNowAndDelayed) {
  KvStore s;
  ASSERT_EQ(Set(s, "a", "1"), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "b", "2"), KvStoreStatus::kStored);
  s.FlushAll(0, kT0);
  EXPECT_EQ(GetValue(s, "a"), "<miss>");
  EXPECT_EQ(s.stats().bytes, 0u);
  ASSERT_EQ(Set(s, "a", "1"), KvStoreStatus::kStored);
  s.FlushAll(10, kT0);  // items stored before kT0 + 10 become invalid then
  ASSERT_EQ(Set(s, "b", "2", 0, kT0 + 5), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "a", kT0 + 9), "1");
  EXPECT_EQ(GetValue(s, "b", kT0 + 9), "2");
  EXPECT_EQ(GetValue(s, "a", kT0 + 10), "<miss>");
  EXPECT_EQ(GetValue(s, "b", kT0 + 10), "<miss>");
  ASSERT_EQ(Set(s, "c", "3", 0, kT0 + 11), KvStoreStatus::kStored);
  EXPECT_EQ(GetValue(s, "c", kT0 + 12), "3");  // stored after the flush time
}

TEST(KvStoreTest, LruOrderFollowsUse) {
  KvStore s;
  for (const char* k : {"a", "b", "c", "d"}) ASSERT_EQ(Set(s, k, "v"), KvStoreStatus::kStored);
  EXPECT_THAT(s.KeysLruToMru(), ElementsAre("a", "b", "c", "d"));
  (void)s.Get("a", kT0);
  EXPECT_THAT(s.KeysLruToMru(), ElementsAre("b", "c", "d", "a"));
  EXPECT_TRUE(s.Touch("c", 0, kT0));
  EXPECT_THAT(s.KeysLruToMru(), ElementsAre("b", "d", "a", "c"));
  uint64_t v;
  ASSERT_EQ(Set(s, "b", "1"), KvStoreStatus::kStored);
  EXPECT_THAT(s.KeysLruToMru(), ElementsAre("d", "a", "c", "b"));
  EXPECT_EQ(s.Delta("d", true, 1, kT0, &v), KvDeltaStatus::kNonNumeric);
  ASSERT_EQ(Set(s, "d", "1"), KvStoreStatus::kStored);
  EXPECT_EQ(s.Delta("a", true, 1, kT0, &v), KvDeltaStatus::kNonNumeric);
  EXPECT_TRUE(s.Delete("c", kT0));
  EXPECT_THAT(s.KeysLruToMru(), ElementsAre("a", "b", "d"));
}

TEST(KvStoreTest, MemoryLimitEvictsLeastRecentlyUsed) {
  const size_t per_item = KvStore::kItemOverheadBytes + 2 + 100;  // key "kN", 100-byte value
  KvStore s(KvStoreOptions{.memory_limit_bytes = per_item * 10, .max_item_bytes = 1 << 20});
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Set(s, "k" + std::to_string(i), std::string(100, 'x')), KvStoreStatus::kStored);
  }
  EXPECT_EQ(s.stats().bytes, per_item * 10);
  EXPECT_EQ(s.stats().evictions, 0u);
  (void)s.Get("k0", kT0);  // k0 becomes most recent; k1 is now the LRU victim
  ASSERT_EQ(Set(s, "kA", std::string(100, 'y')), KvStoreStatus::kStored);
  EXPECT_EQ(s.stats().evictions, 1u);
  EXPECT_EQ(GetValue(s, "k1"), "<miss>");
  EXPECT_EQ(GetValue(s, "k0"), std::string(100, 'x'));
  EXPECT_LE(s.stats().bytes, per_item * 10);
  // A bigger item evicts as many as needed.
  ASSERT_EQ(Set(s, "kB", std::string(100 + 3 * per_item, 'z')), KvStoreStatus::kStored);
  EXPECT_LE(s.stats().bytes, per_item * 10);
  EXPECT_EQ(s.stats().evictions, 5u);
  EXPECT_EQ(s.stats().curr_items, 7u);
  // An item larger than the whole memory can never be stored.
  EXPECT_EQ(Set(s, "huge", std::string(per_item * 10, 'h')), KvStoreStatus::kTooLarge);
}

TEST(KvStoreTest, ExpiredTailItemsAreReclaimedNotEvicted) {
  const size_t per_item = KvStore::kItemOverheadBytes + 1 + 10;
  KvStore s(KvStoreOptions{.memory_limit_bytes = per_item * 2, .max_item_bytes = 1 << 20});
  ASSERT_EQ(Set(s, "a", std::string(10, 'a'), 5), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "b", std::string(10, 'b'), 0), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "c", std::string(10, 'c'), 0, kT0 + 6), KvStoreStatus::kStored);
  EXPECT_EQ(s.stats().evictions, 0u);
  EXPECT_EQ(s.stats().reclaimed, 1u);
}

TEST(KvStoreTest, MaxItemSize) {
  KvStore s(KvStoreOptions{.memory_limit_bytes = 64 << 20, .max_item_bytes = 1 << 20});
  const size_t max_value = (1 << 20) - KvStore::kItemOverheadBytes - 1;
  EXPECT_TRUE(s.ItemSizeOk(1, max_value));
  EXPECT_FALSE(s.ItemSizeOk(1, max_value + 1));
  ASSERT_EQ(Set(s, "k", std::string(max_value, 'v')), KvStoreStatus::kStored);
  ASSERT_EQ(Set(s, "j", "old"), KvStoreStatus::kStored);
  // A failed set removes the stale value; other modes leave it.
  EXPECT_EQ(s.Store(KvStoreMode::kReplace, "j", std::string(max_value + 1, 'v'), 0, 0, 0, kT0),
            KvStoreStatus::kTooLarge);
  EXPECT_EQ(GetValue(s, "j"), "old");
  EXPECT_EQ(Set(s, "j", std::string(max_value + 1, 'v')), KvStoreStatus::kTooLarge);
  EXPECT_EQ(GetValue(s, "j"), "<miss>");
  // Appending past the limit is NOT_STORED and keeps the value.
  EXPECT_EQ(s.Store(KvStoreMode::kAppend, "k", "x", 0, 0, 0, kT0), KvStoreStatus::kNotStored);
  EXPECT_EQ(GetValue(s, "k").size(), max_value);
  EXPECT_EQ(s.stats().store_too_large, 2u);
}

// ---- Randomized comparison against a reference model ----

struct ModelItem {
  std::string value;
  uint32_t flags;
  uint64_t expiry_s;
  uint64_t cas;
};

// The obvious implementation: an ordered map with no memory limit, expiry checked on read.
class Model {
 public:
  std::optional<ModelItem> Live(const std::string& key, uint64_t now) {
    auto it = items_.find(key);
    if (it == items_.end()) return std::nullopt;
    const ModelItem& m = it->second;
    if (m.expiry_s == kExpiredNowS || (m.expiry_s != 0 && m.expiry_s <= now)) {
      items_.erase(it);
      return std::nullopt;
    }
    return m;
  }
  KvStoreStatus Store(KvStoreMode mode, const std::string& key, const std::string& value,
                      uint32_t flags, int64_t exptime, uint64_t cas, uint64_t now) {
    std::optional<ModelItem> old = Live(key, now);
    if (mode == KvStoreMode::kAdd && old) return KvStoreStatus::kNotStored;
    if ((mode == KvStoreMode::kReplace || mode == KvStoreMode::kAppend ||
         mode == KvStoreMode::kPrepend) && !old) {
      return KvStoreStatus::kNotStored;
    }
    if (mode == KvStoreMode::kCas) {
      if (!old) return KvStoreStatus::kNotFound;
      if (old->cas != cas) return KvStoreStatus::kExists;
    }
    ModelItem m{value, flags, ExpiryFromExptime(exptime, now), 0};
    if (mode == KvStoreMode::kAppend || mode == KvStoreMode::kPrepend) {
      m.value = mode == KvStoreMode::kAppend ? old->value + value : value + old->value;
      m.flags = old->flags;
      m.expiry_s = old->expiry_s;
    }
    items_.erase(key);
    if (m.expiry_s != kExpiredNowS) {
      m.cas = next_cas_++;
      items_[key] = m;
    }
    return KvStoreStatus::kStored;
  }
  KvDeltaStatus Delta(const std::string& key, bool incr, uint64_t delta, uint64_t now,
                      uint64_t* out) {
    std::optional<ModelItem> old = Live(key, now);
    if (!old) return KvDeltaStatus::kNotFound;
    const std::string& v = old->value;
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
      return KvDeltaStatus::kNonNumeric;
    }
    unsigned __int128 wide = 0;  // leading zeros are fine, as with strtoull
    for (char c : v) {
      wide = wide * 10 + static_cast<unsigned>(c - '0');
      if (wide > UINT64_MAX) return KvDeltaStatus::kNonNumeric;
    }
    uint64_t n = static_cast<uint64_t>(wide);
    n = incr ? n + delta : (delta > n ? 0 : n - delta);
    ModelItem& m = items_[key];
    m.value = std::to_string(n);
    m.cas = next_cas_++;
    *out = n;
    return KvDeltaStatus::kOk;
  }
  bool Delete(const std::string& key, uint64_t now) {
    if (!Live(key, now)) return false;
    items_.erase(key);
    return true;
  }
  bool Touch(const std::string& key, int64_t exptime, uint64_t now) {
    if (!Live(key, now)) return false;
    uint64_t e = ExpiryFromExptime(exptime, now);
    if (e == kExpiredNowS) {
      items_.erase(key);
    } else {
      items_[key].expiry_s = e;
    }
    return true;
  }

 private:
  std::map<std::string, ModelItem> items_;
  uint64_t next_cas_ = 1;
};

std::string RandomValue(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return std::to_string(rng() % 1000);
    case 1:
      return std::to_string(rng());  // near the 64-bit edge sometimes
    case 2:
      return "18446744073709551615";
    default:
      return std::string(rng() % 40, static_cast<char>('a' + rng() % 26));
  }
}

// Drives the store and the model with the same random operations; with a memory limit
// big enough for everything, every answer and every value must agree exactly.
TEST(KvStoreTest, RandomizedAgainstReferenceModel) {
  std::mt19937_64 rng(12345);
  KvStore store(KvStoreOptions{.memory_limit_bytes = 256u << 20, .max_item_bytes = 1 << 20});
  Model model;
  uint64_t now = kT0;
  const int kKeys = 40;
  for (int step = 0; step < 200'000; ++step) {
    if (rng() % 50 == 0) now += rng() % 4;
    std::string key = "key" + std::to_string(rng() % kKeys);
    int64_t exptime = 0;
    switch (rng() % 8) {
      case 0: exptime = 1 + static_cast<int64_t>(rng() % 5); break;
      case 1: exptime = -1; break;
      case 2: exptime = static_cast<int64_t>(now + rng() % 6); break;  // absolute
      default: break;
    }
    switch (rng() % 8) {
      case 0:
      case 1: {
        std::optional<KvItemView> got = store.Get(key, now);
        std::optional<ModelItem> want = model.Live(key, now);
        ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step << " key " << key;
        if (got) {
          ASSERT_EQ(got->value, want->value) << "step " << step;
          ASSERT_EQ(got->flags, want->flags);
          ASSERT_EQ(got->cas, want->cas);
        }
        break;
      }
      case 2:
      case 3: {
        KvStoreMode mode = static_cast<KvStoreMode>(rng() % 6);
        std::string value = RandomValue(rng);
        uint32_t flags = static_cast<uint32_t>(rng() % 3);
        uint64_t cas = rng() % 2 == 0 ? (model.Live(key, now) ? model.Live(key, now)->cas : 7)
                                      : rng() % 100;
        KvStoreStatus want = model.Store(mode, key, value, flags, exptime, cas, now);
        ASSERT_EQ(store.Store(mode, key, value, flags, exptime, cas, now), want)
            << "step " << step;
        break;
      }
      case 4:
      case 5: {
        bool incr = rng() % 2 == 0;
        uint64_t delta = rng() % 3 == 0 ? rng() : rng() % 100;
        uint64_t got_v = 0, want_v = 0;
        KvDeltaStatus want = model.Delta(key, incr, delta, now, &want_v);
        ASSERT_EQ(store.Delta(key, incr, delta, now, &got_v), want) << "step " << step;
        if (want == KvDeltaStatus::kOk) {
          ASSERT_EQ(got_v, want_v);
        }
        break;
      }
      case 6:
        ASSERT_EQ(store.Delete(key, now), model.Delete(key, now)) << "step " << step;
        break;
      case 7:
        ASSERT_EQ(store.Touch(key, exptime, now), model.Touch(key, exptime, now))
            << "step " << step;
        break;
    }
  }
}

// With a small memory limit the store may drop items, but it never exceeds the limit and
// any hit still returns the latest value written (never a stale or corrupted one).
TEST(KvStoreTest, RandomizedSmallMemoryNeverStaleNeverOverLimit) {
  std::mt19937_64 rng(777);
  const size_t limit = 64 * 1024;
  KvStore store(KvStoreOptions{.memory_limit_bytes = limit, .max_item_bytes = 16 * 1024});
  std::map<std::string, std::string> last_written;
  for (int step = 0; step < 100'000; ++step) {
    std::string key = "k" + std::to_string(rng() % 500);
    if (rng() % 2 == 0) {
      std::string value(rng() % 2000, static_cast<char>('a' + step % 26));
      ASSERT_EQ(store.Store(KvStoreMode::kSet, key, value, 0, 0, 0, kT0),
                KvStoreStatus::kStored);
      last_written[key] = value;
    } else {
      std::optional<KvItemView> v = store.Get(key, kT0);
      if (v.has_value()) {
        ASSERT_EQ(v->value, last_written[key]) << "step " << step;
      }
    }
    ASSERT_LE(store.stats().bytes, limit);
  }
  EXPECT_GT(store.stats().evictions, 0u);
  // Gauges agree with the contents.
  EXPECT_EQ(store.KeysLruToMru().size(), store.stats().curr_items);
}

}  // namespace
}  // namespace ix::kv

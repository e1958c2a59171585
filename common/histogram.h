// LatencyHistogram: a fixed-size, pointer-free log-linear histogram of uint64 values (latencies in
// ns), usable in shared memory and on paths that must not allocate.
//
// Layout and precision (kSubBucketBits = s = 5):
//   - values 0 .. 31 each have their own bucket (exact);
//   - every power of two [2^e, 2^(e+1)) for e = 5 .. 39 is split into 2^s = 32 equal sub-buckets
//     of width 2^(e-5), i.e. at most 1/32 (3.125%) of any value in the bucket;
//   - values >= 2^40 (kMaxTrackedValue, ~18.3 minutes in ns) fall into the last bucket; Max() still
//     reports them exactly, Percentile() then reports at most Max().
// Percentile() reports the midpoint of the bucket holding the nearest-rank sample, clamped to
// [Min(), Max()], so for any tracked value v the reported value r satisfies
//   |r - v| <= v / 64   (relative error <= 1/2^(s+1) = 1.5625%, and always < 1/2^s = 3.125%).
// Min(), Max() and Count() are exact; Mean() is exact up to double rounding (the sum is a uint64
// that wraps only after 2^64 ns of total latency).
//
// Shared-memory contract: the struct is trivially copyable, standard-layout, contains no pointers,
// and an all-zero byte image is a valid empty histogram (min is stored complemented for that
// reason). Several writers may call RecordAtomic() concurrently (also from different processes on
// a shared mapping); readers may call the const accessors concurrently with RecordAtomic() and
// see a slightly stale but self-consistent-enough view (each field is read with a relaxed atomic
// load; Percentile() uses its own sum over the buckets, not Count()). Record(), Merge() and
// Clear() are plain, non-atomic writes: only one thread may use them, with no concurrent writer.
// If the layout changes, bump kLayoutVersion (shared-memory users compare it).
//
// Usage:
//   ix::LatencyHistogram h;            // or a zero-filled region of a memfd mapping
//   h.Record(1500);                    // one thread
//   h.RecordAtomic(2300);              // any thread or process sharing the memory
//   uint64_t p99 = h.Percentile(99.0);
#ifndef IX_COMMON_HISTOGRAM_H_
#define IX_COMMON_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ix {

class LatencyHistogram {
 public:
  static constexpr uint32_t kLayoutVersion = 1;
  static constexpr int kSubBucketBits = 5;                       // s: 2^s sub-buckets per octave
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;   // 32
  static constexpr int kMaxExponent = 40;                        // values < 2^40 tracked
  static constexpr uint64_t kMaxTrackedValue = (uint64_t{1} << kMaxExponent) - 1;
  // 32 exact buckets for 0..31, then 32 per octave for octaves 5 .. 39.
  static constexpr size_t kNumBuckets =
      kSubBuckets + static_cast<size_t>(kMaxExponent - kSubBucketBits) * kSubBuckets;  // 1152

  // Bucket index of v (values above kMaxTrackedValue map to the last bucket).
  static constexpr size_t BucketIndex(uint64_t v) {
    if (v > kMaxTrackedValue) v = kMaxTrackedValue;
    if (v < kSubBuckets) return static_cast<size_t>(v);
    const int e = 63 - __builtin_clzll(v);  // e >= kSubBucketBits
    const int shift = e - kSubBucketBits;
    return static_cast<size_t>(kSubBuckets + static_cast<uint64_t>(shift) * kSubBuckets +
                               ((v >> shift) - kSubBuckets));
  }
  // Smallest value that maps to bucket i (i < kNumBuckets).
  static constexpr uint64_t BucketLowerBound(size_t i) {
    if (i < kSubBuckets) return i;
    const uint64_t shift = (i - kSubBuckets) / kSubBuckets;
    const uint64_t sub = (i - kSubBuckets) % kSubBuckets;
    return (kSubBuckets + sub) << shift;
  }
  // Number of distinct values in bucket i (a power of two, <= lower bound / 32 above 31).
  static constexpr uint64_t BucketWidth(size_t i) {
    if (i < kSubBuckets) return 1;
    return uint64_t{1} << ((i - kSubBuckets) / kSubBuckets);
  }
  // Value reported for bucket i: the midpoint, rounded down.
  static constexpr uint64_t BucketMidpoint(size_t i) {
    return BucketLowerBound(i) + (BucketWidth(i) - 1) / 2;
  }

  // Records one value. Not thread-safe: one writer, no concurrent RecordAtomic().
  void Record(uint64_t v) {
    counts_[BucketIndex(v)]++;
    count_++;
    sum_ += v;
    if (v > max_) max_ = v;
    if (~v > min_complement_) min_complement_ = ~v;
  }

  // Records one value with relaxed atomic updates; safe against other RecordAtomic() callers and
  // concurrent readers, in this process or another one mapping the same memory. Never allocates.
  void RecordAtomic(uint64_t v) {
    __atomic_fetch_add(&counts_[BucketIndex(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&count_, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sum_, v, __ATOMIC_RELAXED);
    AtomicMax(&max_, v);
    AtomicMax(&min_complement_, ~v);
  }

  // Number of recorded values.
  uint64_t Count() const { return Load(count_); }
  // Smallest recorded value, exact; 0 when empty.
  uint64_t Min() const { return Count() == 0 ? 0 : ~Load(min_complement_); }
  // Largest recorded value, exact; 0 when empty.
  uint64_t Max() const { return Load(max_); }
  // Sum of recorded values (wraps modulo 2^64).
  uint64_t Sum() const { return Load(sum_); }
  // Arithmetic mean; 0 when empty.
  double Mean() const {
    const uint64_t n = Count();
    return n == 0 ? 0.0 : static_cast<double>(Sum()) / static_cast<double>(n);
  }
  // Count in bucket i (i < kNumBuckets).
  uint64_t BucketCount(size_t i) const { return Load(counts_[i]); }

  // Value at percentile p (p clamped to [0, 100]) by nearest rank: the bucket holding the
  // ceil(p/100 * n)-th smallest sample (at least the 1st), reported as its midpoint clamped to
  // [Min(), Max()]. Percentile(0) == Min(), Percentile(100) == Max(). 0 when empty.
  uint64_t Percentile(double p) const {
    uint64_t total = 0;
    for (size_t i = 0; i < kNumBuckets; ++i) total += Load(counts_[i]);
    if (total == 0) return 0;
    if (!(p > 0.0)) return Min();  // also catches NaN
    if (p >= 100.0) return Max();
    double rank_d = p / 100.0 * static_cast<double>(total);
    uint64_t rank = static_cast<uint64_t>(rank_d);
    if (static_cast<double>(rank) < rank_d) ++rank;  // ceil
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < kNumBuckets; ++i) {
      seen += Load(counts_[i]);
      if (seen >= rank) break;
    }
    if (i == kNumBuckets) i = kNumBuckets - 1;
    uint64_t v = BucketMidpoint(i);
    const uint64_t lo = Min(), hi = Max();
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
  }

  // Adds every sample of other into this histogram. Non-atomic on this; other may be written
  // concurrently with RecordAtomic() (its fields are read with relaxed loads).
  void Merge(const LatencyHistogram& other) {
    const uint64_t n = other.Count();
    for (size_t i = 0; i < kNumBuckets; ++i) counts_[i] += other.BucketCount(i);
    count_ += n;
    sum_ += other.Sum();
    if (n != 0) {
      const uint64_t omax = other.Max();
      const uint64_t omin_c = Load(other.min_complement_);
      if (omax > max_) max_ = omax;
      if (omin_c > min_complement_) min_complement_ = omin_c;
    }
  }

  // Resets to empty (the all-zero image). Non-atomic.
  void Clear() {
    for (auto& c : counts_) c = 0;
    count_ = 0;
    sum_ = 0;
    max_ = 0;
    min_complement_ = 0;
  }

 private:
  static uint64_t Load(const uint64_t& x) { return __atomic_load_n(&x, __ATOMIC_RELAXED); }
  static void AtomicMax(uint64_t* p, uint64_t v) {
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(p, &cur, v, /*weak=*/true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
  }

  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_complement_ = 0;  // ~min; 0 (i.e. min = UINT64_MAX) when empty
  uint64_t counts_[kNumBuckets] = {};
};

static_assert(std::is_trivially_copyable_v<LatencyHistogram>);
static_assert(std::is_standard_layout_v<LatencyHistogram>);
static_assert(sizeof(LatencyHistogram) == 8 * (4 + LatencyHistogram::kNumBuckets));
static_assert(sizeof(LatencyHistogram) <= 16 * 1024);
static_assert(LatencyHistogram::BucketIndex(LatencyHistogram::kMaxTrackedValue) ==
              LatencyHistogram::kNumBuckets - 1);
static_assert(LatencyHistogram::BucketLowerBound(LatencyHistogram::kNumBuckets - 1) +
                  LatencyHistogram::BucketWidth(LatencyHistogram::kNumBuckets - 1) - 1 ==
              LatencyHistogram::kMaxTrackedValue);

}  // namespace ix

#endif  // IX_COMMON_HISTOGRAM_H_

// Tests for ix::LatencyHistogram: bucket math, percentile precision on known distributions,
// exact min/max, merge, zero-filled validity and concurrent atomic recording.
#include "common/histogram.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ix {
namespace {

// The documented bound: |reported - true| <= true / 64.
void ExpectWithinPrecision(uint64_t reported, uint64_t truth) {
  const double err = std::fabs(static_cast<double>(reported) - static_cast<double>(truth));
  EXPECT_LE(err, static_cast<double>(truth) / 64.0) << "reported " << reported << " true " << truth;
}

// Nearest-rank percentile over a sorted vector, the definition the histogram documents.
uint64_t TruePercentile(const std::vector<uint64_t>& sorted, double p) {
  if (p <= 0) return sorted.front();
  if (p >= 100) return sorted.back();
  const double rank_d = p / 100.0 * static_cast<double>(sorted.size());
  size_t rank = static_cast<size_t>(std::ceil(rank_d));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::unique_ptr<LatencyHistogram> NewHist() { return std::make_unique<LatencyHistogram>(); }

TEST(LatencyHistogramTest, BucketMathRoundTrips) {
  for (size_t i = 0; i < LatencyHistogram::kNumBuckets; ++i) {
    const uint64_t lo = LatencyHistogram::BucketLowerBound(i);
    const uint64_t hi = lo + LatencyHistogram::BucketWidth(i) - 1;
    ASSERT_EQ(LatencyHistogram::BucketIndex(lo), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(hi), i);
    if (i + 1 < LatencyHistogram::kNumBuckets) {
      ASSERT_EQ(LatencyHistogram::BucketLowerBound(i + 1), hi + 1);
    }
    if (lo >= LatencyHistogram::kSubBuckets) {
      ASSERT_LE(LatencyHistogram::BucketWidth(i) * 32, lo);
    }
  }
  EXPECT_EQ(LatencyHistogram::BucketIndex(~uint64_t{0}), LatencyHistogram::kNumBuckets - 1);
}

TEST(LatencyHistogramTest, EmptyIsZero) {
  auto h = NewHist();
  EXPECT_EQ(h->Count(), 0u);
  EXPECT_EQ(h->Min(), 0u);
  EXPECT_EQ(h->Max(), 0u);
  EXPECT_EQ(h->Mean(), 0.0);
  EXPECT_EQ(h->Percentile(50), 0u);
}

TEST(LatencyHistogramTest, SmallValuesExact) {
  auto h = NewHist();
  for (uint64_t v = 0; v < 32; ++v) h->Record(v);
  EXPECT_EQ(h->Count(), 32u);
  EXPECT_EQ(h->Min(), 0u);
  EXPECT_EQ(h->Max(), 31u);
  EXPECT_EQ(h->Percentile(50), 15u);  // rank 16 -> value 15
  EXPECT_DOUBLE_EQ(h->Mean(), 15.5);
}

TEST(LatencyHistogramTest, MinMaxExactAndPercentileExtremes) {
  auto h = NewHist();
  h->Record(1'234'567);
  h->Record(987'654'321);
  h->Record(55'555);
  EXPECT_EQ(h->Min(), 55'555u);
  EXPECT_EQ(h->Max(), 987'654'321u);
  EXPECT_EQ(h->Percentile(0), 55'555u);
  EXPECT_EQ(h->Percentile(100), 987'654'321u);
  // A single value is reported exactly (clamped to [min, max]).
  auto one = NewHist();
  one->Record(123'457);
  EXPECT_EQ(one->Percentile(50), 123'457u);
  EXPECT_EQ(one->Percentile(99.9), 123'457u);
}

TEST(LatencyHistogramTest, UniformDistributionWithinPrecision) {
  auto h = NewHist();
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(1'000, 10'000'000);
  std::vector<uint64_t> values(200'000);
  for (auto& v : values) {
    v = dist(rng);
    h->Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
    ExpectWithinPrecision(h->Percentile(p), TruePercentile(values, p));
  }
  EXPECT_EQ(h->Min(), values.front());
  EXPECT_EQ(h->Max(), values.back());
  double sum = 0;
  for (uint64_t v : values) sum += static_cast<double>(v);
  EXPECT_NEAR(h->Mean(), sum / values.size(), 1e-6 * sum / values.size());
}

TEST(LatencyHistogramTest, ExponentialAndWideRangeWithinPrecision) {
  auto h = NewHist();
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> exp_dist(1.0 / 50'000.0);  // mean 50 us
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) values.push_back(static_cast<uint64_t>(exp_dist(rng)));
  // A log-uniform tail from 1 ns to 2^39 ns to cover every octave.
  std::uniform_real_distribution<double> log_dist(0.0, 39.0);
  for (int i = 0; i < 50'000; ++i) {
    values.push_back(static_cast<uint64_t>(std::exp2(log_dist(rng))));
  }
  for (uint64_t v : values) h->Record(v);
  std::sort(values.begin(), values.end());
  for (double p = 0.5; p < 100.0; p += 0.5) {
    ExpectWithinPrecision(h->Percentile(p), TruePercentile(values, p));
  }
  ExpectWithinPrecision(h->Percentile(99.99), TruePercentile(values, 99.99));
}

TEST(LatencyHistogramTest, ValuesAboveRangeKeepExactMax) {
  auto h = NewHist();
  const uint64_t big = uint64_t{1} << 50;
  h->Record(10);
  h->Record(big);
  EXPECT_EQ(h->Max(), big);
  EXPECT_EQ(h->Percentile(100), big);
  EXPECT_LE(h->Percentile(99), big);
  EXPECT_GE(h->Percentile(99), LatencyHistogram::kMaxTrackedValue / 2);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  auto a = NewHist(), b = NewHist(), all = NewHist();
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(11.0, 1.5);
  for (int i = 0; i < 30'000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    (i % 3 == 0 ? a : b)->Record(v);
    all->Record(v);
  }
  a->Merge(*b);
  EXPECT_EQ(a->Count(), all->Count());
  EXPECT_EQ(a->Min(), all->Min());
  EXPECT_EQ(a->Max(), all->Max());
  EXPECT_EQ(a->Sum(), all->Sum());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a->Percentile(p), all->Percentile(p));
  EXPECT_EQ(std::memcmp(a.get(), all.get(), sizeof(LatencyHistogram)), 0);

  // Merging an empty histogram changes nothing; merging into an empty one copies.
  auto empty = NewHist();
  a->Merge(*empty);
  EXPECT_EQ(std::memcmp(a.get(), all.get(), sizeof(LatencyHistogram)), 0);
  empty->Merge(*all);
  EXPECT_EQ(std::memcmp(empty.get(), all.get(), sizeof(LatencyHistogram)), 0);
}

TEST(LatencyHistogramTest, ClearReturnsToZeroImage) {
  auto h = NewHist();
  h->Record(5);
  h->Record(5'000'000);
  h->Clear();
  std::vector<unsigned char> zeros(sizeof(LatencyHistogram), 0);
  EXPECT_EQ(std::memcmp(h.get(), zeros.data(), zeros.size()), 0);
  EXPECT_EQ(h->Count(), 0u);
  h->Record(77);
  EXPECT_EQ(h->Min(), 77u);
}

TEST(LatencyHistogramTest, ZeroFilledSharedMemoryIsValidAcrossProcesses) {
  // A zero-filled shared anonymous mapping, written by a forked child with RecordAtomic().
  void* mem = mmap(nullptr, sizeof(LatencyHistogram), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* h = static_cast<LatencyHistogram*>(mem);  // no constructor runs: zero bytes only
  EXPECT_EQ(h->Count(), 0u);
  EXPECT_EQ(h->Min(), 0u);
  EXPECT_EQ(h->Percentile(99), 0u);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (uint64_t v = 1000; v < 2000; ++v) h->RecordAtomic(v);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(h->Count(), 1000u);
  EXPECT_EQ(h->Min(), 1000u);  // not 0: the zero image means "no minimum yet"
  EXPECT_EQ(h->Max(), 1999u);
  ExpectWithinPrecision(h->Percentile(50), 1499);
  munmap(mem, sizeof(LatencyHistogram));
}

TEST(LatencyHistogramTest, AtomicRecordingFromTwoThreadsSums) {
  auto h = NewHist();
  constexpr int kPerThread = 500'000;
  auto work = [&h](uint64_t base) {
    for (int i = 0; i < kPerThread; ++i) h->RecordAtomic(base + static_cast<uint64_t>(i % 1000));
  };
  std::thread t1(work, 100);
  std::thread t2(work, 100'000);
  t1.join();
  t2.join();
  EXPECT_EQ(h->Count(), 2u * kPerThread);
  uint64_t bucket_total = 0;
  for (size_t i = 0; i < LatencyHistogram::kNumBuckets; ++i) bucket_total += h->BucketCount(i);
  EXPECT_EQ(bucket_total, 2u * kPerThread);
  EXPECT_EQ(h->Min(), 100u);
  EXPECT_EQ(h->Max(), 100'999u);
  // Each thread's sum: kPerThread * base + (kPerThread / 1000) * (0 + ... + 999).
  const uint64_t per_cycle = 999 * 1000 / 2;
  const uint64_t expect_sum = uint64_t{kPerThread} * (100 + 100'000) + 2 * (kPerThread / 1000) *
                                                                           per_cycle;
  EXPECT_EQ(h->Sum(), expect_sum);
  // Half the samples are below 1100, half above 100000.
  EXPECT_LT(h->Percentile(49), 1100u);
  EXPECT_GE(h->Percentile(51), 98'000u);
}

}  // namespace
}  // namespace ix

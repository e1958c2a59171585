// Tests for ix-load's precomputed send schedules: Poisson mean rate and gap distribution,
// fixed-rate spacing, bounds (span, max_requests) and invalid options.
#include "bench/load/schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ix::load {
namespace {

TEST(ScheduleTest, PoissonMeanRateAndExponentialGaps) {
  ScheduleOptions o;
  o.rate_per_s = 50'000;
  o.arrival = Arrival::kPoisson;
  o.span_ns = 4'000'000'000;  // expect 200000 arrivals
  o.seed = 42;
  absl::StatusOr<std::vector<uint64_t>> s = BuildSchedule(o);
  ASSERT_TRUE(s.ok()) << s.status();
  const double n = static_cast<double>(s->size());
  // Poisson count: sd = sqrt(200000) ~ 447; allow 5 sd.
  EXPECT_NEAR(n, 200'000, 5 * std::sqrt(200'000.0));
  ASSERT_TRUE(std::is_sorted(s->begin(), s->end()));
  EXPECT_LT(s->back(), o.span_ns);
  // Exponential gaps: mean 20 us, coefficient of variation 1, P(gap > mean) = 1/e.
  double sum = 0, sum2 = 0;
  size_t above = 0;
  for (size_t i = 1; i < s->size(); ++i) {
    const double g = static_cast<double>((*s)[i] - (*s)[i - 1]);
    sum += g;
    sum2 += g * g;
    above += g > 20'000 ? 1 : 0;
  }
  const double m = sum / (n - 1);
  const double sd = std::sqrt(sum2 / (n - 1) - m * m);
  EXPECT_NEAR(m, 20'000, 200);
  EXPECT_NEAR(sd / m, 1.0, 0.02);
  EXPECT_NEAR(static_cast<double>(above) / (n - 1), std::exp(-1.0), 0.01);
}

TEST(ScheduleTest, PoissonIsRepeatablePerSeed) {
  ScheduleOptions o{.rate_per_s = 1000, .span_ns = 1'000'000'000, .seed = 5};
  auto a = BuildSchedule(o), b = BuildSchedule(o);
  o.seed = 6;
  auto c = BuildSchedule(o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(ScheduleTest, FixedRateIsEvenlySpaced) {
  ScheduleOptions o;
  o.rate_per_s = 3000;
  o.arrival = Arrival::kFixed;
  o.span_ns = 1'000'000'000;
  o.phase_ns = 100;
  absl::StatusOr<std::vector<uint64_t>> s = BuildSchedule(o);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3000u);
  EXPECT_EQ((*s)[0], 100u);
  for (size_t i = 1; i < s->size(); ++i) {
    const double gap = static_cast<double>((*s)[i] - (*s)[i - 1]);
    ASSERT_NEAR(gap, 1e9 / 3000, 1.0) << i;
  }
}

TEST(ScheduleTest, MaxRequestsCapsTheSchedule) {
  ScheduleOptions o{.rate_per_s = 100'000, .arrival = Arrival::kFixed,
                    .span_ns = 1'000'000'000, .max_requests = 123};
  auto s = BuildSchedule(o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 123u);
  o.arrival = Arrival::kPoisson;
  s = BuildSchedule(o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 123u);
}

TEST(ScheduleTest, RejectsBadOptions) {
  EXPECT_FALSE(BuildSchedule({.rate_per_s = 0, .span_ns = 1000}).ok());
  EXPECT_FALSE(BuildSchedule({.rate_per_s = -5, .span_ns = 1000}).ok());
  EXPECT_FALSE(BuildSchedule({.rate_per_s = NAN, .span_ns = 1000}).ok());
  // 1e8/s for 10 s = 1e9 requests: too big to hold.
  EXPECT_FALSE(BuildSchedule({.rate_per_s = 1e8, .span_ns = 10'000'000'000}).ok());
  // ...unless capped.
  EXPECT_TRUE(
      BuildSchedule({.rate_per_s = 1e8, .span_ns = 10'000'000'000, .max_requests = 10}).ok());
  EXPECT_TRUE(BuildSchedule({.rate_per_s = 10, .span_ns = 0}).ok());
  EXPECT_TRUE(BuildSchedule({.rate_per_s = 10, .span_ns = 0})->empty());
}

TEST(ScheduleTest, ParseArrival) {
  EXPECT_EQ(*ParseArrival("poisson"), Arrival::kPoisson);
  EXPECT_EQ(*ParseArrival("fixed"), Arrival::kFixed);
  EXPECT_FALSE(ParseArrival("bursty").ok());
}

}  // namespace
}  // namespace ix::load

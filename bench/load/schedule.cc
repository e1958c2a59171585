// Open-loop send schedule construction (see schedule.h).
#include "bench/load/schedule.h"

#include <cmath>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ix::load {

absl::StatusOr<Arrival> ParseArrival(absl::string_view s) {
  if (s == "poisson") return Arrival::kPoisson;
  if (s == "fixed") return Arrival::kFixed;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown arrival process '", s, "' (want poisson or fixed)"));
}

std::string ArrivalName(Arrival a) { return a == Arrival::kPoisson ? "poisson" : "fixed"; }

absl::StatusOr<std::vector<uint64_t>> BuildSchedule(const ScheduleOptions& o) {
  if (!(o.rate_per_s > 0) || !std::isfinite(o.rate_per_s)) {
    return absl::InvalidArgumentError(absl::StrCat("rate must be > 0, got ", o.rate_per_s));
  }
  const double expected = o.rate_per_s * static_cast<double>(o.span_ns) / 1e9;
  uint64_t cap = o.max_requests == 0 ? kMaxScheduledRequests : o.max_requests;
  // Poisson counts fluctuate: allow a margin of 10 standard deviations above the mean.
  if (o.max_requests == 0 && expected + 10 * std::sqrt(expected) > kMaxScheduledRequests) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schedule of ~", static_cast<uint64_t>(expected), " requests exceeds the limit of ",
        kMaxScheduledRequests, "; lower --rate or --duration, or set --max_requests"));
  }
  if (cap > kMaxScheduledRequests) cap = kMaxScheduledRequests;

  std::vector<uint64_t> out;
  out.reserve(static_cast<size_t>(std::min<double>(expected * 1.01 + 16, static_cast<double>(cap))));
  const double gap_ns = 1e9 / o.rate_per_s;
  if (o.arrival == Arrival::kFixed) {
    for (uint64_t k = 0; out.size() < cap; ++k) {
      const double t = static_cast<double>(o.phase_ns) + static_cast<double>(k) * gap_ns;
      if (t >= static_cast<double>(o.span_ns)) break;
      out.push_back(static_cast<uint64_t>(t));
    }
  } else {
    std::mt19937_64 rng(o.seed);
    std::exponential_distribution<double> gap(1.0 / gap_ns);
    double t = 0;
    while (out.size() < cap) {
      t += gap(rng);
      if (t >= static_cast<double>(o.span_ns)) break;
      out.push_back(static_cast<uint64_t>(t));
    }
  }
  return out;
}

}  // namespace ix::load

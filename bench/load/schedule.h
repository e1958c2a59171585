// Precomputed open-loop send schedules for ix-load: the times at which requests are due,
// fixed before the run starts so that a slow server can never slow the generator down.
//
// Usage:
//   ScheduleOptions o{.rate_per_s = 10000, .arrival = Arrival::kPoisson,
//                     .span_ns = 5'000'000'000, .max_requests = 0, .seed = 1};
//   absl::StatusOr<std::vector<uint64_t>> s = BuildSchedule(o);  // ns offsets from t0
#ifndef IX_BENCH_LOAD_SCHEDULE_H_
#define IX_BENCH_LOAD_SCHEDULE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ix::load {

enum class Arrival { kPoisson, kFixed };

// Parses "poisson" or "fixed".
absl::StatusOr<Arrival> ParseArrival(absl::string_view s);
std::string ArrivalName(Arrival a);

// Largest schedule BuildSchedule() agrees to hold in memory (8 bytes per request).
inline constexpr uint64_t kMaxScheduledRequests = 50'000'000;

struct ScheduleOptions {
  double rate_per_s = 1000;  // mean arrival rate of this schedule, > 0
  Arrival arrival = Arrival::kPoisson;
  uint64_t span_ns = 0;        // arrivals are in [0, span_ns)
  uint64_t max_requests = 0;   // 0 = no limit beyond span_ns
  uint64_t phase_ns = 0;       // kFixed only: first arrival time (use to interleave streams)
  uint64_t seed = 1;           // kPoisson only
};

// Returns ascending arrival offsets (ns from the run's t0). Poisson: exponential inter-arrival
// times with mean 1/rate, first arrival after one such gap. Fixed: phase_ns + k/rate. Fails when
// the options are invalid or the schedule would exceed kMaxScheduledRequests.
absl::StatusOr<std::vector<uint64_t>> BuildSchedule(const ScheduleOptions& options);

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_SCHEDULE_H_

// Monotonic clock helper for ix-load: every time in the generator is ns on CLOCK_MONOTONIC.
#ifndef IX_BENCH_LOAD_CLOCK_H_
#define IX_BENCH_LOAD_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace ix::load {

inline uint64_t MonoNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_CLOCK_H_

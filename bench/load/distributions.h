// Random distributions used by ix-load workloads: request/value sizes and key popularity.
//
// Size specs:  "64" or "fixed:64", "uniform:MIN:MAX" (inclusive), "exp:MEAN" (exponential,
//              at least 1), "normal:MEAN:SD" (rounded, clamped to at least 1). Every sample is
//              at most kMaxSize.
// Key specs:   "uniform" or "zipf:S" (rank r in 1..N drawn with probability ~ 1/r^S, S > 0;
//              key index = r - 1, so key 0 is the hottest).
#ifndef IX_BENCH_LOAD_DISTRIBUTIONS_H_
#define IX_BENCH_LOAD_DISTRIBUTIONS_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ix::load {

using Rng = std::mt19937_64;

class SizeDist {
 public:
  static constexpr uint32_t kMaxSize = 1 << 20;  // memcached's default item size limit

  static absl::StatusOr<SizeDist> Parse(absl::string_view spec);

  uint32_t Sample(Rng& rng) const;
  uint32_t Min() const;  // smallest value Sample() can return
  uint32_t Max() const;  // largest value Sample() can return
  const std::string& spec() const { return spec_; }

 private:
  enum class Kind { kFixed, kUniform, kExp, kNormal };
  Kind kind_ = Kind::kFixed;
  double a_ = 0, b_ = 0;
  std::string spec_;
};

class KeyDist {
 public:
  // Largest key count for zipf (its CDF is held in memory, 8 bytes per key).
  static constexpr uint64_t kMaxZipfKeys = 50'000'000;

  static absl::StatusOr<KeyDist> Parse(absl::string_view spec, uint64_t num_keys);

  // Returns a key index in [0, num_keys).
  uint64_t Sample(Rng& rng) const;
  uint64_t num_keys() const { return num_keys_; }
  const std::string& spec() const { return spec_; }

 private:
  uint64_t num_keys_ = 1;
  std::shared_ptr<const std::vector<double>> cdf_;  // null for uniform; shared by copies
  std::string spec_;
};

}  // namespace ix::load

#endif  // IX_BENCH_LOAD_DISTRIBUTIONS_H_

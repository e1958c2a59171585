// Size and key-popularity distributions for ix-load (see distributions.h).
#include "bench/load/distributions.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ix::load {
namespace {

bool ParseNonNeg(absl::string_view s, double* out) {
  return absl::SimpleAtod(s, out) && std::isfinite(*out) && *out >= 0;
}

absl::Status BadSize(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad size distribution '", spec, "': ", why,
      " (want N, fixed:N, uniform:MIN:MAX, exp:MEAN or normal:MEAN:SD, sizes 1..",
      SizeDist::kMaxSize, ")"));
}

}  // namespace

absl::StatusOr<SizeDist> SizeDist::Parse(absl::string_view spec) {
  std::vector<absl::string_view> parts = absl::StrSplit(spec, ':');
  SizeDist d;
  d.spec_ = std::string(spec);
  const double max = kMaxSize;
  if (parts.size() == 1 || (parts.size() == 2 && parts[0] == "fixed")) {
    d.kind_ = Kind::kFixed;
    if (!ParseNonNeg(parts.back(), &d.a_) || d.a_ < 1 || d.a_ > max || d.a_ != std::floor(d.a_)) {
      return BadSize(spec, "size must be an integer in range");
    }
  } else if (parts.size() == 3 && parts[0] == "uniform") {
    d.kind_ = Kind::kUniform;
    if (!ParseNonNeg(parts[1], &d.a_) || !ParseNonNeg(parts[2], &d.b_) || d.a_ < 1 ||
        d.b_ > max || d.a_ > d.b_ || d.a_ != std::floor(d.a_) || d.b_ != std::floor(d.b_)) {
      return BadSize(spec, "need integers 1 <= MIN <= MAX");
    }
  } else if (parts.size() == 2 && parts[0] == "exp") {
    d.kind_ = Kind::kExp;
    if (!ParseNonNeg(parts[1], &d.a_) || d.a_ < 1 || d.a_ > max) {
      return BadSize(spec, "mean out of range");
    }
  } else if (parts.size() == 3 && parts[0] == "normal") {
    d.kind_ = Kind::kNormal;
    if (!ParseNonNeg(parts[1], &d.a_) || !ParseNonNeg(parts[2], &d.b_) || d.a_ < 1 ||
        d.a_ > max) {
      return BadSize(spec, "mean out of range or bad SD");
    }
  } else {
    return BadSize(spec, "unknown form");
  }
  return d;
}

uint32_t SizeDist::Sample(Rng& rng) const {
  double v = a_;
  switch (kind_) {
    case Kind::kFixed:
      break;
    case Kind::kUniform:
      return static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(
          static_cast<uint64_t>(a_), static_cast<uint64_t>(b_))(rng));
    case Kind::kExp:
      v = std::exponential_distribution<double>(1.0 / a_)(rng);
      break;
    case Kind::kNormal:
      v = std::normal_distribution<double>(a_, b_)(rng);
      break;
  }
  v = std::round(v);
  return static_cast<uint32_t>(std::clamp(v, 1.0, static_cast<double>(kMaxSize)));
}

uint32_t SizeDist::Min() const {
  return kind_ == Kind::kFixed || kind_ == Kind::kUniform ? static_cast<uint32_t>(a_) : 1;
}

uint32_t SizeDist::Max() const {
  if (kind_ == Kind::kFixed) return static_cast<uint32_t>(a_);
  if (kind_ == Kind::kUniform) return static_cast<uint32_t>(b_);
  return kMaxSize;
}

absl::StatusOr<KeyDist> KeyDist::Parse(absl::string_view spec, uint64_t num_keys) {
  if (num_keys == 0) return absl::InvalidArgumentError("key count must be > 0");
  KeyDist d;
  d.num_keys_ = num_keys;
  d.spec_ = std::string(spec);
  if (spec == "uniform") return d;
  if (absl::StartsWith(spec, "zipf:")) {
    double s = 0;
    if (!absl::SimpleAtod(spec.substr(5), &s) || !(s > 0) || s > 10) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad key distribution '", spec, "': zipf exponent must be in (0, 10]"));
    }
    if (num_keys > kMaxZipfKeys) {
      return absl::InvalidArgumentError(
          absl::StrCat("zipf supports at most ", kMaxZipfKeys, " keys, got ", num_keys));
    }
    auto cdf = std::make_shared<std::vector<double>>(num_keys);
    double total = 0;
    for (uint64_t r = 1; r <= num_keys; ++r) {
      total += std::pow(static_cast<double>(r), -s);
      (*cdf)[r - 1] = total;
    }
    for (double& c : *cdf) c /= total;
    cdf->back() = 1.0;
    d.cdf_ = std::move(cdf);
    return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad key distribution '", spec, "' (want uniform or zipf:S)"));
}

uint64_t KeyDist::Sample(Rng& rng) const {
  if (cdf_ == nullptr) return std::uniform_int_distribution<uint64_t>(0, num_keys_ - 1)(rng);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const auto it = std::lower_bound(cdf_->begin(), cdf_->end(), u);
  return std::min<uint64_t>(static_cast<uint64_t>(it - cdf_->begin()), num_keys_ - 1);
}

}  // namespace ix::load

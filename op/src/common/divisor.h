// Division by a number fixed for a whole call (a page size, a batch size) as
// a multiply-high, an add and a shift, with the multiplier computed once on
// the host (Granlund and Montgomery, "Division by invariant integers using
// multiplication", 1994, figure 4.1): on the GPU a 32-bit division by a
// runtime value is some twenty dependent instructions, this is three. The
// CPU kernels use it too, so both compute the same quotients by one code.
#pragma once

#include "common/length_math.h"

#include <bit>
#include <cstdint>

namespace nsa_metadata {

class Divisor {
 public:
  Divisor() = default;

  // For 1 <= divisor <= 2^31 (page sizes are checked to be at most INT32_MAX).
  static Divisor of(int64_t divisor) {
    Divisor result;
    result.divisor_ = static_cast<uint32_t>(divisor);
    // The least shift with 2^shift >= divisor.
    result.shift_ = static_cast<uint32_t>(std::bit_width(static_cast<uint64_t>(divisor - 1)));
    // floor(2^32 * (2^shift - d) / d) + 1: below 2^32, as 2^shift - d < d.
    const uint64_t excess = (uint64_t{1} << result.shift_) - static_cast<uint64_t>(divisor);
    result.multiplier_ =
        static_cast<uint32_t>((excess << 32) / static_cast<uint64_t>(divisor) + 1);
    return result;
  }

  NSA_HOST_DEVICE uint32_t divisor() const { return divisor_; }

  // floor(n / divisor) for every 32-bit n (the add is in 64 bits).
  NSA_HOST_DEVICE uint32_t divide(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t high = __umulhi(n, multiplier_);
#else
    const auto high = static_cast<uint32_t>((uint64_t{n} * multiplier_) >> 32);
#endif
    return static_cast<uint32_t>((uint64_t{high} + n) >> shift_);
  }

  // ceil(n / divisor) where n + divisor - 1 < 2^32 (any n <= 2^31 for a
  // page size).
  NSA_HOST_DEVICE uint32_t divide_rounding_up(uint32_t n) const {
    return divide(n + divisor_ - 1);
  }

  // Python's floor division, also for a negative value (a slot of
  // req_to_token that real_page_table divides by the page size): a negative
  // value's quotient is minus the rounded-up quotient of its magnitude.
  NSA_HOST_DEVICE int32_t floor(int32_t value) const {
    if (value >= 0) {
      return static_cast<int32_t>(divide(static_cast<uint32_t>(value)));
    }
    // |value| <= 2^31 and divisor <= 2^31 - 1 keep the sum below 2^32, and
    // the quotient of at most 2^31 negates into int32.
    const auto magnitude = static_cast<uint32_t>(-static_cast<int64_t>(value));
    return static_cast<int32_t>(-static_cast<int64_t>(divide_rounding_up(magnitude)));
  }

 private:
  uint32_t divisor_ = 1;
  uint32_t multiplier_ = 1;
  uint32_t shift_ = 0;
};

}  // namespace nsa_metadata

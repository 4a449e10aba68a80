// Divisor (common/divisor.h), which every kernel divides page sizes by,
// against plain division: every divisor class (1, powers of two, odd, the
// largest page size), numerators at both ends of 32 bits, and Python's floor
// division of negative values down to INT32_MIN.
#include "common/divisor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

using nsa_metadata::Divisor;

int64_t python_floor_division(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

std::vector<int64_t> divisors() {
  std::vector<int64_t> result{1, 2, 3, 7, 63, 64, 65, 100, 1000, 4096, 65535, 65536, 65537,
                              (int64_t{1} << 30) + 1, int64_t{1} << 30,
                              std::numeric_limits<int32_t>::max() - 1,
                              std::numeric_limits<int32_t>::max(), int64_t{1} << 31};
  std::mt19937_64 random(7);
  for (int n = 0; n < 200; ++n) {
    result.push_back(1 + static_cast<int64_t>(random() % (n % 2 == 0 ? 5000 : (int64_t{1} << 31))));
  }
  return result;
}

std::vector<uint32_t> numerators(int64_t divisor) {
  std::vector<uint32_t> result;
  for (uint32_t n = 0; n < 300; ++n) {
    result.push_back(n);
    result.push_back(std::numeric_limits<uint32_t>::max() - n);
  }
  for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{1000}, (int64_t{1} << 32) / divisor}) {
    for (int64_t delta = -2; delta <= 2; ++delta) {
      const int64_t n = k * divisor + delta;
      if (n >= 0 && n <= std::numeric_limits<uint32_t>::max()) {
        result.push_back(static_cast<uint32_t>(n));
      }
    }
  }
  std::mt19937_64 random(static_cast<uint64_t>(divisor));
  for (int n = 0; n < 2000; ++n) {
    result.push_back(static_cast<uint32_t>(random()));
  }
  return result;
}

TEST(Divisor, DividesEveryNumerator) {
  for (const int64_t divisor : divisors()) {
    const Divisor by = Divisor::of(divisor);
    ASSERT_EQ(by.divisor(), static_cast<uint32_t>(divisor));
    for (const uint32_t n : numerators(divisor)) {
      ASSERT_EQ(by.divide(n), n / divisor) << n << " / " << divisor;
      if (n + divisor - 1 <= std::numeric_limits<uint32_t>::max()) {
        ASSERT_EQ(by.divide_rounding_up(n), (n + divisor - 1) / divisor) << n << " / " << divisor;
      }
    }
  }
}

TEST(Divisor, FloorsLikePython) {
  for (const int64_t divisor : divisors()) {
    if (divisor > std::numeric_limits<int32_t>::max()) {
      continue;  // page sizes are at most INT32_MAX
    }
    const Divisor by = Divisor::of(divisor);
    for (const uint32_t bits : numerators(divisor)) {
      const auto value = static_cast<int32_t>(bits);  // both signs, INT32_MIN and INT32_MAX
      ASSERT_EQ(by.floor(value), python_floor_division(value, divisor))
          << value << " // " << divisor;
    }
  }
}

}  // namespace

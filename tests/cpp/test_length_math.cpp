// The closed forms of common/length_math.h against their definitions, summed
// term by term: the CPU and CUDA kernels both compute a request's sum of
// nsa_cache_seqlens in O(1) with them, so a wrong case here would be wrong on
// every device. Random requests, lengths near INT32_MAX and past it, pools
// from 1 to past 2^31, topk from 1 to past 2^31.
#include "common/length_math.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace {

using nsa_metadata::kInt32Max;

// min(x // K * K, topk) + x % K, as docs/step_metadata.md writes it.
int64_t pooled_by_definition(int64_t x, int64_t topk, int64_t pool) {
  const int64_t pooled = x / pool * pool;
  return (pooled < topk ? pooled : topk) + x % pool;
}

int64_t sum_by_definition(int64_t top, int64_t later_begin, int64_t later_end, int64_t topk,
                          int64_t pool) {
  int64_t sum = 0;
  for (int64_t later = later_begin; later < later_end; ++later) {
    sum += pooled_by_definition(nsa_metadata::row_kv_len(top, later), topk, pool);
  }
  return sum;
}

TEST(LengthMath, PooledLengthIsItsDefinition) {
  std::mt19937_64 random(1);
  for (int n = 0; n < 100000; ++n) {
    const auto x = static_cast<int32_t>(random() % (n % 3 == 0 ? kInt32Max + 1 : 5000));
    const int64_t topk = 1 + static_cast<int64_t>(random() % (n % 5 == 0 ? 5000000000 : 3000));
    const int64_t pool = 1 + static_cast<int64_t>(random() % (n % 7 == 0 ? 5000000000 : 70));
    ASSERT_EQ(nsa_metadata::pooled_topk_len(x, topk, pool), pooled_by_definition(x, topk, pool))
        << "x " << x << " topk " << topk << " pool " << pool;
  }
}

TEST(LengthMath, RequestSumsAreTheSumOfTheirRows) {
  std::mt19937_64 random(2);
  for (int n = 0; n < 50000; ++n) {
    // Tops below zero, small, and around INT32_MAX (where row lengths saturate).
    int64_t top = static_cast<int64_t>(random() % 3000) - 100;
    if (n % 4 == 0) {
      top = kInt32Max - 200 + static_cast<int64_t>(random() % 400);
    }
    const auto later_begin = static_cast<int64_t>(random() % 200);
    const int64_t later_end = later_begin + static_cast<int64_t>(random() % 300);
    const int64_t topk = 1 + static_cast<int64_t>(random() % (n % 5 == 0 ? 5000000000 : 600));
    const int64_t pool = n % 2 == 0
                             ? 1
                             : 1 + static_cast<int64_t>(random() % (n % 7 == 1 ? 5000000000 : 70));
    const int64_t want = sum_by_definition(top, later_begin, later_end, topk, pool);
    ASSERT_EQ(nsa_metadata::pooled_topk_len_sum(top, later_begin, later_end, topk, pool), want)
        << "top " << top << " rows [" << later_begin << ", " << later_end << ") topk " << topk
        << " pool " << pool;
    if (pool == 1) {
      ASSERT_EQ(nsa_metadata::topk_len_sum(top, later_begin, later_end, topk), want);
    }
  }
}

TEST(LengthMath, SumsOfHugeRequestsSaturate) {
  // 2^40 rows of INT32_MAX tokens each: far past INT64_MAX in total.
  EXPECT_EQ(nsa_metadata::pooled_topk_len_sum(int64_t{1} << 62, 0, int64_t{1} << 40,
                                              kInt32Max, 3),
            nsa_metadata::kInt64Max);
  EXPECT_EQ(nsa_metadata::topk_len_sum(int64_t{1} << 62, 0, int64_t{1} << 40, kInt32Max),
            nsa_metadata::kInt64Max);
}

}  // namespace

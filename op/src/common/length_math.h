// Saturating length arithmetic shared by every kernel, CPU and CUDA alike, so
// that both give bit-identical results on every input, including values only
// the device can see (negative lengths, lengths whose results do not fit in
// int32, sums that overflow int64).
//
// The model: a request's query rows are the last `rows` tokens of a KV cache
// of `top` tokens, so the row with `later` rows after it sees
// top - later tokens, clamped to [0, INT32_MAX]. Decode (rows 1, top seq_len),
// target-verify (rows N, top seq_len + N) and draft-extend (rows extend_len,
// top seq_len) are all this model.
#pragma once

#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define NSA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NSA_HOST_DEVICE inline
#endif

namespace nsa_metadata {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

NSA_HOST_DEVICE int64_t clamp_to(int64_t value, int64_t low, int64_t high) {
  return value < low ? low : (value > high ? high : value);
}

// Sums saturate at INT64_MAX instead of wrapping: a wrapped sum could land
// back inside a buffer and silently pass for a valid one. Both arguments are
// non-negative, which makes this associative, as a scan operator must be.
NSA_HOST_DEVICE int64_t saturating_add(int64_t a, int64_t b) {
  return a > kInt64Max - b ? kInt64Max : a + b;
}

// For non-negative a and b. Without a division: a 64-bit division is a
// long library call on the GPU.
NSA_HOST_DEVICE int64_t saturating_mul(int64_t a, int64_t b) {
#if defined(__CUDA_ARCH__)
  const auto ua = static_cast<uint64_t>(a);
  const auto ub = static_cast<uint64_t>(b);
  const uint64_t low = ua * ub;
  return (__umul64hi(ua, ub) != 0 || low > static_cast<uint64_t>(kInt64Max))
             ? kInt64Max
             : static_cast<int64_t>(low);
#else
  int64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? kInt64Max : product;
#endif
}

// a + b for any a and b >= 0, saturating at INT64_MAX.
NSA_HOST_DEVICE int64_t saturating_offset(int64_t a, int64_t b) {
  return a > 0 ? saturating_add(a, b) : a + b;
}

// A negative count of rows is bad data only the device sees: no rows, so it
// can never move later requests' rows backwards.
NSA_HOST_DEVICE int64_t rows_of(int64_t count) { return count > 0 ? count : 0; }

// KV length of the row with `later` rows after it in its request (later >= 0).
NSA_HOST_DEVICE int32_t row_kv_len(int64_t top, int64_t later) {
  if (top <= later) {
    return 0;  // Also covers a negative top; top - later cannot overflow here.
  }
  return static_cast<int32_t>(clamp_to(top - later, 0, kInt32Max));
}

// A per-request length written to an int32 buffer (cache_seqlens).
NSA_HOST_DEVICE int32_t clamped_len(int64_t length) {
  return static_cast<int32_t>(clamp_to(length, 0, kInt32Max));
}

// min(kv_len, nsa_index_topk): topk >= 1 is checked on the host, so the
// result stays within [0, INT32_MAX].
NSA_HOST_DEVICE int32_t topk_len(int32_t kv_len, int64_t nsa_index_topk) {
  return static_cast<int64_t>(kv_len) < nsa_index_topk ? kv_len
                                                        : static_cast<int32_t>(nsa_index_topk);
}

// The sum of topk_len(row_kv_len(top, later)) over later in
// [later_begin, later_end), in closed form so that a request of any length
// costs O(1): rows whose length reaches the cap contribute the cap, the ones
// below it an arithmetic series, the rest nothing. Saturates at INT64_MAX.
NSA_HOST_DEVICE int64_t topk_len_sum(int64_t top, int64_t later_begin, int64_t later_end,
                                     int64_t nsa_index_topk) {
  if (top <= 0 || later_begin >= later_end) {
    return 0;
  }
  const int64_t cap = nsa_index_topk < kInt32Max ? nsa_index_topk : kInt32Max;
  // Rows at the cap: top - later >= cap, i.e. later <= top - cap.
  const int64_t capped_end = clamp_to(top - cap + 1, later_begin, later_end);
  // Rows below the cap and above zero: later < top.
  const int64_t linear_end = clamp_to(top, capped_end, later_end);
  const int64_t linear_rows = linear_end - capped_end;
  int64_t linear_sum = 0;
  if (linear_rows > 0) {
    // Both ends are below the cap (< 2^31) and so is the count: the product
    // fits in 64 unsigned bits.
    const uint64_t highest = static_cast<uint64_t>(top - capped_end);
    const uint64_t lowest = static_cast<uint64_t>(top - (linear_end - 1));
    linear_sum = static_cast<int64_t>((highest + lowest) * static_cast<uint64_t>(linear_rows) / 2);
  }
  return saturating_add(saturating_mul(capped_end - later_begin, cap), linear_sum);
}

// value / divisor for a divisor >= 1.
NSA_HOST_DEVICE uint32_t divide(uint32_t value, uint32_t divisor) {
#if defined(__CUDA_ARCH__)
  // A power of two (a page size of 64 in practice) divides by a shift; a
  // division is some twenty dependent instructions on the GPU.
  if ((divisor & (divisor - 1)) == 0) {
    return value >> (__ffs(divisor) - 1);
  }
#endif
  return value / divisor;
}

// An indexer that selects whole pools of index_kpool tokens (K >= 1, checked
// on the host). Lengths stay below 2^31, so a pool of 2^31 or more behaves as
// one of 2^31 (no whole pool fits), which keeps the arithmetic in 32 bits.
NSA_HOST_DEVICE uint32_t pool_of(int64_t index_kpool) {
  constexpr int64_t kLargestPool = int64_t{1} << 31;
  return static_cast<uint32_t>(index_kpool < kLargestPool ? index_kpool : kLargestPool);
}

// nsa_cache_seqlens of a row of kv_len >= 0 tokens:
// min(floor(kv / K) * K, topk) + kv mod K (the partial last pool is kept);
// K = 1 is topk_len. At most kv_len.
NSA_HOST_DEVICE int32_t pooled_topk_len(int32_t kv_len, int64_t nsa_index_topk,
                                        int64_t index_kpool) {
  const uint32_t pool = pool_of(index_kpool);
  if (pool == 1) {
    return topk_len(kv_len, nsa_index_topk);
  }
  const auto kv = static_cast<uint32_t>(kv_len);
  const int64_t pooled = int64_t{divide(kv, pool)} * pool;
  const int64_t selected = pooled < nsa_index_topk ? pooled : nsa_index_topk;
  return static_cast<int32_t>(selected + (kv - pooled));
}

// The sum of pooled_topk_len(x) over x in [0, n), 0 <= n <= 2^31. Below the
// first pool boundary past the cap no pool is cut (the length itself);
// from there on, the cap plus the partial pool. Every term is at most the
// sum of x, below 2^61.
NSA_HOST_DEVICE int64_t pooled_topk_prefix(int64_t n, int64_t nsa_index_topk, uint32_t pool) {
  const int64_t cap = nsa_index_topk < kInt32Max ? nsa_index_topk : kInt32Max;
  const int64_t uncut_end = int64_t{divide(static_cast<uint32_t>(cap), pool)} * pool + pool;
  const int64_t uncut = n < uncut_end ? n : uncut_end;
  int64_t sum = uncut * (uncut - 1) / 2;
  if (n > uncut_end) {
    const auto cut = static_cast<uint32_t>(n - uncut_end);
    const uint32_t whole_pools = divide(cut, pool);
    const int64_t rest = cut - whole_pools * pool;
    sum += cap * cut + int64_t{whole_pools} * (int64_t{pool} * (pool - 1) / 2) +
           rest * (rest - 1) / 2;
  }
  return sum;
}

// The sum of pooled_topk_len(row_kv_len(top, later)) over later in
// [later_begin, later_end), in closed form as topk_len_sum (which K = 1 is).
// Saturates at INT64_MAX.
NSA_HOST_DEVICE int64_t pooled_topk_len_sum(int64_t top, int64_t later_begin, int64_t later_end,
                                            int64_t nsa_index_topk, int64_t index_kpool) {
  const uint32_t pool = pool_of(index_kpool);
  if (pool == 1) {
    return topk_len_sum(top, later_begin, later_end, nsa_index_topk);
  }
  if (top <= 0 || later_begin >= later_end) {
    return 0;
  }
  // Rows whose length saturates at INT32_MAX: top - later >= INT32_MAX.
  const int64_t saturated_end = clamp_to(top - kInt32Max + 1, later_begin, later_end);
  // Rows of length in (0, INT32_MAX): later < top; their lengths run from
  // top - (linear_end - 1) up to top - saturated_end.
  const int64_t linear_end = clamp_to(top, saturated_end, later_end);
  int64_t linear_sum = 0;
  if (linear_end > saturated_end) {
    linear_sum = pooled_topk_prefix(top - saturated_end + 1, nsa_index_topk, pool) -
                 pooled_topk_prefix(top - linear_end + 1, nsa_index_topk, pool);
  }
  const int32_t saturated_len =
      pooled_topk_len(static_cast<int32_t>(kInt32Max), nsa_index_topk, index_kpool);
  return saturating_add(saturating_mul(saturated_end - later_begin, saturated_len), linear_sum);
}

// An int32 output cannot hold a sum past INT32_MAX, so it saturates there.
template <typename count_t>
NSA_HOST_DEVICE count_t narrow_count(int64_t value) {
  constexpr int64_t count_max = std::numeric_limits<count_t>::max();
  return value > count_max ? static_cast<count_t>(count_max) : static_cast<count_t>(value);
}

}  // namespace nsa_metadata

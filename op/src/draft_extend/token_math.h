// The per-token arithmetic of draft-extend metadata, shared by the CPU and
// CUDA kernels so that both give bit-identical results on every input,
// including values that only the device can see (negative lengths, lengths
// whose results do not fit in int32, totals that overflow int64).
#pragma once

#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define NSA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NSA_HOST_DEVICE inline
#endif

namespace nsa_metadata::draft_extend {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// A negative extend length is bad data that only the device can see; it is
// defined to contribute no tokens, so it can never move later requests' rows
// backwards or make the kernel write before a buffer's start.
NSA_HOST_DEVICE int64_t tokens_of(int64_t extend_seq_len) {
  return extend_seq_len > 0 ? extend_seq_len : 0;
}

// Token totals saturate at INT64_MAX instead of wrapping: a wrapped total
// could land back inside a buffer and silently pass for a valid one.
// Both arguments are non-negative, which makes this associative, as a scan
// operator must be.
NSA_HOST_DEVICE int64_t saturating_add(int64_t a, int64_t b) {
  return a > kInt64Max - b ? kInt64Max : a + b;
}

// seqlens_expanded for token j (0 <= j < extend_seq_len) of a request:
// max(0, seq_len - extend_seq_len + 1 + j), written without any intermediate
// that can overflow and saturated to INT32_MAX, the largest value an int32
// buffer can hold.
NSA_HOST_DEVICE int32_t expanded_seqlen(int64_t seq_len, int64_t extend_seq_len,
                                        int64_t j) {
  // Tokens after j in the same request; 0 <= later_tokens < extend_seq_len.
  const int64_t later_tokens = extend_seq_len - 1 - j;
  if (seq_len <= later_tokens) {
    return 0;  // Padded rows: seq_len smaller than the extend length.
  }
  const int64_t expanded = seq_len - later_tokens;  // > 0, cannot overflow.
  return expanded > kInt32Max ? static_cast<int32_t>(kInt32Max)
                              : static_cast<int32_t>(expanded);
}

// nsa_cache_seqlens = min(seqlens_expanded, nsa_index_topk); topk >= 1 is
// checked on the host, so the result stays within [0, INT32_MAX].
NSA_HOST_DEVICE int32_t nsa_cache_seqlen(int32_t expanded, int64_t nsa_index_topk) {
  return static_cast<int64_t>(expanded) < nsa_index_topk
             ? expanded
             : static_cast<int32_t>(nsa_index_topk);
}

// num_tokens receives the true total. An int32 num_tokens cannot hold a total
// past INT32_MAX, so it saturates there: still larger than any capacity the
// caller's buffers have, which is all the caller needs to see that the rows
// did not fit.
template <typename count_t>
NSA_HOST_DEVICE count_t narrow_total(int64_t total) {
  constexpr int64_t count_max = std::numeric_limits<count_t>::max();
  return total > count_max ? static_cast<count_t>(count_max) : static_cast<count_t>(total);
}

}  // namespace nsa_metadata::draft_extend

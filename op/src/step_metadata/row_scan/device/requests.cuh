// Loading the batch's requests, and the general path's 64-bit, saturating
// sums of the tokens around a block's chunk.
#pragma once

#include "step_metadata/row_scan/device/launch_params.cuh"
#include "step_metadata/row_scan/token_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

struct SaturatingSum {
  __device__ __forceinline__ int64_t operator()(int64_t a, int64_t b) const {
    return saturating_add(a, b);
  }
};

// The batch's tokens as one thread of a single-pass block contributes them.
struct BatchTokens {
  int64_t before;  // of requests before the block's chunk
  int64_t own;     // of the thread's own request, chunk_begin + threadIdx.x
  int64_t after;   // of requests after the chunk
};

struct AddBatchTokens {
  __device__ __forceinline__ BatchTokens operator()(const BatchTokens& a,
                                                    const BatchTokens& b) const {
    return {saturating_add(a.before, b.before), saturating_add(a.own, b.own),
            saturating_add(a.after, b.after)};
  }
};

// One request as the kernels use it.
struct Request {
  int64_t tokens;
  int64_t seq_len;
};

// One request as loaded, before any arithmetic on it; past the chunk's end,
// a request with no tokens. The two-pass kernel keeps the next tiles' loads
// in this form: any arithmetic on a loaded value, even a widening, makes the
// thread wait for the load right there, and when that sat next to the load
// the prefetch hid nothing (Nsight Compute at 1M requests: a third of all
// stall samples, on the instruction after the load).
template <typename extend_t, typename seq_t>
struct LoadedRequest {
  extend_t extend_seq_len;
  seq_t seq_len;
};

template <typename extend_t, typename seq_t>
__device__ __forceinline__ LoadedRequest<extend_t, seq_t> load_raw_request(
    const extend_t* __restrict__ extend_seq_lens, const seq_t* __restrict__ seq_lens,
    const Launch& launch, int64_t i, int64_t end) {
  if (i >= end) {
    return {0, 0};
  }
  return {extend_seq_lens[i * launch.extend_stride], seq_lens[i * launch.seq_stride]};
}

template <typename extend_t, typename seq_t>
__device__ __forceinline__ Request to_request(const LoadedRequest<extend_t, seq_t>& loaded) {
  return {tokens_of(loaded.extend_seq_len), static_cast<int64_t>(loaded.seq_len)};
}

template <typename extend_t, typename seq_t>
__device__ __forceinline__ Request load_request(const extend_t* __restrict__ extend_seq_lens,
                                                const seq_t* __restrict__ seq_lens,
                                                const Launch& launch, int64_t i, int64_t end) {
  return to_request(load_raw_request(extend_seq_lens, seq_lens, launch, i, end));
}

// Sums of the tokens of the requests before and after [chunk_begin,
// chunk_end), read striped over the block (the chunk itself is left out:
// each thread loads its own request separately), saturating in 64 bits.
template <typename extend_t>
__device__ __forceinline__ BatchTokens tokens_around_chunk(
    const extend_t* __restrict__ extend_seq_lens, const Launch& launch, int64_t chunk_begin,
    int64_t chunk_end) {
  BatchTokens sums{0, 0, 0};
  for (int64_t base = 0; base < launch.batch_size;
       base += int64_t{kThreads} * kLoadsInFlight) {
    int64_t tokens[kLoadsInFlight];
#pragma unroll
    for (int k = 0; k < kLoadsInFlight; ++k) {
      const int64_t i = base + k * kThreads + threadIdx.x;
      const bool outside_chunk = i < chunk_begin || i >= chunk_end;
      tokens[k] = (outside_chunk && i < launch.batch_size)
                      ? tokens_of(extend_seq_lens[i * launch.extend_stride])
                      : 0;
    }
#pragma unroll
    for (int k = 0; k < kLoadsInFlight; ++k) {
      const int64_t i = base + k * kThreads + threadIdx.x;
      if (i < chunk_begin) {
        sums.before = saturating_add(sums.before, tokens[k]);
      } else {
        sums.after = saturating_add(sums.after, tokens[k]);
      }
    }
  }
  return sums;
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

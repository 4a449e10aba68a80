// The direct path's view of the batch, for blocks whose requests are all
// short (draft steps): the whole batch's extend lengths counted in 32 bits
// with as few loads in flight as cover it, and one 32-bit block scan.
#pragma once

#include "step_metadata/row_scan/device/requests.cuh"

#include <cstdint>
#include <type_traits>

namespace nsa_metadata::step_metadata::row_scan::cuda {

// An extend length as the direct path counts it: clamped to
// kDirectMaxTokens + 1, enough to tell that it is too long for that path, and
// small enough that no 32-bit sum of them overflows.
__device__ __forceinline__ int32_t small_tokens(int32_t extend_seq_len) {
  return min(max(extend_seq_len, 0), kDirectMaxTokens + 1);
}

__device__ __forceinline__ int32_t small_tokens(int64_t tokens) {
  return static_cast<int32_t>(clamp_to(tokens, 0, int64_t{kDirectMaxTokens} + 1));
}

// The direct path's view of the rest of the batch, in 32 bits: the sums are
// exact whenever most_tokens <= kDirectMaxTokens, which is the only case in
// which they are used (each length is clamped first, so that they never
// overflow otherwise either).
struct SmallAround {
  int32_t before;
  int32_t after;
  int64_t most_tokens;  // the largest extend length read, the chunk's included
};

__device__ __forceinline__ void count_small(SmallAround& around, int64_t i, int64_t extend_seq_len,
                                            int64_t chunk_begin, int64_t chunk_end) {
  around.most_tokens = max_of(around.most_tokens, extend_seq_len);
  const int32_t tokens = small_tokens(extend_seq_len);
  if (i < chunk_begin) {
    around.before += tokens;
  } else if (i >= chunk_end) {
    around.after += tokens;
  }
}


// One pass of the whole batch's int32 lengths, kInFlight vectors per thread
// per round.
template <int kInFlight>
__device__ __forceinline__ void count_small_vectors(SmallAround& around, const int4* vectors,
                                                    int64_t full_vectors, int64_t chunk_begin,
                                                    int64_t chunk_end) {
  for (int64_t base = 0; base < full_vectors; base += int64_t{kThreads} * kInFlight) {
    int4 loaded[kInFlight];
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int64_t v = base + k * kThreads + threadIdx.x;
      loaded[k] = v < full_vectors ? __ldg(vectors + v) : make_int4(0, 0, 0, 0);
    }
    // In 32 bits: chunks start at multiples of kThreads (a multiple of 4),
    // so the four requests of a vector fall on one side together.
    int32_t most = 0;
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int4 lens = loaded[k];
      most = max(most, max(max(lens.x, lens.y), max(lens.z, lens.w)));
      const int32_t tokens = small_tokens(lens.x) + small_tokens(lens.y) +
                             small_tokens(lens.z) + small_tokens(lens.w);
      const int64_t i = 4 * (base + k * kThreads + threadIdx.x);
      if (i < chunk_begin) {
        around.before += tokens;
      } else if (i >= chunk_end) {
        around.after += tokens;
      }
    }
    around.most_tokens = max_of(around.most_tokens, most);
  }
}

// The same with one scalar length (any dtype, any stride) per load.
template <int kInFlight, typename extend_t>
__device__ __forceinline__ void count_small_scalars(SmallAround& around,
                                                    const extend_t* __restrict__ extend_seq_lens,
                                                    const Launch& launch, int64_t chunk_begin,
                                                    int64_t chunk_end) {
  for (int64_t base = 0; base < launch.batch_size; base += int64_t{kThreads} * kInFlight) {
    int64_t loaded[kInFlight];
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int64_t i = base + k * kThreads + threadIdx.x;
      loaded[k] = i < launch.batch_size ? static_cast<int64_t>(
                                              extend_seq_lens[i * launch.extend_stride])
                                        : 0;
    }
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      count_small(around, base + k * kThreads + threadIdx.x, loaded[k], chunk_begin, chunk_end);
    }
  }
}

// Calls count(std::integral_constant<int, n>) with the fewest loads in flight
// n (a power of two up to kMostInFlight) that covers `loads` loads of the
// block in one round. A round is unrolled over its loads, and a load
// predicated off still issues its instructions: with kMostInFlight at every
// size, the kernel at bs 128 executed 4879 warp instructions instead of 3407
// (Nsight Compute), for 0.04-0.1 us more GPU time at bs 8-2048
// (docs/benchmarks.md).
template <int kMostInFlight, int kInFlight = 1, typename Count>
__device__ __forceinline__ void with_fewest_in_flight(int64_t loads, const Count& count) {
  if constexpr (kInFlight < kMostInFlight) {
    if (loads > int64_t{kThreads} * kInFlight) {
      with_fewest_in_flight<kMostInFlight, 2 * kInFlight>(loads, count);
      return;
    }
  }
  count(std::integral_constant<int, kInFlight>{});
}

template <typename extend_t>
__device__ __forceinline__ SmallAround small_tokens_around_chunk(
    const extend_t* __restrict__ extend_seq_lens, const Launch& launch, int64_t chunk_begin,
    int64_t chunk_end) {
  SmallAround around{0, 0, 0};
  if constexpr (std::is_same_v<extend_t, int32_t>) {
    if (launch.extend_vector_loads) {
      const int4* vectors = reinterpret_cast<const int4*>(extend_seq_lens);
      const int64_t full_vectors = launch.batch_size / 4;
      with_fewest_in_flight<kVectorsInFlight>(full_vectors, [&](auto in_flight) {
        count_small_vectors<decltype(in_flight)::value>(around, vectors, full_vectors,
                                                        chunk_begin, chunk_end);
      });
      const int64_t i = 4 * full_vectors + threadIdx.x;  // the last batch_size % 4
      if (i < launch.batch_size) {
        count_small(around, i, extend_seq_lens[i], chunk_begin, chunk_end);
      }
      return around;
    }
  }
  with_fewest_in_flight<kLoadsInFlight>(launch.batch_size, [&](auto in_flight) {
    count_small_scalars<decltype(in_flight)::value>(around, extend_seq_lens, launch,
                                                    chunk_begin, chunk_end);
  });
  return around;
}

// The direct path's block scan, in 32 bits: warp sums with one REDUX each,
// the own-request prefix with five shuffles, then one exchange of per-warp
// sums through shared memory. Every length it sums is at most
// kDirectMaxTokens + 1 (small_tokens), so no sum can overflow; the sums are
// exact when most_tokens <= kDirectMaxTokens.
struct DirectScan {
  int32_t rows_before_request;  // own request's first row, from the tile's start
  int32_t before;               // rows before the tile
  int32_t tile_rows;
  int32_t total;
  int32_t most_tokens;  // the largest clamped own length of the block
};

// `longest` is what most_tokens is the maximum of: the own length, or for a
// thread scanning two packed lengths (expand_kernel), the larger of the two.
__device__ __forceinline__ DirectScan direct_scan(int32_t before, int32_t own, int32_t after,
                                                  int32_t longest, int4 (&warp_sums)[kWarps]) {
  const int lane = lane_id();
  const int warp = threadIdx.x / kWarpSize;
  const int32_t inclusive = inclusive_warp_scan(own, Plus{});
  const auto warp_before = static_cast<int32_t>(__reduce_add_sync(kFullWarp, before));
  const auto warp_after = static_cast<int32_t>(__reduce_add_sync(kFullWarp, after));
  const auto warp_most = static_cast<int32_t>(__reduce_max_sync(kFullWarp, longest));
  if (lane == kWarpSize - 1) {
    warp_sums[warp] = make_int4(warp_before, inclusive, warp_after, warp_most);
  }
  __syncthreads();
  DirectScan scan{inclusive - own, 0, 0, 0, 0};
  int32_t block_after = 0;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    const int4 sums = warp_sums[w];
    scan.before += sums.x;
    scan.tile_rows += sums.y;
    block_after += sums.z;
    scan.most_tokens = max(scan.most_tokens, sums.w);
    if (w < warp) {
      scan.rows_before_request += sums.y;
    }
  }
  scan.total = scan.before + scan.tile_rows + block_after;
  return scan;
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

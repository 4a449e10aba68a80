// Device code of fill_draft_extend_metadata (launched from cuda.cu).
//
// The grid splits the requests into contiguous chunks, one per block, and a
// block walks its chunk in tiles of kThreads requests, one request per
// thread. A tile needs the row where it starts and each request's first row
// (a block scan); the grid needs the batch total once (where the zeroed tail
// starts).
//   - Single pass (batches up to kSinglePassMaxRequests, every serving
//     batch): a chunk is one tile, and each block reads the whole batch's
//     extend lengths itself. One block scan of (tokens before the chunk, the
//     thread's own request's tokens, tokens after the chunk) gives the tile's
//     start, every first row and the total at once. Every load is issued
//     before that scan, so the kernel waits on memory once. Blocks share no
//     memory: one launch, no allocation.
//     At these sizes the kernel is bound by the latency of its longest chain
//     of dependent instructions, not by memory (Nsight Compute: ~10 cycles
//     per instruction, almost no memory stalls). So when every extend length
//     the block reads is at most kDirectMaxTokens (draft steps: 1..8), the
//     block takes a short path: the scan in 32 bits with warp intrinsics,
//     each thread computing its own request's rows in 32 bits, and no search.
//     Otherwise it takes the general path below.
//   - Two passes (larger batches): chunk_tokens_kernel writes each chunk's
//     token count to a small workspace and expand_kernel's blocks reduce those
//     instead of the whole batch, so no byte is read more than twice however
//     large the batch. expand_kernel is launched as chunk_tokens_kernel's
//     dependent (common/dependent_launch.cuh): it loads its first requests
//     before it waits for the workspace. It walks its chunk two tiles at a
//     time, a request of each per thread, with both lengths packed into one
//     32-bit scan, which also says whether all the pair's requests are short
//     (then it takes the same 32-bit row arithmetic); only a pair with a
//     longer request pays for the 64-bit scan, one tile at a time. Two pairs'
//     loads are in flight while a pair is written. At a million requests the
//     kernel is bound by instruction issue (Nsight Compute: ~2 instructions a
//     cycle per multiprocessor, DRAM 60%), so each of these cuts instructions
//     per request (docs/benchmarks.md).
// Rows leave a block in aligned groups of 4 per thread (common/row_groups.cuh),
// one 16-byte store each, coalesced: either staged in shared memory by their
// requests' threads (short requests), or found by binary search in shared
// memory and a walk forward (the general path), which stays balanced however
// uneven the lengths are. Small direct-path batches store each request's rows
// from its thread instead. The zeroed tail is spread over the whole grid,
// which has a block per 2 * kThreads rows of capacity (cuda.cu): a block
// drains stores slowly enough that the tail of a large buffer, left to a few
// blocks, used to cost more than the rows themselves.
#pragma once

#include "common/block_split_sums.cuh"
#include "common/dependent_launch.cuh"
#include "common/device_math.cuh"
#include "common/row_groups.cuh"
#include "draft_extend/token_math.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>
#include <type_traits>

namespace nsa_metadata::draft_extend::cuda {

using nsa_metadata::cuda::block_split_sums;
using nsa_metadata::cuda::group_end_of;
using nsa_metadata::cuda::group_of;
using nsa_metadata::cuda::kRowsPerGroup;
using nsa_metadata::cuda::RowBuffer;
using nsa_metadata::cuda::RowSpan;
using nsa_metadata::cuda::window_of;
using nsa_metadata::cuda::SplitSums;
using nsa_metadata::cuda::store_group;
using nsa_metadata::cuda::zero_rows_from;

// Threads per block, which is also the requests per tile. 128 rather than
// 256: at bs 1024-4096 twice the blocks share the staging and the stores,
// which took the worst GPU time at 1..8 tokens from 3.05 to 2.97 us, and at
// a million requests it is as fast.
constexpr int kThreads = 128;

// Blocks of expand_kernel kept resident on one multiprocessor (1024 threads),
// which holds ptxas to 64 registers a thread; the two-pass grid is sized to
// fill the GPU with them, so many tiles' loads and stores are in flight.
constexpr int kBlocksPerSM = 1024 / kThreads;

// Up to this many requests every block reads the whole batch (one launch);
// past it, two passes.
constexpr int64_t kSinglePassMaxRequests = 8192;

// Extend lengths each thread loads per round when a block reads the whole
// batch with scalar loads: up to kThreads * kLoadsInFlight requests cost one
// wait on memory.
constexpr int kLoadsInFlight = 16;

// The direct path's bound on every extend length: a thread writes its own
// request's rows one by one, and the block's sums fit in 32 bits.
constexpr int kDirectMaxTokens = 16;
static_assert(kSinglePassMaxRequests * kDirectMaxTokens < (int64_t{1} << 31),
              "the direct path's sums must fit in int32");

using nsa_metadata::cuda::kFullWarp;
using nsa_metadata::cuda::kWarpSize;
using nsa_metadata::cuda::last_at_most;
using nsa_metadata::cuda::max_of;
using nsa_metadata::cuda::min_of;
constexpr int kWarps = kThreads / kWarpSize;
static_assert(kThreads % kWarpSize == 0, "whole warps only");

struct Launch {
  int64_t batch_size;
  int64_t extend_stride;
  int64_t seq_stride;
  int64_t requests_per_block;
  int64_t nsa_index_topk;
  int64_t index_kpool;
  RowBuffer seqlens_expanded;
  RowBuffer nsa_cache_seqlens;
  // extend_seq_lens is int32, contiguous and 16-byte aligned: the direct
  // path reads it four requests per load.
  bool extend_vector_loads;
};

// Rows at or past both capacities are never written, which also bounds the
// work when a length is huge.
__device__ __forceinline__ int64_t row_limit_of(const Launch& launch) {
  return max_of(launch.seqlens_expanded.capacity, launch.nsa_cache_seqlens.capacity);
}

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

using BlockReduce = cub::BlockReduce<int64_t, kThreads>;
using TileScan = cub::BlockScan<int64_t, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;
using BatchScan = cub::BlockScan<BatchTokens, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;

struct SharedState {
  union {
    typename BlockReduce::TempStorage reduce;
    typename TileScan::TempStorage tile_scan;
    typename BatchScan::TempStorage batch_scan;
  } cub;
  // first_row[k] is the first row of the tile's request k; past the tile's
  // requests, and at [kThreads], the tile's end, which stops every walk.
  int64_t first_row[kThreads + 1];
  int64_t tokens[kThreads];
  int64_t seq_len[kThreads];
  SplitSums<int64_t> start;  // two passes: rows before this block's chunk, and the batch's
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

// Vectors of four int32 lengths each thread loads per round: a batch of up to
// 4096 requests (4 * kThreads * kVectorsInFlight) costs one wait on memory.
constexpr int kVectorsInFlight = 1024 / kThreads;

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
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  int32_t inclusive = own;
#pragma unroll
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const int32_t lower = __shfl_up_sync(kFullWarp, inclusive, offset);
    if (lane >= offset) {
      inclusive += lower;
    }
  }
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

// expanded_seqlen(seq_len, tokens, j) in 32 bits, for a request of at most
// kDirectMaxTokens tokens: small_kv_base once per request, small_kv_len per
// row. seq_len is first clamped to where seq_len - tokens + 1 cannot
// overflow and every row's result is unchanged (at or below 0: all rows 0;
// far past INT32_MAX: all rows INT32_MAX).
__device__ __forceinline__ int32_t small_kv_base(const Request& request) {
  const int64_t base =
      clamp_to(request.seq_len, -1, kInt32Max + kDirectMaxTokens) - request.tokens + 1;
  return static_cast<int32_t>(clamp_to(base, -kDirectMaxTokens, kInt32Max));
}

// clamp(base + j, 0, INT32_MAX) without overflowing.
__device__ __forceinline__ int32_t small_kv_len(int32_t base, int32_t j) {
  return max(min(base, static_cast<int32_t>(kInt32Max) - j) + j, 0);
}

// nsa_cache_seqlens of a row of `expanded` tokens, in 32 bits where the
// indexer keeps no pools (index_kpool 1: a min).
struct Selection {
  int32_t topk;
  int64_t index_kpool;

  __device__ __forceinline__ int32_t operator()(int32_t expanded) const {
    return index_kpool == 1 ? min(expanded, topk)
                            : nsa_cache_seqlen(expanded, topk, index_kpool);
  }
};

__device__ __forceinline__ Selection selection_of(const Launch& launch) {
  return {static_cast<int32_t>(min_of(launch.nsa_index_topk, kInt32Max)), launch.index_kpool};
}

// Calls store(j, seqlens_expanded, nsa_cache_seqlens) for each row j of a
// request of at most kDirectMaxTokens tokens, all in 32 bits.
template <typename Store>
__device__ __forceinline__ void for_each_short_row(const Request& request,
                                                   const Selection& selected,
                                                   const Store& store) {
  const auto tokens = static_cast<int32_t>(request.tokens);
  const int32_t base = small_kv_base(request);
  for (int32_t j = 0; j < tokens; ++j) {
    const int32_t expanded = small_kv_len(base, j);
    store(j, expanded, selected(expanded));
  }
}

// The direct path's stores for a small batch: the thread's own request, row
// by row (at most kDirectMaxTokens of them), each bounded by its buffer's
// capacity. Rows are below 2^31 here (the block's sums fit in int32), so the
// row arithmetic is 32-bit too.
__device__ __forceinline__ void write_request_rows(const Launch& launch, const Request& request,
                                                   int32_t first_row) {
  const auto expanded_capacity =
      static_cast<int32_t>(min_of(launch.seqlens_expanded.capacity, kInt32Max));
  const auto cache_capacity =
      static_cast<int32_t>(min_of(launch.nsa_cache_seqlens.capacity, kInt32Max));
  for_each_short_row(request, selection_of(launch), [&](int32_t j, int32_t expanded,
                                                       int32_t cached) {
    const int32_t row = first_row + j;
    if (row < expanded_capacity) {
      launch.seqlens_expanded.data[row] = expanded;
    }
    if (row < cache_capacity) {
      launch.nsa_cache_seqlens.data[row] = cached;
    }
  });
}

// Staging, for a tile whose requests all have at most kDirectMaxTokens
// tokens (every draft step; two-pass tiles, and single-pass blocks with many
// rows): each thread computes its request's rows in 32 bits into shared
// memory, then the block copies the tile out in aligned groups of 4 rows with
// 16-byte stores. No search, no walk: at scale the general path's 64-bit
// per-row work kept the ALU pipe busier than memory (Nsight Compute at 1M
// requests: ALU 61%, DRAM 36%). Staged row k of a tile starting at tile_row
// is the row staged_origin_of(tile_row) + k: tile_row rounded down to a
// group, so that groups line up with 16-byte shared-memory reads too.

// A staging buffer holds the rows of `requests` short requests (a tile of
// kThreads in the single-pass kernel, two tiles in expand_kernel).
constexpr int staged_rows_for(int requests) {
  return requests * kDirectMaxTokens + kRowsPerGroup;
}

// A direct-path block stores its rows straight from each request's thread
// (4 bytes at a time) only while both it and the batch have few rows; past
// that it stages them too. Measured on an H100 (docs/benchmarks.md): staging
// costs ~0.2 us at a few hundred rows, and saves 0.7-2 us once a block has
// more than ~1000 rows or several blocks write more than ~2000 between them.
constexpr int kDirectStoreMaxBlockRows = 1024;
constexpr int kDirectStoreMaxBatchRows = 2048;

// Only seqlens_expanded is staged: nsa_cache_seqlens is min(it, topk), taken
// as the tile is copied out, which halves the staging's shared-memory stores
// and loads.
template <int kRequests>
struct StagedRows {
  alignas(16) int32_t expanded[staged_rows_for(kRequests)];
};

__device__ __forceinline__ int64_t staged_origin_of(int64_t tile_row) {
  return tile_row - tile_row % kRowsPerGroup;
}

// Stages the rows of the thread's request, which starts rows_before_request
// rows into the tile that starts at tile_row.
template <int kRequests>
__device__ __forceinline__ void stage_request_rows(StagedRows<kRequests>& staged,
                                                   const Request& request,
                                                   int64_t tile_row, int32_t rows_before_request,
                                                   const Selection& selected) {
  const auto first =
      static_cast<int32_t>(tile_row - staged_origin_of(tile_row)) + rows_before_request;
  for_each_short_row(request, selected, [&](int32_t j, int32_t expanded, int32_t /*cached*/) {
    staged.expanded[first + j] = expanded;
  });
}

// Copies rows [tile_row, tile_end) (already bounded by the row limit) out of
// shared memory; staged values outside that range are never stored. A tile
// spans fewer rows than the staging buffer, so all the row arithmetic is
// 32-bit, from the staged origin.
template <int kRequests>
__device__ __forceinline__ void write_staged_tile(const Launch& launch,
                                                  const StagedRows<kRequests>& staged,
                                                  int64_t tile_row, int64_t tile_end) {
  if (tile_row >= tile_end) {
    return;
  }
  const int64_t origin = staged_origin_of(tile_row);
  const auto first = static_cast<int32_t>(tile_row - origin);
  const auto end = static_cast<int32_t>(tile_end - origin);
  const RowSpan<int32_t> expanded_rows = window_of(launch.seqlens_expanded, origin, end);
  const RowSpan<int32_t> cached_rows = window_of(launch.nsa_cache_seqlens, origin, end);
  const Selection selected = selection_of(launch);
  for (int32_t group_row = kRowsPerGroup * static_cast<int32_t>(threadIdx.x); group_row < end;
       group_row += kRowsPerGroup * kThreads) {
    const int32_t row_begin = max(group_row, first);
    const int32_t row_end = min(group_row + kRowsPerGroup, end);
    const int4 vector = *reinterpret_cast<const int4*>(staged.expanded + group_row);
    const int32_t expanded[kRowsPerGroup] = {vector.x, vector.y, vector.z, vector.w};
    const int32_t cached[kRowsPerGroup] = {selected(vector.x), selected(vector.y),
                                           selected(vector.z), selected(vector.w)};
    store_group(expanded_rows, group_row, row_begin, row_end, expanded);
    store_group(cached_rows, group_row, row_begin, row_end, cached);
  }
}

// Makes the thread's request, whose first row is `first_row`, visible to
// write_tile; `tile_end` is one past the tile's last row.
__device__ __forceinline__ void publish_request(SharedState& shared, const Request& request,
                                                int64_t first_row, int64_t tile_end) {
  shared.first_row[threadIdx.x] = first_row;
  shared.tokens[threadIdx.x] = request.tokens;
  shared.seq_len[threadIdx.x] = request.seq_len;
  if (threadIdx.x == 0) {
    shared.first_row[kThreads] = tile_end;
  }
}


// Writes rows [tile_row, tile_end) of the published tile, which holds
// `requests` requests; tile_end is already bounded by the row limit.
__device__ __forceinline__ void write_tile(const Launch& launch, const SharedState& shared,
                                           int requests, int64_t tile_row, int64_t tile_end) {
  if (tile_row >= tile_end) {
    return;
  }
  for (int64_t group = group_of(tile_row) + threadIdx.x; group < group_end_of(tile_end);
       group += kThreads) {
    const int64_t group_row = group * kRowsPerGroup;
    const int64_t row_begin = max_of(group_row, tile_row);
    const int64_t row_end = min_of(group_row + kRowsPerGroup, tile_end);
    int owner = last_at_most(shared.first_row, requests, row_begin);
    int64_t owner_first_row = shared.first_row[owner];
    int64_t next_first_row = shared.first_row[owner + 1];
    int32_t expanded[kRowsPerGroup];
    int32_t cached[kRowsPerGroup];
#pragma unroll
    for (int k = 0; k < kRowsPerGroup; ++k) {
      const int64_t row = group_row + k;
      expanded[k] = 0;
      if (row >= row_begin && row < row_end) {
        while (next_first_row <= row) {
          ++owner;
          owner_first_row = next_first_row;
          next_first_row = shared.first_row[owner + 1];
        }
        expanded[k] = expanded_seqlen(shared.seq_len[owner], shared.tokens[owner],
                                      row - owner_first_row);
      }
      cached[k] = nsa_cache_seqlen(expanded[k], launch.nsa_index_topk, launch.index_kpool);
    }
    store_group(launch.seqlens_expanded, group_row, row_begin, row_end, expanded);
    store_group(launch.nsa_cache_seqlens, group_row, row_begin, row_end, cached);
  }
}

// Zeroes [total, capacity) of both buffers, spread over the whole grid.
__device__ __forceinline__ void zero_tails(const Launch& launch, int64_t total) {
  zero_rows_from(launch.seqlens_expanded, total);
  zero_rows_from(launch.nsa_cache_seqlens, total);
}

template <typename count_t>
__device__ __forceinline__ void write_total(count_t* num_tokens, int64_t total) {
  if (num_tokens != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
    *num_tokens = narrow_total<count_t>(total);
  }
}

__device__ __forceinline__ int64_t chunk_begin_of(const Launch& launch, int64_t block) {
  return min_of(block * launch.requests_per_block, launch.batch_size);
}

__device__ __forceinline__ int64_t chunk_end_of(const Launch& launch, int64_t chunk_begin) {
  return min_of(chunk_begin + launch.requests_per_block, launch.batch_size);
}

// Launched with requests_per_block == kThreads: a chunk is one tile.
template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads)
    single_pass_kernel(const extend_t* __restrict__ extend_seq_lens,
                       const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                       const Launch launch) {
  __shared__ SharedState shared;
  __shared__ int4 warp_sums[kWarps];
  __shared__ StagedRows<kThreads> staged;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  const Request own =
      load_request(extend_seq_lens, seq_lens, launch, chunk_begin + threadIdx.x, chunk_end);
  const SmallAround small =
      small_tokens_around_chunk(extend_seq_lens, launch, chunk_begin, chunk_end);
  // Every block reads the whole batch, so all agree on the path.
  if (__syncthreads_and(small.most_tokens <= kDirectMaxTokens)) {
    const auto own_tokens = static_cast<int32_t>(own.tokens);
    const DirectScan scan = direct_scan(small.before, own_tokens, small.after, own_tokens,
                                        warp_sums);
    write_total(num_tokens, scan.total);
    if (scan.tile_rows <= kDirectStoreMaxBlockRows && scan.total <= kDirectStoreMaxBatchRows) {
      write_request_rows(launch, own, scan.before + scan.rows_before_request);
    } else {
      const int64_t tile_row = scan.before;
      stage_request_rows(staged, own, tile_row, scan.rows_before_request, selection_of(launch));
      __syncthreads();
      write_staged_tile(launch, staged, tile_row,
                        min_of(tile_row + scan.tile_rows, row_limit_of(launch)));
    }
    zero_tails(launch, scan.total);
    return;
  }

  // The general path reads the batch again, in 64 bits with saturation.
  BatchTokens tokens = tokens_around_chunk(extend_seq_lens, launch, chunk_begin, chunk_end);
  tokens.own = own.tokens;
  BatchTokens exclusive;
  BatchTokens batch;
  BatchScan(shared.cub.batch_scan)
      .ExclusiveScan(tokens, exclusive, BatchTokens{0, 0, 0}, AddBatchTokens(), batch);
  const int64_t tile_row = batch.before;
  const int64_t tile_end = saturating_add(batch.before, batch.own);
  const int64_t total = saturating_add(tile_end, batch.after);
  publish_request(shared, own, saturating_add(tile_row, exclusive.own), tile_end);
  write_total(num_tokens, total);
  __syncthreads();

  write_tile(launch, shared, static_cast<int>(chunk_end - chunk_begin), tile_row,
             min_of(tile_end, row_limit_of(launch)));
  zero_tails(launch, total);
}

template <typename extend_t>
__global__ void __launch_bounds__(kThreads)
    chunk_tokens_kernel(const extend_t* __restrict__ extend_seq_lens,
                        int64_t* __restrict__ chunk_tokens, const Launch launch) {
  __shared__ typename BlockReduce::TempStorage reduce;
  // expand_kernel is launched as this kernel's dependent: its blocks may load
  // their first requests while this grid's last blocks run.
  nsa_metadata::cuda::allow_dependent_launch();
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  int64_t tokens = 0;
#pragma unroll 8
  for (int64_t i = chunk_begin + threadIdx.x; i < chunk_end; i += kThreads) {
    tokens = saturating_add(tokens, tokens_of(extend_seq_lens[i * launch.extend_stride]));
  }
  const int64_t block_tokens = BlockReduce(reduce).Reduce(tokens, SaturatingSum());
  if (threadIdx.x == 0) {
    chunk_tokens[blockIdx.x] = block_tokens;
  }
}

struct ChunkTokens {
  const int64_t* chunk_tokens;
  __device__ __forceinline__ int64_t operator()(int64_t i) const { return chunk_tokens[i]; }
};

// expand_kernel takes its chunk two tiles at a time, a request of each per
// thread (the thread's "low" request is in the first tile, its "high" one in
// the second), so that a block pays the scan, its barriers and the setup of
// the stores once per 2 * kThreads requests: at a million requests the
// kernel was bound by instruction issue, not by memory.
struct RequestPair {
  Request low;
  Request high;
};

template <typename extend_t, typename seq_t>
struct LoadedPair {
  LoadedRequest<extend_t, seq_t> low;
  LoadedRequest<extend_t, seq_t> high;
};

template <typename extend_t, typename seq_t>
__device__ __forceinline__ LoadedPair<extend_t, seq_t> load_raw_pair(
    const extend_t* __restrict__ extend_seq_lens, const seq_t* __restrict__ seq_lens,
    const Launch& launch, int64_t pair_begin, int64_t end) {
  const int64_t i = pair_begin + threadIdx.x;
  return {load_raw_request(extend_seq_lens, seq_lens, launch, i, end),
          load_raw_request(extend_seq_lens, seq_lens, launch, i + kThreads, end)};
}

// Both clamped lengths of a pair in one int32 for one 32-bit scan: a tile's
// sums of them stay below 2^16, so the halves never carry into each other.
constexpr int kPairShift = 16;
static_assert(kThreads * (kDirectMaxTokens + 1) < (1 << kPairShift),
              "a tile's clamped lengths must sum below 2^16");

struct PairScan {
  int32_t low_first;   // the low request's first row, from the pair's start
  int32_t high_first;  // the high request's first row, from the pair's start
  int32_t rows;        // the pair of tiles' rows, exact when short
  bool short_requests;  // every request of both tiles has at most kDirectMaxTokens
};

__device__ __forceinline__ PairScan pair_scan(const RequestPair& pair,
                                              int4 (&warp_sums)[kWarps]) {
  constexpr int32_t kLowMask = (1 << kPairShift) - 1;
  const int32_t low = small_tokens(pair.low.tokens);
  const int32_t high = small_tokens(pair.high.tokens);
  const DirectScan scan = direct_scan(0, low | (high << kPairShift), 0, max(low, high), warp_sums);
  const int32_t low_rows = scan.tile_rows & kLowMask;
  return {scan.rows_before_request & kLowMask,
          low_rows + (scan.rows_before_request >> kPairShift),
          low_rows + (scan.tile_rows >> kPairShift), scan.most_tokens <= kDirectMaxTokens};
}

// The general path for one tile (of a pair that has a long request): the
// 64-bit saturating scan, then the tile published for write_tile. Returns
// the tile's end row.
__device__ __forceinline__ int64_t publish_long_tile(SharedState& shared, const Request& request,
                                                     int64_t tile_row) {
  int64_t rows_before_request;
  int64_t tile_rows;
  TileScan(shared.cub.tile_scan)
      .ExclusiveScan(request.tokens, rows_before_request, int64_t{0}, SaturatingSum(), tile_rows);
  const int64_t tile_end = saturating_add(tile_row, tile_rows);
  publish_request(shared, request, saturating_add(tile_row, rows_before_request), tile_end);
  return tile_end;
}

__device__ __forceinline__ int tile_requests(int64_t tile_begin, int64_t chunk_end) {
  return static_cast<int>(max_of(0, min_of(kThreads, chunk_end - tile_begin)));
}

template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads, kBlocksPerSM)
    expand_kernel(const extend_t* __restrict__ extend_seq_lens,
                  const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                  const int64_t* __restrict__ chunk_tokens, const Launch launch) {
  constexpr int kPairRequests = 2 * kThreads;
  __shared__ SharedState shared;
  __shared__ int4 warp_sums[kWarps];
  __shared__ StagedRows<kPairRequests> staged;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  // Two pairs' loads are in flight at any time: this pair's and the next.
  LoadedPair<extend_t, seq_t> loaded =
      load_raw_pair(extend_seq_lens, seq_lens, launch, chunk_begin, chunk_end);
  LoadedPair<extend_t, seq_t> next =
      load_raw_pair(extend_seq_lens, seq_lens, launch, chunk_begin + kPairRequests, chunk_end);
  // Launched as chunk_tokens_kernel's dependent (cuda.cu): the loads above
  // read only the inputs, which were final before that kernel started; from
  // here on the kernel reads chunk_tokens and writes the outputs.
  nsa_metadata::cuda::wait_for_prerequisite_grids();
  const SplitSums<int64_t> start = block_split_sums<kThreads>(
      ChunkTokens{chunk_tokens}, blockIdx.x, gridDim.x, SaturatingSum(), shared.cub.reduce,
      shared.start);
  write_total(num_tokens, start.total);

  const int64_t row_limit = row_limit_of(launch);
  int64_t pair_row = start.before;
  for (int64_t pair_begin = chunk_begin; pair_begin < chunk_end && pair_row < row_limit;
       pair_begin += kPairRequests) {
    // The 32-bit scan first: it also tells whether every request of the pair
    // is short, which is all the pairs of a draft step.
    const RequestPair pair = {to_request(loaded.low), to_request(loaded.high)};
    const PairScan scan = pair_scan(pair, warp_sums);
    int64_t pair_end;
    if (scan.short_requests) {
      pair_end = pair_row + scan.rows;
      const Selection selected = selection_of(launch);
      stage_request_rows(staged, pair.low, pair_row, scan.low_first, selected);
      stage_request_rows(staged, pair.high, pair_row, scan.high_first, selected);
    } else {
      pair_end = publish_long_tile(shared, pair.low, pair_row);
    }
    __syncthreads();
    // The pair after next is loaded before this one is written.
    loaded = next;
    next = load_raw_pair(extend_seq_lens, seq_lens, launch, pair_begin + 2 * kPairRequests,
                         chunk_end);
    if (scan.short_requests) {
      write_staged_tile(launch, staged, pair_row, min_of(pair_end, row_limit));
    } else {
      // One tile at a time; the high tile is published once every thread is
      // done with the low one.
      write_tile(launch, shared, tile_requests(pair_begin, chunk_end), pair_row,
                 min_of(pair_end, row_limit));
      __syncthreads();
      const int64_t high_row = pair_end;
      pair_end = publish_long_tile(shared, pair.high, high_row);
      __syncthreads();
      write_tile(launch, shared, tile_requests(pair_begin + kThreads, chunk_end), high_row,
                 min_of(pair_end, row_limit));
    }
    pair_row = pair_end;
    // No barrier here. The next pair's first shared write, its warp sums,
    // comes after the first barrier above, past which this pair's warp sums
    // are no longer read; its staged rows, published requests and scan
    // storage come after the barrier in its scan, which no thread passes
    // before every thread is done writing this pair.
  }
  zero_tails(launch, start.total);
}

}  // namespace nsa_metadata::draft_extend::cuda

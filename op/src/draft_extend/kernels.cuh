// Device code of fill_draft_extend_metadata (launched from cuda.cu).
//
// The grid splits the requests into contiguous chunks, one per block. A block
// needs two numbers before it writes: the rows before its chunk (where its
// rows start) and the batch total (where the zeroed tail starts).
//   - Single pass (batches up to kSinglePassMaxRequests): each block reduces
//     the extend lengths itself. Blocks share no memory, so there is one
//     launch and no allocation; the redundant reads are a few KB from L2.
//   - Two passes (larger batches): chunk_tokens_kernel writes each chunk's
//     token count to a small workspace, then expand_kernel's blocks reduce
//     those counts instead of the whole batch, so no byte is read more than
//     twice however large the batch.
// Either way a block then walks its chunk in tiles of kThreads requests: a
// block scan gives each request's first row, and the threads write the tile's
// rows together, each finding its request by binary search in shared memory,
// so stores are coalesced and balanced however uneven the lengths are.
#pragma once

#include "common/block_split_sums.cuh"
#include "draft_extend/token_math.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::draft_extend::cuda {

using nsa_metadata::cuda::block_split_sums;
using nsa_metadata::cuda::SplitSums;

// Threads per block, which is also the requests per tile. 256 measured
// faster than 512 at every serving size (docs/benchmarks.md); a build option
// so that variants can be timed side by side (benchmarks/compare_variants.sh).
#ifndef NSA_METADATA_DRAFT_EXTEND_THREADS
#define NSA_METADATA_DRAFT_EXTEND_THREADS 256
#endif
constexpr int kThreads = NSA_METADATA_DRAFT_EXTEND_THREADS;

struct Launch {
  int64_t batch_size;
  int64_t extend_stride;
  int64_t seq_stride;
  int64_t requests_per_block;
  int64_t nsa_index_topk;
  int32_t* seqlens_expanded;
  int64_t expanded_capacity;
  int32_t* nsa_cache_seqlens;
  int64_t cache_capacity;
};

__device__ __forceinline__ int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }

struct SaturatingSum {
  __device__ __forceinline__ int64_t operator()(int64_t a, int64_t b) const {
    return saturating_add(a, b);
  }
};

using BlockReduce = cub::BlockReduce<int64_t, kThreads>;
using BlockScan = cub::BlockScan<int64_t, kThreads>;

struct SharedState {
  union {
    typename BlockReduce::TempStorage reduce;
    typename BlockScan::TempStorage scan;
  } cub;
  int64_t tile_first_row[kThreads];
  int64_t tile_extend[kThreads];
  int64_t tile_seq[kThreads];
  SplitSums<int64_t> start;  // rows before this block's chunk, and the batch's
};

// Writes the rows of requests [chunk_begin, chunk_end), which start at
// `first_row`. Rows at or past both capacities are never written, which also
// bounds the work when a length is huge.
template <typename extend_t, typename seq_t>
__device__ void expand_chunk(const extend_t* __restrict__ extend_seq_lens,
                             const seq_t* __restrict__ seq_lens, const Launch& launch,
                             int64_t chunk_begin, int64_t chunk_end, int64_t first_row,
                             SharedState& shared) {
  const int64_t row_limit = max_of(launch.expanded_capacity, launch.cache_capacity);
  int64_t tile_row = first_row;
  for (int64_t tile_begin = chunk_begin; tile_begin < chunk_end && tile_row < row_limit;
       tile_begin += kThreads) {
    const int64_t i = tile_begin + threadIdx.x;
    const bool in_chunk = i < chunk_end;
    const int64_t tokens = in_chunk ? tokens_of(extend_seq_lens[i * launch.extend_stride]) : 0;
    int64_t rows_before_request;
    int64_t tile_rows;
    BlockScan(shared.cub.scan)
        .ExclusiveScan(tokens, rows_before_request, int64_t{0}, SaturatingSum(), tile_rows);
    shared.tile_first_row[threadIdx.x] = saturating_add(tile_row, rows_before_request);
    shared.tile_extend[threadIdx.x] = tokens;
    shared.tile_seq[threadIdx.x] = in_chunk ? static_cast<int64_t>(seq_lens[i * launch.seq_stride]) : 0;
    __syncthreads();

    const int64_t tile_end = min_of(saturating_add(tile_row, tile_rows), row_limit);
    for (int64_t row = tile_row + threadIdx.x; row < tile_end; row += kThreads) {
      // The last request whose first row is <= row owns it: requests with no
      // tokens share their first row with the next request and lose the tie.
      int lo = 0;
      int hi = kThreads - 1;
      while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (shared.tile_first_row[mid] <= row) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      const int64_t j = row - shared.tile_first_row[lo];
      const int32_t expanded = expanded_seqlen(shared.tile_seq[lo], shared.tile_extend[lo], j);
      if (row < launch.expanded_capacity) {
        launch.seqlens_expanded[row] = expanded;
      }
      if (row < launch.cache_capacity) {
        launch.nsa_cache_seqlens[row] = nsa_cache_seqlen(expanded, launch.nsa_index_topk);
      }
    }
    tile_row = saturating_add(tile_row, tile_rows);
    __syncthreads();  // The next tile overwrites the shared arrays.
  }
}

// Zeroes [total, capacity) of both buffers, spread over the whole grid.
__device__ __forceinline__ void zero_tails(const Launch& launch, int64_t total) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  // total < capacity is checked first: total + first could overflow otherwise.
  if (total < launch.expanded_capacity) {
    for (int64_t row = total + first; row < launch.expanded_capacity; row += stride) {
      launch.seqlens_expanded[row] = 0;
    }
  }
  if (total < launch.cache_capacity) {
    for (int64_t row = total + first; row < launch.cache_capacity; row += stride) {
      launch.nsa_cache_seqlens[row] = 0;
    }
  }
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

template <typename extend_t>
struct ExtendTokens {
  const extend_t* extend_seq_lens;
  int64_t stride;
  __device__ __forceinline__ int64_t operator()(int64_t i) const {
    return tokens_of(extend_seq_lens[i * stride]);
  }
};

struct ChunkTokens {
  const int64_t* chunk_tokens;
  __device__ __forceinline__ int64_t operator()(int64_t i) const { return chunk_tokens[i]; }
};

template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads)
    single_pass_kernel(const extend_t* __restrict__ extend_seq_lens,
                       const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                       const Launch launch) {
  __shared__ SharedState shared;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = min_of(chunk_begin + launch.requests_per_block, launch.batch_size);
  const SplitSums<int64_t> start = block_split_sums<kThreads>(
      ExtendTokens<extend_t>{extend_seq_lens, launch.extend_stride}, chunk_begin,
      launch.batch_size, SaturatingSum(), shared.cub.reduce, shared.start);
  write_total(num_tokens, start.total);
  expand_chunk(extend_seq_lens, seq_lens, launch, chunk_begin, chunk_end, start.before,
               shared);
  zero_tails(launch, start.total);
}

template <typename extend_t>
__global__ void __launch_bounds__(kThreads)
    chunk_tokens_kernel(const extend_t* __restrict__ extend_seq_lens,
                        int64_t* __restrict__ chunk_tokens, const Launch launch) {
  __shared__ SharedState shared;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = min_of(chunk_begin + launch.requests_per_block, launch.batch_size);
  int64_t tokens = 0;
  for (int64_t i = chunk_begin + threadIdx.x; i < chunk_end; i += kThreads) {
    tokens = saturating_add(tokens, tokens_of(extend_seq_lens[i * launch.extend_stride]));
  }
  const int64_t block_tokens = BlockReduce(shared.cub.reduce).Reduce(tokens, SaturatingSum());
  if (threadIdx.x == 0) {
    chunk_tokens[blockIdx.x] = block_tokens;
  }
}

template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads)
    expand_kernel(const extend_t* __restrict__ extend_seq_lens,
                  const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                  const int64_t* __restrict__ chunk_tokens, const Launch launch) {
  __shared__ SharedState shared;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = min_of(chunk_begin + launch.requests_per_block, launch.batch_size);
  const SplitSums<int64_t> start = block_split_sums<kThreads>(
      ChunkTokens{chunk_tokens}, blockIdx.x, gridDim.x, SaturatingSum(), shared.cub.reduce,
      shared.start);
  write_total(num_tokens, start.total);
  expand_chunk(extend_seq_lens, seq_lens, launch, chunk_begin, chunk_end, start.before,
               shared);
  zero_tails(launch, start.total);
}

}  // namespace nsa_metadata::draft_extend::cuda

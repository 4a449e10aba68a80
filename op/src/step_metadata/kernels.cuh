// Device code of the step-metadata family (launched from cuda.cu): one
// kernel for decode, target-verify and draft-extend alike.
//
// A chunk is a contiguous run of requests; its first block writes the
// per-request and per-row vectors. Blocks share no memory: each reduces the
// requests before its chunk itself (a few KB from L2 at serving sizes), which
// keeps the call one launch with no workspace. Page-table rows go to other
// blocks of the same launch:
//   - fixed rows (decode, target-verify, draft-extend with a static count):
//     page blocks after the chunks' blocks, over the whole batch; a row's
//     request is row / rows_per_request, so they neither reduce nor scan;
//   - variable rows (draft-extend with extend_seq_lens): splits - 1 more
//     blocks per chunk, which reduce and scan like its first block to learn
//     the rows' offsets, and share the chunk's page rows with it.
//
// Within a chunk, tiles of kThreads requests are scanned (rows, KV-length
// sum, nsa_cache_seqlens sum at once); each row then finds its request by
// binary search in shared memory, so work is balanced however uneven the
// lengths. Page-table rows are copied by warps, several warps per row when a
// tile has fewer rows than the chunk has warps, and only up to each row's own
// KV length: that bound, read from device data, is what spares the
// full-width gather.
#pragma once

#include "common/block_split_sums.cuh"
#include "common/index_vector.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::block_split_sums;
using nsa_metadata::cuda::SplitSums;

constexpr int kThreads = 256;
constexpr int kWarpSize = 32;
constexpr int kWarps = kThreads / kWarpSize;
// Page-table columns a warp copies as one unit of work: 8 loads in flight
// per lane before the first store.
constexpr int kLoadsPerLane = 8;
constexpr int kColumnsPerUnit = kLoadsPerLane * kWarpSize;

struct Launch {
  Model model;
  int64_t batch_size;
  IndexVector req_pool_indices;
  TokenTable tokens;
  int64_t page_size;
  Buffers buffers;
  int64_t requests_per_chunk;
  int64_t chunks;
  int64_t splits;       // blocks per chunk (variable rows)
  int64_t page_blocks;  // blocks after the chunks' that copy pages (fixed rows)
};

struct SumOp {
  __device__ __forceinline__ Sums operator()(const Sums& a, const Sums& b) const {
    return add(a, b);
  }
};

using BlockReduce = cub::BlockReduce<Sums, kThreads>;
using BlockScan = cub::BlockScan<Sums, kThreads>;

// One tile of requests, as the rows and page copies of the tile need them.
struct SharedState {
  union {
    BlockReduce::TempStorage reduce;
    BlockScan::TempStorage scan;
  } cub;
  int64_t first_row[kThreads];
  int64_t rows[kThreads];
  int64_t top[kThreads];
  int64_t topk_before[kThreads];
  int64_t pool_index[kThreads];
  SplitSums<Sums> start;  // sums before the block's chunk, and the batch's
};

__device__ __forceinline__ int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }

// The tile's request that owns `row`: the last whose first row is <= row.
// Requests with no rows share their first row with the next one and lose the tie.
__device__ __forceinline__ int owner_of(const SharedState& shared, int64_t row) {
  int lo = 0;
  int hi = kThreads - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (shared.first_row[mid] <= row) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

__device__ __forceinline__ RequestShape shape_of(const SharedState& shared, int owner) {
  return {shared.rows[owner], shared.top[owner]};
}

// seqlens_expanded, nsa_cache_seqlens and nsa_cu_seqlens_k for the tile's rows.
__device__ void write_tile_rows(const Launch& launch, const SharedState& shared,
                                int64_t tile_row, int64_t tile_end) {
  const int64_t limit = min_of(tile_end, launch.buffers.vector_row_limit());
  for (int64_t row = tile_row + threadIdx.x; row < limit; row += kThreads) {
    const int owner = owner_of(shared, row);
    write_row(launch.buffers, shape_of(shared, owner), row - shared.first_row[owner], row,
              shared.topk_before[owner], launch.model.nsa_index_topk);
  }
}

// One row's page-table columns, the units part, part + parts, ... of them.
__device__ void copy_page_row(const Launch& launch, int64_t row, int32_t kv,
                              const int32_t* __restrict__ source, int64_t part,
                              int64_t parts) {
  const Table& pages = launch.buffers.page_table_1;
  const Table& real = launch.buffers.real_page_table;
  const int64_t page_size = launch.page_size;
  const int64_t columns = page_columns(pages, row, kv);
  const int64_t real_columns = real_page_columns(real, row, kv, page_size);
  // Source columns touched: page_table_1's, and c * page_size for real ones.
  const int64_t span = max_of(columns, real_columns > 0 ? (real_columns - 1) * page_size + 1 : 0);
  const int lane = threadIdx.x % kWarpSize;
  for (int64_t unit = part; unit * kColumnsPerUnit < span; unit += parts) {
    const int64_t first = unit * kColumnsPerUnit;
    if (first < columns) {
      int32_t values[kLoadsPerLane];
#pragma unroll
      for (int t = 0; t < kLoadsPerLane; ++t) {
        const int64_t c = first + t * kWarpSize + lane;
        values[t] = c < columns ? source[c] : 0;
      }
      int32_t* destination = pages.data + row * pages.row_stride;
#pragma unroll
      for (int t = 0; t < kLoadsPerLane; ++t) {
        const int64_t c = first + t * kWarpSize + lane;
        if (c < columns) {
          destination[c] = values[t];
        }
      }
    }
    // The real columns whose source column lies in this unit.
    const int64_t real_begin = (first + page_size - 1) / page_size;
    const int64_t real_end =
        min_of((first + kColumnsPerUnit + page_size - 1) / page_size, real_columns);
    for (int64_t c = real_begin + lane; c < real_end; c += kWarpSize) {
      real.data[row * real.row_stride + c] = floor_div(source[c * page_size], page_size);
    }
  }
}

// Which of `rows` page-table rows warp `warp` of `warps` copies, and which of
// each row's units: one warp per row when rows are many, several warps per
// row (taking turns over its units) when they are few; no warp is active when
// there are no rows.
struct WarpShare {
  int64_t first_row;
  int64_t row_stride;
  int64_t part;
  int64_t parts;
  bool active;
};

__device__ __forceinline__ WarpShare share_of(int64_t rows, int64_t warp, int64_t warps) {
  if (rows <= 0) {
    return {0, 1, 0, 1, false};
  }
  const int64_t warps_per_row = rows >= warps ? 1 : warps / rows;
  const int64_t row_groups = warps / warps_per_row;
  return {warp / warps_per_row, row_groups, warp % warps_per_row, warps_per_row,
          warp < row_groups * warps_per_row};
}

// A row's page columns, unless its pool index is outside req_to_token (then
// the row is left untouched).
__device__ __forceinline__ void copy_page_row_of(const Launch& launch, int64_t row,
                                                 const RequestShape& shape, int64_t later,
                                                 int64_t pool_index, const WarpShare& share) {
  const TokenTable& tokens = launch.tokens;
  if (pool_index < 0 || pool_index >= tokens.rows) {
    return;
  }
  copy_page_row(launch, row, row_kv_len(shape.top, later),
                tokens.data + pool_index * tokens.row_stride, share.part, share.parts);
}

// Variable rows (draft-extend with extend_seq_lens): the tile's page-table
// rows, spread over the warps of every block of the chunk.
__device__ void copy_tile_page_rows(const Launch& launch, const SharedState& shared,
                                    int64_t tile_row, int64_t tile_end, int64_t split) {
  const int64_t tile_rows = min_of(tile_end, launch.buffers.page_row_limit()) - tile_row;
  const WarpShare share = share_of(tile_rows, split * kWarps + threadIdx.x / kWarpSize,
                                   launch.splits * kWarps);
  if (!share.active) {
    return;
  }
  for (int64_t k = share.first_row; k < tile_rows; k += share.row_stride) {
    const int64_t row = tile_row + k;
    const int owner = owner_of(shared, row);
    const RequestShape shape = shape_of(shared, owner);
    copy_page_row_of(launch, row, shape, shape.rows - 1 - (row - shared.first_row[owner]),
                     shared.pool_index[owner], share);
  }
}

// Fixed rows (decode, target-verify, draft-extend with a static count): a
// row's request is row / rows_per_request, so the page blocks need no scan
// and start copying after two loads.
__device__ void copy_fixed_page_rows(const Launch& launch, int64_t page_block) {
  const int64_t per_request = launch.model.rows_per_request;
  const int64_t rows = min_of(saturating_mul(launch.batch_size, per_request),
                              launch.buffers.page_row_limit());
  const WarpShare share = share_of(rows, page_block * kWarps + threadIdx.x / kWarpSize,
                                   launch.page_blocks * kWarps);
  if (!share.active) {
    return;
  }
  for (int64_t row = share.first_row; row < rows; row += share.row_stride) {
    const int64_t i = row / per_request;
    const RequestShape shape = request_shape(launch.model, i);
    copy_page_row_of(launch, row, shape, per_request - 1 - (row - i * per_request),
                     launch.req_pool_indices[i], share);
  }
}

// The heads of both cumulative sums, num_tokens, and the draft-extend tail,
// spread over the chunks' first blocks.
__device__ void write_heads_and_tail(const Launch& launch, int64_t chunk, const Sums& total) {
  if (chunk == 0 && threadIdx.x == 0) {
    write_heads(launch.buffers, total.rows);
  }
  const int64_t limit = launch.buffers.vector_row_limit();
  if (total.rows >= limit) {
    return;  // Also keeps total.rows + offset from overflowing.
  }
  const int64_t stride = launch.chunks * kThreads;
  for (int64_t position = total.rows + chunk * kThreads + threadIdx.x; position < limit;
       position += stride) {
    write_tail_position(launch.buffers, position, total);
  }
}

__global__ void __launch_bounds__(kThreads) step_metadata_kernel(const Launch launch) {
  __shared__ SharedState shared;
  const bool fixed_rows = launch.model.extend_seq_lens.data == nullptr;
  const int64_t vector_blocks = launch.chunks * launch.splits;
  if (blockIdx.x >= vector_blocks) {
    copy_fixed_page_rows(launch, blockIdx.x - vector_blocks);
    return;
  }
  const int64_t chunk = blockIdx.x / launch.splits;
  const int64_t split = blockIdx.x % launch.splits;
  const bool writes_vectors = split == 0;
  const int64_t chunk_begin = min_of(chunk * launch.requests_per_chunk, launch.batch_size);
  const int64_t chunk_end = min_of(chunk_begin + launch.requests_per_chunk, launch.batch_size);

  SplitSums<Sums> start;
  if (writes_vectors || !fixed_rows) {
    // The length sums are needed only by the block writing the vectors.
    const bool rows_only = !writes_vectors;
    const auto sums_of_request = [&](int64_t i) {
      const RequestShape shape = request_shape(launch.model, i);
      return rows_only ? Sums{shape.rows, 0, 0}
                       : request_sums(shape, launch.model.nsa_index_topk);
    };
    start = block_split_sums<kThreads>(sums_of_request, chunk_begin, launch.batch_size, SumOp(),
                                       shared.cub.reduce, shared.start);
  } else {
    const int64_t rows_per_request = launch.model.rows_per_request;
    start = {{saturating_mul(chunk_begin, rows_per_request), 0, 0},
             {saturating_mul(launch.batch_size, rows_per_request), 0, 0}};
  }

  const bool copies_pages = launch.buffers.has_page_table() && !fixed_rows;
  Sums tile_start = start.before;
  for (int64_t tile_begin = chunk_begin; tile_begin < chunk_end; tile_begin += kThreads) {
    const int64_t i = tile_begin + threadIdx.x;
    const bool in_chunk = i < chunk_end;
    const RequestShape shape = in_chunk ? request_shape(launch.model, i) : RequestShape{0, 0};
    const Sums mine =
        in_chunk ? request_sums(shape, launch.model.nsa_index_topk) : Sums{0, 0, 0};
    Sums before_mine;
    Sums tile_sums;
    BlockScan(shared.cub.scan).ExclusiveScan(mine, before_mine, Sums{0, 0, 0}, SumOp(),
                                             tile_sums);
    const Sums before = add(tile_start, before_mine);
    shared.first_row[threadIdx.x] = before.rows;
    shared.rows[threadIdx.x] = shape.rows;
    shared.top[threadIdx.x] = shape.top;
    shared.topk_before[threadIdx.x] = before.topk;
    shared.pool_index[threadIdx.x] = in_chunk && copies_pages ? launch.req_pool_indices[i] : -1;
    if (writes_vectors && in_chunk) {
      write_request(launch.buffers, i, shape, before);
    }
    __syncthreads();

    const int64_t tile_end = saturating_add(tile_start.rows, tile_sums.rows);
    if (writes_vectors) {
      write_tile_rows(launch, shared, tile_start.rows, tile_end);
    }
    if (copies_pages) {
      copy_tile_page_rows(launch, shared, tile_start.rows, tile_end, split);
    }
    tile_start = add(tile_start, tile_sums);
    __syncthreads();  // The next tile overwrites the shared arrays.
  }
  if (writes_vectors) {
    write_heads_and_tail(launch, chunk, start.total);
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

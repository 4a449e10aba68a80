// The vector blocks of the step-metadata kernel: the per-request vectors, the
// row vectors, the counters and the tail of the row vectors (buffers.h).
//
// A chunk is a contiguous run of requests, written by `row_splits` blocks:
// each scans the chunk's requests, and their warps share its rows (each
// warp a contiguous run of them), so that requests of thousands of rows
// (extend) spread over the GPU. Blocks share no memory:
// each reduces the requests before its chunk itself (a few KB from L2 at
// serving sizes), which keeps the call one launch with no workspace, and a
// batch that fits one chunk depends on no other block. That reduction, like
// the scans, sums only what the call's outputs read (the launcher's
// sum_kv and sum_topk), and a block loads its first tile's requests before
// it, so that it waits on memory once.
// Within a chunk, tiles of kThreads requests are scanned (rows, KV-length
// sum, nsa_cache_seqlens sum at once). When every request of a tile has at
// most kDirectRows rows (decode, target-verify, draft steps), each thread
// writes its own request's rows with the sums running along them; otherwise
// the rows go to the warps in even runs (write_tile_rows), so work is
// balanced however uneven the lengths.
#pragma once

#include "common/block_split_sums.cuh"
#include "common/device_math.cuh"
#include "step_metadata/buffers.h"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/device/row_group.cuh"
#include "step_metadata/request_math.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::block_split_sums;
using nsa_metadata::cuda::ceil_div;
using nsa_metadata::cuda::last_at_most;
using nsa_metadata::cuda::max_of;
using nsa_metadata::cuda::min_of;
using nsa_metadata::cuda::SplitSums;

struct SumOp {
  __device__ __forceinline__ Sums operator()(const Sums& a, const Sums& b) const {
    return add(a, b);
  }
};

// The sums of a request that the call's outputs read; the others stay 0.
__device__ __forceinline__ Sums vector_sums(const Launch& launch, const RequestShape& shape) {
  return {shape.rows, launch.sum_kv ? clamped_len(shape.top) : 0,
          launch.sum_topk ? request_sums(launch.model, shape).topk : 0};
}

// A tile's requests as its rows need them, in Count arithmetic.
template <typename Count>
struct TileRequests {
  Count first_row[kThreads];
  Count rows[kThreads];
  Count top[kThreads];
  Count kv_before[kThreads];
  Count topk_before[kThreads];
};

// One tile of requests, as its rows need them: in 64 bits, and in 32 bits
// for tiles whose sums all fit there (narrow_tile).
struct VectorTile {
  union {
    cub::BlockReduce<Sums, kThreads>::TempStorage reduce;
    cub::BlockScan<Sums, kThreads>::TempStorage scan;
  } cub;
  TileRequests<int64_t> wide;
  TileRequests<int32_t> narrow;
  SplitSums<Sums> start;  // sums before the block's chunk, and the batch's
};

template <typename Count>
__device__ __forceinline__ const TileRequests<Count>& tile_requests(const VectorTile& tile) {
  if constexpr (sizeof(Count) == sizeof(int32_t)) {
    return tile.narrow;
  } else {
    return tile.wide;
  }
}

// The arithmetic of a tile's rows. In general 64-bit and saturating (the
// shared length math); where every row, KV sum and nsa_cache_seqlens sum of
// the tile stays below INT32_MAX (narrow_tile), nothing saturates and every
// top fits, so plain 32-bit arithmetic gives the same values with about half
// the instructions on a row's chain.
__device__ __forceinline__ int64_t add_counts(int64_t a, int64_t b) { return saturating_add(a, b); }
__device__ __forceinline__ int32_t add_counts(int32_t a, int32_t b) { return a + b; }
__device__ __forceinline__ int32_t count_value(int64_t count) {
  return narrow_count<int32_t>(count);
}
__device__ __forceinline__ int32_t count_value(int32_t count) { return count; }
__device__ __forceinline__ int32_t kv_of_row(int64_t top, int64_t later) {
  return row_kv_len(top, later);
}
// For top <= INT32_MAX (a negative top, as any top <= later, sees nothing).
__device__ __forceinline__ int32_t kv_of_row(int32_t top, int32_t later) {
  return top > later ? top - later : 0;
}

// Rows below this keep a group's last row and the row after it (where
// nsa_cu_seqlens_k's sum lands) in int32.
constexpr int64_t kNarrowRowLimit = kInt32Max - 2 * kRowsPerGroup;

// Whether a tile whose requests end with the sums `end` (and whose tops
// are all at most INT32_MAX: no_wide_top) may take the 32-bit arithmetic.
__device__ __forceinline__ bool narrow_tile(const Sums& end, bool no_wide_top) {
  return no_wide_top && end.rows < kNarrowRowLimit && end.kv < kInt32Max && end.topk < kInt32Max;
}

// The row vectors (write_row's values) of the tile's rows that split `split`
// takes. Each warp of the chunk's vector blocks takes a contiguous run of
// the tile's groups of kRowsPerGroup rows (row_group.cuh) and walks it 32
// groups at a time, a group a lane, so that each store instruction covers
// 512 contiguous bytes: a lane follows its request from step to step (a
// search in shared memory only where it moved past the next request), and
// nsa_cu_seqlens_k comes from one closed-form sum at the run's first row
// plus a scan of the lanes' sums at each step. The tile's first request is
// `tile_begin`, its first row `tile_row`; Count is the tile's arithmetic
// (int32_t only where narrow_tile holds).
template <bool kExtend, typename Count>
__device__ void write_tile_rows(const Launch& launch, const VectorTile& tile, int64_t tile_begin,
                                int64_t tile_row, int64_t tile_end, int64_t split) {
  const Buffers& buffers = launch.buffers;
  const Model& model = launch.model;
  const TileRequests<Count>& requests = tile_requests<Count>(tile);
  const auto limit = static_cast<Count>(min_of(tile_end, buffers.vector_row_limit()));
  const int64_t first_group = tile_row / kRowsPerGroup;
  const int64_t group_end = ceil_div(limit, kRowsPerGroup);
  // Runs of whole steps of kWarpSize groups, one run a warp.
  const int64_t steps = ceil_div(max_of(group_end - first_group, 0), kWarpSize);
  const int64_t run_steps = ceil_div(steps, launch.row_splits * kWarps);
  const int64_t warp = split * kWarps + threadIdx.x / kWarpSize;
  const int64_t run_begin = first_group + warp * run_steps * kWarpSize;
  const int64_t run_end = min_of(run_begin + run_steps * kWarpSize, group_end);
  if (run_begin >= run_end) {
    return;  // the whole warp: no barrier follows here
  }
  // Every lane starts from the run's first row and its request.
  const auto run_row = static_cast<Count>(max_of(run_begin * kRowsPerGroup, tile_row));
  int owner = last_at_most(requests.first_row, kThreads, run_row);
  // nsa_cache_seqlens summed through the row before the current step's first.
  Count topk_before_step =
      launch.sum_topk
          ? add_counts(requests.topk_before[owner],
                       static_cast<Count>(topk_len_through(
                           model, {requests.rows[owner], requests.top[owner]},
                           run_row - requests.first_row[owner] - 1)))
          : 0;
  for (int64_t step = run_begin; step < run_end; step += kWarpSize) {
    const int64_t group = step + lane_id();
    const auto group_row = static_cast<Count>(group * kRowsPerGroup);
    const Count row_begin = group < run_end ? max(group_row, run_row) : group_row;
    const Count row_end =
        group < run_end ? min(static_cast<Count>(group_row + kRowsPerGroup), limit) : group_row;
    if (row_begin < row_end && owner + 1 < kThreads &&
        requests.first_row[owner + 1] <= row_begin) {
      owner += 1 + last_at_most(requests.first_row + owner + 1, kThreads - owner - 1, row_begin);
    }
    RowGroup values{};
    Count topk_in_group[kRowsPerGroup];  // before each row, from the group's first
    Count group_topk = 0;
#pragma unroll
    for (int k = 0; k < kRowsPerGroup; ++k) {
      const Count row = group_row + k;
      topk_in_group[k] = 0;
      if (row < row_begin || row >= row_end) {
        continue;
      }
      while (owner + 1 < kThreads && requests.first_row[owner + 1] <= row) {
        ++owner;
      }
      const Count j = row - requests.first_row[owner];
      values.expanded[k] =
          kv_of_row(requests.top[owner], static_cast<Count>(requests.rows[owner] - 1 - j));
      values.selected[k] = selected_len(model, values.expanded[k]);
      topk_in_group[k] = group_topk;
      group_topk = add_counts(group_topk, static_cast<Count>(values.selected[k]));
      if (kExtend) {
        const Count kv_before = requests.kv_before[owner];
        values.request[k] = static_cast<int32_t>(tile_begin + owner);
        values.starts[k] = count_value(kv_before);
        values.ends[k] = count_value(add_counts(kv_before, static_cast<Count>(values.expanded[k])));
      }
    }
    Count lane_topk_end = 0;  // through the lane's last row
    if (launch.sum_topk) {
      const Count lanes_through = inclusive_warp_scan(
          group_topk, [](Count a, Count b) { return add_counts(a, b); });
      const Count lane_before = add_counts(
          topk_before_step, static_cast<Count>(lanes_through - group_topk));
#pragma unroll
      for (int k = 0; k < kRowsPerGroup; ++k) {
        values.cu_before[k] = count_value(add_counts(lane_before, topk_in_group[k]));
      }
      lane_topk_end = add_counts(lane_before, group_topk);
      topk_before_step =
          add_counts(topk_before_step, __shfl_sync(kFullWarp, lanes_through, kWarpSize - 1));
    }
    // The tile's last group writes the sum through its last row: the next
    // tile's first group or the tail would otherwise be the first to.
    store_row_group<kExtend>(buffers, group_row, row_begin, row_end, values,
                             row_begin < row_end && row_end == limit, count_value(lane_topk_end));
  }
}

// The heads of the cumulative sums, the counters, and the draft-extend tail,
// spread over the vector blocks.
template <bool kExtend>
__device__ void write_heads_and_tail(const Launch& launch, int64_t vector_block,
                                     const Sums& total) {
  if (vector_block == 0 && threadIdx.x == 0) {
    write_heads<kExtend>(launch.buffers, total.rows, total.kv);
  }
  const int64_t limit = launch.buffers.vector_row_limit();
  if (total.rows >= limit) {
    return;  // Also keeps total.rows + offset from overflowing.
  }
  const int64_t stride = launch.vector_blocks() * kThreads;
  for (int64_t position = total.rows + vector_block * kThreads + threadIdx.x; position < limit;
       position += stride) {
    write_tail_position<kExtend>(launch.buffers, position, total);
  }
}

// The rows of request i, which starts at row before.rows and has at most
// kDirectRows rows, up to `limit`.
template <bool kExtend>
__device__ __forceinline__ void write_own_rows(const Launch& launch, int64_t i,
                                               const RequestShape& shape, const Sums& before,
                                               int64_t limit) {
  int64_t topk_through = before.topk;
  const int64_t rows = min_of(shape.rows, limit - before.rows);
  for (int64_t j = 0; j < rows; ++j) {
    topk_through = write_row_values<kExtend>(launch.buffers, launch.model, i, before.rows + j,
                                             row_kv_len(shape.top, shape.rows - 1 - j),
                                             before.kv, topk_through);
  }
}

// A request's lengths as loaded (IndexVector::load), or none past `end`.
struct LoadedRequest {
  IndexVector::Loaded seq_len;
  IndexVector::Loaded extend_seq_len;
};

__device__ __forceinline__ LoadedRequest load_request(const Model& model, int64_t i,
                                                      int64_t end) {
  if (i >= end) {
    return {{0, 0}, {0, 0}};
  }
  return {model.seq_lens.load(i), model.extend_seq_lens.data != nullptr
                                      ? model.extend_seq_lens.load(i)
                                      : IndexVector::Loaded{0, 0}};
}

// request_shape of a loaded request; past the chunk, no rows.
__device__ __forceinline__ RequestShape shape_of(const Model& model, const LoadedRequest& loaded,
                                                 bool in_chunk) {
  if (!in_chunk) {
    return {0, 0};
  }
  return {rows_from(model, model.extend_seq_lens.value(loaded.extend_seq_len)),
          top_from(model, model.seq_lens.value(loaded.seq_len))};
}

// The sums of the requests before `chunk_begin` and of the batch, as far as
// the outputs read them: with fixed row counts and no KV or nsa_cache_seqlens
// sums, in closed form; otherwise each block reduces the batch, loading only
// the lengths those sums need.
__device__ SplitSums<Sums> batch_sums(const Launch& launch, int64_t chunk_begin,
                                      VectorTile& tile) {
  const Model& model = launch.model;
  const bool variable_rows = model.extend_seq_lens.data != nullptr;
  const bool rows_only = !launch.sum_kv && !launch.sum_topk;
  if (!variable_rows && rows_only) {
    return {{fixed_rows_before(model, chunk_begin), 0, 0},
            {fixed_rows_before(model, launch.batch_size), 0, 0}};
  }
  const auto sums_of_request = [&](int64_t i) {
    const int64_t rows = rows_from(model, variable_rows ? model.extend_seq_lens[i] : 0);
    if (rows_only) {
      return Sums{rows, 0, 0};
    }
    return vector_sums(launch, {rows, top_from(model, model.seq_lens[i])});
  };
  return block_split_sums<kThreads, kReduceLoadsInFlight>(
      sums_of_request, chunk_begin, launch.batch_size, SumOp(), tile.cub.reduce, tile.start);
}

// Vector block `vector_block`: split (vector_block mod row_splits) of chunk
// (vector_block / row_splits).
template <bool kExtend>
__device__ void write_chunk_vectors(const Launch& launch, int64_t vector_block,
                                    VectorTile& tile) {
  using BlockScan = cub::BlockScan<Sums, kThreads>;
  // In 32 bits: both are block counts (a 64-bit division is a library call).
  const uint32_t chunk =
      static_cast<uint32_t>(vector_block) / static_cast<uint32_t>(launch.row_splits);
  const int64_t split = vector_block - int64_t{chunk} * launch.row_splits;
  const int64_t chunk_begin = min_of(chunk * launch.requests_per_chunk, launch.batch_size);
  const int64_t chunk_end = min_of(chunk_begin + launch.requests_per_chunk, launch.batch_size);
  const int64_t limit = launch.buffers.vector_row_limit();
  LoadedRequest loaded = load_request(launch.model, chunk_begin + threadIdx.x, chunk_end);
  // A batch of one chunk has nothing before it, and its tiles' scans give
  // its total: the block reads each request once.
  SplitSums<Sums> around{};
  if (launch.chunks > 1) {
    around = batch_sums(launch, chunk_begin, tile);
  }
  Sums tile_start = around.before;

  for (int64_t tile_begin = chunk_begin; tile_begin < chunk_end; tile_begin += kThreads) {
    const int64_t i = tile_begin + threadIdx.x;
    const bool in_chunk = i < chunk_end;
    const RequestShape shape = shape_of(launch.model, loaded, in_chunk);
    // The next tile's requests load while this one is written.
    loaded = load_request(launch.model, i + kThreads, chunk_end);
    const Sums mine = vector_sums(launch, shape);
    Sums before_mine;
    Sums tile_sums;
    BlockScan(tile.cub.scan).ExclusiveScan(mine, before_mine, Sums{0, 0, 0}, SumOp(), tile_sums);
    const Sums before = add(tile_start, before_mine);
    if (in_chunk && split == 0) {
      write_request<kExtend>(launch.buffers, i, shape, before);
    }
    if (__syncthreads_or(shape.rows > kDirectRows)) {
      // The shapes the block shares its rows by, published only here: the
      // barrier in the narrow_tile call below orders them before the reads.
      tile.wide.first_row[threadIdx.x] = before.rows;
      tile.wide.rows[threadIdx.x] = shape.rows;
      tile.wide.top[threadIdx.x] = shape.top;
      tile.wide.kv_before[threadIdx.x] = before.kv;
      tile.wide.topk_before[threadIdx.x] = before.topk;
      // What narrow_tile lets the 32-bit rows read (exact there).
      tile.narrow.first_row[threadIdx.x] = static_cast<int32_t>(before.rows);
      tile.narrow.rows[threadIdx.x] = static_cast<int32_t>(shape.rows);
      tile.narrow.top[threadIdx.x] = static_cast<int32_t>(clamp_to(shape.top, -1, kInt32Max));
      tile.narrow.kv_before[threadIdx.x] = static_cast<int32_t>(before.kv);
      tile.narrow.topk_before[threadIdx.x] = static_cast<int32_t>(before.topk);
      const Sums tile_end = add(tile_start, tile_sums);
      if (narrow_tile(tile_end, !__syncthreads_or(shape.top > kInt32Max))) {
        write_tile_rows<kExtend, int32_t>(launch, tile, tile_begin, tile_start.rows,
                                          tile_end.rows, split);
      } else {
        write_tile_rows<kExtend, int64_t>(launch, tile, tile_begin, tile_start.rows,
                                          tile_end.rows, split);
      }
    } else if (split == 0 && before.rows < limit) {
      write_own_rows<kExtend>(launch, i, shape, before, limit);
    }
    tile_start = add(tile_start, tile_sums);
    __syncthreads();  // The next tile overwrites the shared arrays.
  }
  if (launch.chunks > 1) {
    tile_start = around.total;
  }
  write_heads_and_tail<kExtend>(launch, vector_block, tile_start);
}

}  // namespace nsa_metadata::step_metadata::cuda

// The page blocks of the step-metadata kernel: page_table_1 and
// real_page_table, gathered from req_to_token.
//
// The work is split into units of kUnitColumns columns of one request's
// source row (its req_to_token row). A warp loads a unit once, in 16-byte
// vectors where the addresses allow, and stores it into every row of the
// request, each row only up to its own KV length: the request's prefix comes
// from memory once however many rows it has (target-verify's N, a
// draft-extend's extend length), and no row is written past what consumers
// read.
//
// Every page block walks the batch in tiles of kPageTile requests: it loads
// the tile's shapes, scans the units and rows they need, then its warps take
// the tile's units in turn with every other page block's warps (unit u to
// warp u mod warps), so the copy is balanced however uneven the lengths,
// with no workspace and no communication between blocks. A unit finds its
// request by binary search in the tile.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/buffers.h"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/request_math.h"

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::ceil_div;
using nsa_metadata::cuda::last_at_most;
using nsa_metadata::cuda::max_of;
using nsa_metadata::cuda::min_of;

// Units and rows, scanned together along a tile.
struct PageSums {
  int64_t units;
  int64_t rows;
};

struct PageSumOp {
  __device__ __forceinline__ PageSums operator()(const PageSums& a, const PageSums& b) const {
    return {a.units + b.units, saturating_add(a.rows, b.rows)};
  }
};

struct PageTile {
  cub::BlockScan<PageSums, kThreads>::TempStorage scan;
  int64_t first_unit[kPageTile];
  int64_t first_row[kPageTile];
  int64_t rows[kPageTile];
  int64_t top[kPageTile];
  const int32_t* source[kPageTile];
};

// The columns a unit spans are those of page_table_1 when the call fills it
// (real_page_table's come from every page_size-th of them); without it, the
// unit spans real_page_table's columns and gathers their sources.
__device__ __forceinline__ bool units_span_pages(const Launch& launch) {
  return launch.buffers.page_table_1.data != nullptr;
}

// Units of a request whose last row sees `top` tokens: enough for the
// widest of its rows (the last), within the tables' widths.
__device__ __forceinline__ int64_t units_of(const Launch& launch, int64_t top) {
  const Buffers& buffers = launch.buffers;
  const int32_t kv = row_kv_len(top, 0);
  const int64_t real_columns =
      buffers.real_page_table.data != nullptr
          ? min_of(ceil_div(kv, launch.page_size), buffers.real_page_table.columns)
          : 0;
  if (!units_span_pages(launch)) {
    return ceil_div(real_columns, kUnitColumns);
  }
  const int64_t columns = min_of(kv, buffers.page_table_1.columns);
  const int64_t span = max_of(columns, real_source_span(real_columns, launch.page_size));
  return ceil_div(span, kUnitColumns);
}

__device__ __forceinline__ bool aligned_16(const void* pointer) {
  return (reinterpret_cast<uintptr_t>(pointer) & 15) == 0;
}

// Loads the unit's columns [first, first + kUnitColumns) of `source`, those
// below `span`; lane l holds columns first + 4 * (t * 32 + l) .. + 3 in
// values[t], so a warp's t-th load reads 512 contiguous bytes.
__device__ __forceinline__ void load_unit(const int32_t* __restrict__ source, int64_t first,
                                          int64_t span, int4 (&values)[kVectorsPerLane]) {
  const int lane = threadIdx.x % kWarpSize;
  const bool vectors = aligned_16(source);
#pragma unroll
  for (int t = 0; t < kVectorsPerLane; ++t) {
    const int64_t c = first + int64_t{kColumnsPerVector} * (t * kWarpSize + lane);
    if (vectors && c + kColumnsPerVector <= span) {
      values[t] = __ldg(reinterpret_cast<const int4*>(source + c));
    } else {
      values[t].x = c < span ? __ldg(source + c) : 0;
      values[t].y = c + 1 < span ? __ldg(source + c + 1) : 0;
      values[t].z = c + 2 < span ? __ldg(source + c + 2) : 0;
      values[t].w = c + 3 < span ? __ldg(source + c + 3) : 0;
    }
  }
}

// Stores the loaded unit into a row of `columns` columns.
__device__ __forceinline__ void store_unit(int32_t* destination, int64_t first, int64_t columns,
                                           const int4 (&values)[kVectorsPerLane]) {
  const int lane = threadIdx.x % kWarpSize;
  const bool vectors = aligned_16(destination);
#pragma unroll
  for (int t = 0; t < kVectorsPerLane; ++t) {
    const int64_t c = first + int64_t{kColumnsPerVector} * (t * kWarpSize + lane);
    if (vectors && c + kColumnsPerVector <= columns) {
      *reinterpret_cast<int4*>(destination + c) = values[t];
    } else {
      if (c < columns) destination[c] = values[t].x;
      if (c + 1 < columns) destination[c + 1] = values[t].y;
      if (c + 2 < columns) destination[c + 2] = values[t].z;
      if (c + 3 < columns) destination[c + 3] = values[t].w;
    }
  }
}

// real_page_table's columns [real_begin, real_end) of one row, each from
// source column c * page_size (just loaded by the warp, so read from cache).
__device__ __forceinline__ void store_real_columns(const Launch& launch, int64_t row,
                                                   const int32_t* __restrict__ source,
                                                   int64_t real_begin, int64_t real_end) {
  const Table& real = launch.buffers.real_page_table;
  const int lane = threadIdx.x % kWarpSize;
  for (int64_t c = real_begin + lane; c < real_end; c += kWarpSize) {
    real.data[row * real.row_stride + c] = floor_div(__ldg(source + c * launch.page_size),
                                                     launch.page_size);
  }
}

// Unit `unit` of tile request k, into every row of the request.
__device__ void copy_unit(const Launch& launch, const PageTile& tile, int k, int64_t unit) {
  const Buffers& buffers = launch.buffers;
  const int32_t* source = tile.source[k];
  const int64_t rows = tile.rows[k];
  const int64_t first_row = tile.first_row[k];
  const int64_t top = tile.top[k];
  const int64_t row_end = min_of(saturating_add(first_row, rows), buffers.page_row_limit());
  const int64_t first = unit * kUnitColumns;
  if (units_span_pages(launch)) {
    int4 values[kVectorsPerLane];
    const int64_t span = min_of(row_kv_len(top, 0), buffers.page_table_1.columns);
    // The unit may only be needed for real_page_table's columns (span
    // ends before it): those are read from the source itself.
    if (first < span) {
      load_unit(source, first, span, values);
    }
    const int64_t real_begin = ceil_div(first, launch.page_size);
    const int64_t real_unit_end = ceil_div(first + kUnitColumns, launch.page_size);
    for (int64_t row = first_row; row < row_end; ++row) {
      const int32_t kv = row_kv_len(top, rows - 1 - (row - first_row));
      const int64_t columns = page_columns(buffers.page_table_1, row, kv);
      if (first < columns) {
        store_unit(buffers.page_table_1.data + row * buffers.page_table_1.row_stride, first,
                   columns, values);
      }
      if (buffers.real_page_table.data != nullptr) {
        const int64_t real_columns =
            real_page_columns(buffers.real_page_table, row, kv, launch.page_size);
        store_real_columns(launch, row, source, real_begin, min_of(real_unit_end, real_columns));
      }
    }
  } else {
    const int64_t real_end = first + kUnitColumns;
    for (int64_t row = first_row; row < row_end; ++row) {
      const int32_t kv = row_kv_len(top, rows - 1 - (row - first_row));
      const int64_t real_columns =
          real_page_columns(buffers.real_page_table, row, kv, launch.page_size);
      store_real_columns(launch, row, source, first, min_of(real_end, real_columns));
    }
  }
}

// Loads the tile's shapes into shared memory and scans them; returns the
// tile's totals. Requests whose pool index lies outside req_to_token get no
// units (their rows are left untouched).
__device__ PageSums load_page_tile(const Launch& launch, PageTile& tile, int64_t tile_begin,
                                   int64_t first_row) {
  const TokenTable& tokens = launch.tokens;
  PageSums mine[kRequestsPerThread];
  PageSums thread_sums{0, 0};
#pragma unroll
  for (int r = 0; r < kRequestsPerThread; ++r) {
    const int k = threadIdx.x * kRequestsPerThread + r;
    const int64_t i = tile_begin + k;
    RequestShape shape{0, 0};
    const int32_t* source = nullptr;
    if (i < launch.batch_size) {
      shape = request_shape(launch.model, i);
      const int64_t pool_index = launch.req_pool_indices[i];
      if (pool_index >= 0 && pool_index < tokens.rows) {
        source = tokens.data + pool_index * tokens.row_stride;
      }
    }
    mine[r] = {source != nullptr && shape.rows > 0 ? units_of(launch, shape.top) : 0,
               shape.rows};
    tile.rows[k] = shape.rows;
    tile.top[k] = shape.top;
    tile.source[k] = source;
    thread_sums = PageSumOp()(thread_sums, mine[r]);
  }
  PageSums before;
  PageSums tile_sums;
  cub::BlockScan<PageSums, kThreads>(tile.scan)
      .ExclusiveScan(thread_sums, before, PageSums{0, 0}, PageSumOp(), tile_sums);
#pragma unroll
  for (int r = 0; r < kRequestsPerThread; ++r) {
    const int k = threadIdx.x * kRequestsPerThread + r;
    tile.first_unit[k] = before.units;
    tile.first_row[k] = saturating_add(first_row, before.rows);
    before = PageSumOp()(before, mine[r]);
  }
  __syncthreads();
  return tile_sums;
}

__device__ void copy_page_tables(const Launch& launch, int64_t page_block, PageTile& tile) {
  const int64_t warps = launch.page_blocks * kWarps;
  const int64_t warp = page_block * kWarps + threadIdx.x / kWarpSize;
  int64_t first_row = 0;
  for (int64_t tile_begin = 0; tile_begin < launch.batch_size; tile_begin += kPageTile) {
    const PageSums tile_sums = load_page_tile(launch, tile, tile_begin, first_row);
    for (int64_t u = warp; u < tile_sums.units; u += warps) {
      const int k = last_at_most(tile.first_unit, kPageTile, u);
      copy_unit(launch, tile, k, u - tile.first_unit[k]);
    }
    first_row = saturating_add(first_row, tile_sums.rows);
    if (first_row >= launch.buffers.page_row_limit()) {
      return;  // Later requests' rows do not fit the tables.
    }
    __syncthreads();  // The next tile overwrites the shared arrays.
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

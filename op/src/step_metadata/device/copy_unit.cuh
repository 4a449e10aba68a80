// One unit of page-table work: unit_columns<V> columns of one request's source
// row (its req_to_token row), loaded once, in 16-byte vectors where the
// addresses allow, and stored into the request's rows (every row, or a slice
// of them when warps share a request's rows), each row only up to its own KV
// length, and (extend) into its flattened slots, realigned to 16-byte stores.
// Both kernels (the page blocks, block_pages.cuh, and the warp-batch kernel,
// warp_batch.cuh) copy through here.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/buffers.h"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::ceil_div;
using nsa_metadata::cuda::lane_id;
using nsa_metadata::cuda::max_of;
using nsa_metadata::cuda::min_of;

// What a unit's copy needs to know about its request.
struct PageRequest {
  const int32_t* source;  // the request's req_to_token row
  int64_t rows;
  int64_t first_row;
  int64_t top;
  int64_t kv_before;  // where its page_table_1_flattened slots start
};

// Whether a pool index names a row of req_to_token (`pool_rows` rows), as
// every kernel that copies page tables asks of each request's: a request
// whose pool index does not gets no page-table writes (its rows are left
// untouched).
__device__ __forceinline__ bool in_pool(int64_t pool_index, int64_t pool_rows) {
  return pool_index >= 0 && pool_index < pool_rows;
}

// Request i's req_to_token row, or nullptr when its pool index lies outside
// req_to_token.
__device__ __forceinline__ const int32_t* source_row(const Launch& launch, int64_t i) {
  const TokenTable& tokens = launch.tokens;
  const int64_t pool_index = launch.req_pool_indices[i];
  return in_pool(pool_index, tokens.rows) ? tokens.data + pool_index * tokens.row_stride : nullptr;
}

// The columns a unit spans are those of page_table_1 and the flattened table
// when the call fills one (real_page_table's come from every page_size-th of
// them); without them, the unit spans real_page_table's columns and gathers
// their sources.
__device__ __forceinline__ bool units_span_pages(const Launch& launch) {
  return launch.buffers.page_table_1.data != nullptr ||
         launch.buffers.page_table_1_flattened.present();
}

// The width of what a unit copies whole: the flattened table's
// (req_to_token's) when the call fills it, else page_table_1's.
__device__ __forceinline__ int64_t copied_width(const Launch& launch) {
  return launch.buffers.page_table_1_flattened.present() ? launch.tokens.columns
                                                         : launch.buffers.page_table_1.columns;
}

// Column positions and counts are uint32: every count is bounded by a KV
// length (an int32) and a position by that plus a unit, so 32 bits hold them,
// and they halve the index arithmetic on the copy's critical path.
using Column = uint32_t;

// Units of V vectors a lane of a request whose last row sees `top` tokens:
// enough for the widest of its rows (the last), within the tables' widths.
template <int kVectors>
__device__ __forceinline__ int64_t units_of(const Launch& launch, int64_t top) {
  const Buffers& buffers = launch.buffers;
  const int32_t kv = row_kv_len(top, 0);
  const Table& real = buffers.real_page_table;
  if (!units_span_pages(launch)) {
    return ceil_div(real_columns_for(real, kv, launch.page_size), unit_columns<kVectors>);
  }
  const int64_t copied = min_of(kv, copied_width(launch));
  const int64_t span =
      real.data != nullptr
          ? max_of(copied, real_source_span(real_columns_for(real, kv, launch.page_size),
                                            launch.page_size.divisor()))
          : copied;
  return ceil_div(span, unit_columns<kVectors>);
}

// Column of lane `lane`'s t-th vector in the unit starting at `first`.
__device__ __forceinline__ Column vector_column(Column first, int t, int lane) {
  return first + kColumnsPerVector * (t * kWarpSize + lane);
}

// Loads the unit's columns [first, first + unit_columns<V>) of `source`, those
// below `span`; lane l holds columns first + 4 * (t * 32 + l) .. + 3 in
// values[t], so a warp's t-th load reads 512 contiguous bytes.
// A whole unit (every unit of a request but its last) is loaded from one
// pointer at constant offsets, with no compare each: on an H100 that took
// most 1K-8K calls at bs 32-256 2-5% less GPU time. (The same for the
// stores took target-verify and static draft-extend at bs 128-256 up to 4%
// longer, and the warp-batch kernel spilled.)
template <int kVectors>
__device__ __forceinline__ void load_unit(const int32_t* __restrict__ source, Column first,
                                          Column span, int4 (&values)[kVectors]) {
  const int lane = lane_id();
  const bool vectors = aligned_16(source);
  if (vectors && first + unit_columns<kVectors> <= span) {
    const int4* const lane_vectors =
        reinterpret_cast<const int4*>(source + vector_column(first, 0, lane));
#pragma unroll
    for (int t = 0; t < kVectors; ++t) {
      values[t] = __ldg(lane_vectors + kWarpSize * t);
    }
    return;
  }
#pragma unroll
  for (int t = 0; t < kVectors; ++t) {
    const Column c = vector_column(first, t, lane);
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

// Stores the loaded unit into a row of `columns` columns. The 16-byte stores
// stream (evict-first): no kernel of the call reads a page table back, and
// keeping them out of L2's way leaves it to the source rows other rows and
// other warps still load. (Plain stores took the step operators' long
// contexts 0-3% and prefill at bs 256 30% longer on an H100, chunked extend
// at bs 256 6% shorter.)
template <int kVectors>
__device__ __forceinline__ void store_unit(int32_t* destination, Column first, Column columns,
                                           const int4 (&values)[kVectors]) {
  const int lane = lane_id();
  const bool vectors = aligned_16(destination);
#pragma unroll
  for (int t = 0; t < kVectors; ++t) {
    const Column c = vector_column(first, t, lane);
    if (vectors && c + kColumnsPerVector <= columns) {
      __stcs(reinterpret_cast<int4*>(destination + c), values[t]);
    } else {
      if (c < columns) destination[c] = values[t].x;
      if (c + 1 < columns) destination[c + 1] = values[t].y;
      if (c + 2 < columns) destination[c + 2] = values[t].z;
      if (c + 3 < columns) destination[c + 3] = values[t].w;
    }
  }
}

// Stores the loaded unit into `destination`, columns [first, first + unit_columns<V>)
// below `columns`, where `destination` may start at any int32 (a request's
// flattened slots start at its k_i): each lane joins the tail of its vector
// with the head of the next lane's (a shuffle) into one 16-byte store at an
// aligned address; only the unit's first and last few columns go one by one.
// Every lane of the warp must call it.
template <int kVectors>
__device__ __forceinline__ void store_unit_realigned(int32_t* destination, Column first,
                                                     Column columns,
                                                     const int4 (&values)[kVectors]) {
  // Columns from a vector's start to the first aligned address after it.
  const auto shift = static_cast<Column>(
      (kColumnsPerVector - reinterpret_cast<uintptr_t>(destination) / sizeof(int32_t)) %
      kColumnsPerVector);
  if (shift == 0) {
    store_unit(destination, first, columns, values);
    return;
  }
  const int lane = lane_id();
  const int next_lane = (lane + 1) % kWarpSize;
#pragma unroll
  for (int t = 0; t < kVectors; ++t) {
    // The vector after lane l's is lane l + 1's, lane 31's is lane 0's next
    // one, and the unit's last lane has none (the next unit's head).
    const int later = t + 1 < kVectors ? t + 1 : t;
    const int4 offered = lane == 0 ? values[later] : values[t];
    const int4 next{__shfl_sync(kFullWarp, offered.x, next_lane),
                    __shfl_sync(kFullWarp, offered.y, next_lane),
                    __shfl_sync(kFullWarp, offered.z, next_lane),
                    __shfl_sync(kFullWarp, offered.w, next_lane)};
    const int4& own = values[t];
    const int4 joined = shift == 1   ? int4{own.y, own.z, own.w, next.x}
                        : shift == 2 ? int4{own.z, own.w, next.x, next.y}
                                     : int4{own.w, next.x, next.y, next.z};
    const Column c = vector_column(first, t, lane);
    if (t == 0 && lane == 0) {  // the unit's head, before its first aligned address
      if (c < columns) destination[c] = own.x;
      if (shift > 1 && c + 1 < columns) destination[c + 1] = own.y;
      if (shift > 2 && c + 2 < columns) destination[c + 2] = own.z;
    }
    const Column aligned = c + shift;
    const bool last = t + 1 == kVectors && lane + 1 == kWarpSize;
    if (!last && aligned + kColumnsPerVector <= columns) {
      *reinterpret_cast<int4*>(destination + aligned) = joined;
    } else {
      // The end of the row, or the unit's last lane: its own tail only.
      const Column stop = last ? c + kColumnsPerVector : aligned + kColumnsPerVector;
      const Column end = stop < columns ? stop : columns;
      if (aligned < end) destination[aligned] = joined.x;
      if (aligned + 1 < end) destination[aligned + 1] = joined.y;
      if (aligned + 2 < end) destination[aligned + 2] = joined.z;
      if (aligned + 3 < end) destination[aligned + 3] = joined.w;
    }
  }
}

// real_page_table's columns [real_begin, real_end) of one row, each from
// source column c * page_size (just loaded by the warp, so read from cache).
__device__ __forceinline__ void store_real_columns(const Launch& launch, int32_t* destination,
                                                   const int32_t* __restrict__ source,
                                                   Column real_begin, Column real_end) {
  const Divisor& page_size = launch.page_size;
  for (Column c = real_begin + lane_id(); c < real_end; c += kWarpSize) {
    destination[c] = page_size.floor(__ldg(source + c * page_size.divisor()));
  }
}

// The rows of a request one copy writes: rows offset, offset + step, ...
// (every row: {0, 1}), so that a request's rows can be shared by warps.
struct RowSlice {
  int64_t offset;
  int64_t step;
};

// Row groups G = 2^shift for `items` work items of whole requests' rows: the
// most, up to 2^max_shift, that keep items * G within one pass of `warps`
// page warps (a warp's chain then holds fewer rows' stores; more groups than
// warps would only repeat the units' loads).
__device__ __forceinline__ int row_group_shift(uint64_t items, uint64_t warps, int max_shift) {
  int shift = 0;
  while (shift < max_shift && items << (shift + 1) <= warps) {
    ++shift;
  }
  return shift;
}

// Unit `unit` (of kVectors vectors a lane) of a request, into the
// slice's rows of the request (and, with kExtend, its flattened slots).
template <int kVectors, bool kExtend>
__device__ void copy_unit(const Launch& launch, const PageRequest& request, int64_t unit,
                          RowSlice slice) {
  const Buffers& buffers = launch.buffers;
  const Table& pages = buffers.page_table_1;
  const Table& real = buffers.real_page_table;
  const int32_t* source = request.source;
  const int64_t rows = request.rows;
  const int64_t first_row = request.first_row;
  const int64_t row_end = min_of(saturating_add(first_row, rows), buffers.page_row_limit());
  // The slice's first row, or none: a request after one whose rows saturate
  // the count starts at INT64_MAX, past every table, where adding the
  // slice's offset would overflow.
  const int64_t slice_begin = first_row < row_end ? first_row + slice.offset : row_end;
  constexpr int64_t kUnitColumns = unit_columns<kVectors>;
  const auto first = static_cast<Column>(unit * kUnitColumns);
  const int32_t kv_last = row_kv_len(request.top, 0);
  // Row j of the request sees `later` = rows - 1 - j fewer tokens than the last.
  const auto kv_of_row = [&](int64_t row) {
    return row_kv_len(request.top, rows - 1 - (row - first_row));
  };
  if (units_span_pages(launch)) {
    int4 values[kVectors];
    const auto span = static_cast<Column>(min_of(kv_last, copied_width(launch)));
    // The unit may only be needed for real_page_table's columns (span
    // ends before it): those are read from the source itself.
    if (first < span) {
      load_unit(source, first, span, values);
    }
    const Divisor& page_size = launch.page_size;
    const Column real_begin = page_size.divide_rounding_up(first);
    const Column real_unit_end =
        page_size.divide_rounding_up(static_cast<Column>(first + kUnitColumns));
    // With a page of at least 32 columns, the unit's real_page_table columns
    // are one per lane at most: each lane reads and divides its one value once
    // for all the rows (the last row reads the most of them).
    const bool real_by_lane = real.data != nullptr && real_unit_end - real_begin <= kWarpSize;
    const Column real_column = real_begin + lane_id();
    int32_t real_value = 0;
    if (real_by_lane &&
        real_column < min_of(real_unit_end, real_columns_for(real, kv_last, page_size))) {
      real_value = page_size.floor(__ldg(source + real_column * page_size.divisor()));
    }
    for (int64_t row = slice_begin; row < row_end; row += slice.step) {
      const int32_t kv = kv_of_row(row);
      const auto columns = static_cast<Column>(page_columns(pages, row, kv));
      if (first < columns) {
        store_unit(pages.data + row * pages.row_stride, first, columns, values);
      }
      if (real.data == nullptr) {
        continue;
      }
      const auto real_columns =
          static_cast<Column>(real_page_columns(real, row, kv, launch.page_size));
      const Column real_end = real_unit_end < real_columns ? real_unit_end : real_columns;
      if (!real_by_lane) {
        store_real_columns(launch, real.data + row * real.row_stride, source, real_begin, real_end);
      } else if (real_column < real_end) {
        real.data[row * real.row_stride + real_column] = real_value;
      }
    }
    // The request's flattened slots, once (by the warp of the first rows).
    const Vector& flattened = buffers.page_table_1_flattened;
    if (kExtend && flattened.present() && slice.offset == 0) {
      const auto columns = static_cast<Column>(
          flattened_columns(flattened, launch.tokens, request.kv_before, request.top));
      if (first < columns) {
        store_unit_realigned(flattened.data + request.kv_before, first, columns, values);
      }
    }
  } else {
    const Column real_end = first + kUnitColumns;
    for (int64_t row = slice_begin; row < row_end; row += slice.step) {
      const auto real_columns =
          static_cast<Column>(real_page_columns(real, row, kv_of_row(row), launch.page_size));
      store_real_columns(launch, real.data + row * real.row_stride, source, first,
                         real_end < real_columns ? real_end : real_columns);
    }
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

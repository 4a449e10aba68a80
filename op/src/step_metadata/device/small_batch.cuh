// The step-metadata kernel for the smallest calls with N rows a request:
// decode, target-verify and static draft-extend of at most kWarpBatch
// requests whose rows and row vectors hold at most kSmallBatchRows
// positions. Such a call's time is one warp's chain of dependent
// instructions, so each warp here runs the shortest one it can, reading only
// the packed parameters (SmallBatch, launch_params.cuh):
//
// - warp 0 writes every vector: lane k loads request k's length and writes
//   its per-request outputs, then computes a few consecutive rows side by
//   side (a row's request is row / N, its top a shuffle away); one scan of
//   the lanes' sums gives every row's running sum of nsa_cache_seqlens (no
//   closed-form sums, no search for a row's request);
// - every later warp copies one work item, where the call's items fit one
//   pass of the page warps and its tables allow (SmallBatch::lean_pages):
//   one unit of one row, or where the rows' items do not fit, one unit of
//   one request stored into each of its rows (one warp's chain then holds N
//   rows' stores: on an H200 that way at every size, target-verify at bs 1
//   took 3.4 us of GPU time against 2.3 with a row a warp); otherwise the
//   page warps copy as the warp-batch kernel's do (warp_batch.cuh), which
//   bounds a warp's work by bytes in flight rather than by its chain.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/device/copy_unit.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/device/warp_batch.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

// A request's top (the KV tokens its last row sees, seq_len + top_offset,
// saturating) capped at kTopCap, in 32 bits: its rows see top - later for
// later < kSmallBatchRows, so every top at or past the cap gives each row
// INT32_MAX, as row_kv_len does, and a top at or below 0 gives none.
constexpr int64_t kTopCap = kInt32Max + kSmallBatchRows;

__device__ __forceinline__ uint32_t capped_top(const SmallBatch& small, int64_t seq_len) {
  const int64_t top = seq_len < kTopCap ? seq_len + small.top_offset : kTopCap;
  return static_cast<uint32_t>(clamp_to(top, 0, kTopCap));
}

// row_kv_len for a capped top.
__device__ __forceinline__ int32_t capped_row_kv(uint32_t top, uint32_t later) {
  return top > later ? static_cast<int32_t>(min_of(top - later, kInt32Max)) : 0;
}

// Row `row`'s request, and the rows after it in that request.
struct RowOwner {
  uint32_t request;
  uint32_t later;
};

template <RowShape kRows>
__device__ __forceinline__ RowOwner row_owner(const SmallBatch& small, uint32_t row) {
  if constexpr (kRows == RowShape::kOne) {
    return {row, 0};
  } else {
    const uint32_t request = small.rows_per_request.divide(row);
    return {request, (request + 1) * small.rows_per_request.divisor() - 1 - row};
  }
}

template <RowShape kRows>
__device__ void write_small_batch_vectors(const SmallBatch& small) {
  const int lane = lane_id();
  const bool has_request = lane < small.batch_size;
  const uint32_t top = has_request ? capped_top(small, small.seq_lens[lane]) : 0;
  const int32_t kv = capped_row_kv(top, 0);  // cache_seqlens: the last row's
  if (has_request) {
    if (small.cache_seqlens != nullptr) {
      small.cache_seqlens[lane] = kv;
    }
    if (small.paged_mqa_context_lens != nullptr) {
      int32_t* context_lens =
          small.paged_mqa_context_lens + lane * small.paged_mqa_context_lens_stride;
      for (uint32_t column = 0; column < small.rows_per_request.divisor(); ++column) {
        context_lens[column] = kv;
      }
    }
  }
  if (small.cu_seqlens_k != nullptr) {
    const int32_t kv_through = inclusive_sum_32(kv);
    if (has_request) {
      small.cu_seqlens_k[lane + 1] = kv_through;
    }
    if (lane == 0) {
      small.cu_seqlens_k[0] = 0;
    }
  }
  if (lane == 0) {
    small.nsa_cu_seqlens_k.set(0, 0);
    small.num_tokens.set(small.rows);
  }
  // Lane l writes the rows_per_lane rows from l * rows_per_lane on, whose
  // KV lengths it computes side by side: one scan of its sums then serves
  // them all. Rows past the batch's are the tail: no tokens, so zeros, and
  // nsa_cu_seqlens_k repeats the total.
  const uint32_t first_row = lane * small.rows_per_lane;
  int32_t row_kv[kSmallBatchRowsPerLane];
  int32_t selected[kSmallBatchRowsPerLane];
  int32_t lane_topk = 0;
#pragma unroll
  for (uint32_t k = 0; k < kSmallBatchRowsPerLane; ++k) {
    const uint32_t row = first_row + k;
    const RowOwner owner = row_owner<kRows>(small, row);
    const uint32_t row_top = __shfl_sync(kFullWarp, top, owner.request % kWarpSize);
    row_kv[k] = k < small.rows_per_lane && row < small.rows ? capped_row_kv(row_top, owner.later)
                                                            : 0;
    selected[k] = pooled_topk_len(row_kv[k], small.nsa_index_topk, small.index_kpool);
    lane_topk = saturating_add_32(lane_topk, selected[k]);
  }
  const int32_t lanes_through = inclusive_sum_32(lane_topk);
  const int32_t lanes_before = __shfl_up_sync(kFullWarp, lanes_through, 1);
  int32_t topk_through = lane > 0 ? lanes_before : 0;
#pragma unroll
  for (uint32_t k = 0; k < kSmallBatchRowsPerLane; ++k) {
    if (k < small.rows_per_lane) {
      const uint32_t row = first_row + k;
      small.seqlens_expanded.set(row, row_kv[k]);
      small.nsa_cache_seqlens.set(row, selected[k]);
      topk_through = saturating_add_32(topk_through, selected[k]);
      small.nsa_cu_seqlens_k.set(row + 1, topk_through);
    }
  }
}

// Units of a request's source its rows copy, from its top: the columns of
// page_table_1 its last row writes and the sources of its real_page_table
// columns (units_of's count, for a call with page_table_1).
__device__ __forceinline__ uint32_t small_batch_units(const SmallBatch& small, uint32_t top) {
  const auto kv = static_cast<uint32_t>(capped_row_kv(top, 0));
  Column span = kv < small.page_table_1_columns ? kv : small.page_table_1_columns;
  if (small.real_page_table != nullptr) {
    const Column real_columns =
        min_of(small.page_size.divide_rounding_up(kv), small.real_page_table_columns);
    span = max_of(span, real_source_span(real_columns, small.page_size.divisor()));
  }
  return static_cast<uint32_t>(ceil_div(span, unit_columns<kShortVectorsPerLane>));
}

// One unit of a request's source as a warp holds it: page_table_1's columns
// below the widest row it is stored into, and this lane's real_page_table
// column of the unit (one at most: kSmallBatchPageSize).
struct SmallUnit {
  int4 values[kShortVectorsPerLane];
  Column first;
  Column real_column;
  Column real_unit_end;
  int32_t real_value;
};

__device__ __forceinline__ Column small_real_end(const SmallBatch& small, const SmallUnit& unit,
                                                 Column kv) {
  return min_of(unit.real_unit_end,
                min_of(small.page_size.divide_rounding_up(kv), small.real_page_table_columns));
}

// Loads unit `index` for rows of at most kv_widest tokens. The loads come
// first, the stores (store_small_unit) after them: one wait on memory.
__device__ __forceinline__ SmallUnit load_small_unit(const SmallBatch& small,
                                                     const int32_t* source, uint32_t index,
                                                     Column kv_widest) {
  SmallUnit unit;
  unit.first = static_cast<Column>(index * unit_columns<kShortVectorsPerLane>);
  const Column span = min_of(kv_widest, small.page_table_1_columns);
  if (unit.first < span) {
    load_unit(source, unit.first, span, unit.values);
  }
  const Divisor& page_size = small.page_size;
  unit.real_column = page_size.divide_rounding_up(unit.first) + lane_id();
  unit.real_unit_end = page_size.divide_rounding_up(
      static_cast<Column>(unit.first + unit_columns<kShortVectorsPerLane>));
  unit.real_value = 0;
  if (small.real_page_table != nullptr &&
      unit.real_column < small_real_end(small, unit, kv_widest)) {
    unit.real_value = page_size.floor(__ldg(source + unit.real_column * page_size.divisor()));
  }
  return unit;
}

// Into row `row` (of the tables' rows: the host checks that they hold the
// batch's), up to its kv tokens.
__device__ __forceinline__ void store_small_unit(const SmallBatch& small, const SmallUnit& unit,
                                                 uint32_t row, Column kv) {
  const Column columns = min_of(kv, small.page_table_1_columns);
  if (unit.first < columns) {
    store_unit(small.page_table_1 + row * small.page_table_1_stride, unit.first, columns,
               unit.values);
  }
  if (small.real_page_table != nullptr && unit.real_column < small_real_end(small, unit, kv)) {
    small.real_page_table[row * small.real_page_table_stride + unit.real_column] =
        unit.real_value;
  }
}

template <RowShape kRows>
__device__ void copy_small_batch_pages(const Launch& launch, int64_t page_warp,
                                       int64_t page_warps) {
  const SmallBatch& small = launch.small;
  if (!small.lean_pages) {
    copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
    return;
  }
  const int lane = lane_id();
  uint32_t top = 0;
  const int32_t* source = nullptr;
  uint32_t units = 0;
  if (lane < small.batch_size) {
    const IndexVector::Loaded seq_len = small.seq_lens.load(lane);
    const IndexVector::Loaded pool = small.req_pool_indices.load(lane);
    top = capped_top(small, small.seq_lens.value(seq_len));
    const int64_t pool_index = small.req_pool_indices.value(pool);
    if (pool_index >= 0 && pool_index < small.token_rows) {
      source = small.tokens + pool_index * small.token_stride;
      units = small_batch_units(small, top);
    }
  }
  const uint32_t live_units = __reduce_max_sync(kFullWarp, units);
  const auto item = static_cast<uint32_t>(page_warp);
  const auto shuffled_source = [&](uint32_t i) {
    return reinterpret_cast<const int32_t*>(
        __shfl_sync(kFullWarp, reinterpret_cast<uintptr_t>(source), i));
  };
  if (uint64_t{small.rows} * live_units <= static_cast<uint64_t>(page_warps)) {
    // A row a warp, unit-major: item = unit * rows + row.
    const uint32_t unit = small.rows_divisor.divide(item);
    if (unit >= live_units) {
      return;  // Also an empty batch.
    }
    const uint32_t row = item - unit * small.rows;
    const RowOwner owner = row_owner<kRows>(small, row);
    const uint32_t request_top = __shfl_sync(kFullWarp, top, owner.request);
    const int32_t* request_source = shuffled_source(owner.request);
    if (unit >= __shfl_sync(kFullWarp, units, owner.request)) {
      return;  // Also a request whose pool index lies outside req_to_token.
    }
    const auto kv = static_cast<Column>(capped_row_kv(request_top, owner.later));
    store_small_unit(small, load_small_unit(small, request_source, unit, kv), row, kv);
    return;
  }
  const auto batch_size = static_cast<uint32_t>(small.batch_size);
  if (uint64_t{batch_size} * live_units <= static_cast<uint64_t>(page_warps)) {
    // A request a warp, unit-major: item = unit * batch_size + i.
    const uint32_t unit = small.batch_size_divisor.divide(item);
    if (unit >= live_units) {
      return;
    }
    const uint32_t i = item - unit * batch_size;
    const uint32_t request_top = __shfl_sync(kFullWarp, top, i);
    const int32_t* request_source = shuffled_source(i);
    if (unit >= __shfl_sync(kFullWarp, units, i)) {
      return;
    }
    const SmallUnit loaded =
        load_small_unit(small, request_source, unit, capped_row_kv(request_top, 0));
    const uint32_t rows = small.rows_per_request.divisor();
    for (uint32_t j = 0; j < rows; ++j) {
      store_small_unit(small, loaded, i * rows + j, capped_row_kv(request_top, rows - 1 - j));
    }
    return;
  }
  copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
}

}  // namespace nsa_metadata::step_metadata::cuda

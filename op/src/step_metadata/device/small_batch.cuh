// The step-metadata kernel for the smallest calls: decode, target-verify and
// draft-extend (static or with extend_seq_lens) of at most kWarpBatch
// requests whose row vectors hold at most kSmallBatchRows positions. Such a call's time is one warp's chain of dependent
// instructions, so each warp here runs the shortest one it can, reading
// only the packed parameters (SmallBatch, launch_params.cuh):
//
// - warp 0 writes every vector: lane k loads request k's length; its per-
//   request outputs come from that lane; each lane then computes a few
//   consecutive rows side by side (their request's shape from shuffles: a
//   row's request is row / N for N rows a request, else found by a search
//   over the lanes' first rows), and one scan of the lanes' sums gives every
//   row's running sum of nsa_cache_seqlens (no closed-form sums);
// - every later warp copies one work item: one unit of one request into one
//   of its rows (a unit's source is read from DRAM once and from L2 by the
//   request's other rows), where the call's items fit one pass of the page
//   warps and its tables allow (SmallBatch::lean_pages); otherwise the page
//   warps copy as the warp-batch kernel's do (warp_batch.cuh), which bounds
//   the work of a warp by bytes in flight rather than by its chain.
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
// saturating) capped at kTopCap, in 32 bits, for N rows a request: its rows
// see top - later for later < kSmallBatchRows, so every top at or past the
// cap gives each row INT32_MAX, as row_kv_len does, and a top at or below 0
// gives none.
constexpr int64_t kTopCap = kInt32Max + kSmallBatchRows;

__device__ __forceinline__ uint32_t capped_top(const SmallBatch& small, int64_t seq_len) {
  const int64_t top = seq_len < kTopCap ? seq_len + small.top_offset : kTopCap;
  return static_cast<uint32_t>(clamp_to(top, 0, kTopCap));
}

// row_kv_len for a capped top.
__device__ __forceinline__ int32_t capped_row_kv(uint32_t top, uint32_t later) {
  return top > later ? static_cast<int32_t>(min_of(top - later, kInt32Max)) : 0;
}

// Lane k's request (none past the batch), as every warp loads it. With N
// rows a request, its capped top; with extend_seq_lens, its top and rows
// as read (a row sees top - later tokens for any later up to its rows), and
// the rows before it (the requests' row counts clamped to
// kWarpBatchRowLimit: exact where a row position can be below
// kSmallBatchRows, and 32 of them add up in 32 bits).
struct SmallRequest {
  uint32_t top;       // N rows a request
  int64_t wide_top;   // extend_seq_lens
  int64_t rows;       // extend_seq_lens
  int32_t first_row;  // extend_seq_lens
};

template <RowShape kRows>
__device__ __forceinline__ SmallRequest load_small_request(const SmallBatch& small) {
  const int lane = lane_id();
  SmallRequest request{0, 0, 0, 0};
  if constexpr (kRows == RowShape::kVariable) {
    if (lane < small.batch_size) {
      const IndexVector::Loaded seq_len = small.seq_lens.load(lane);
      const IndexVector::Loaded extend_seq_len = small.extend_seq_lens.load(lane);
      request.wide_top = saturating_offset(small.seq_lens.value(seq_len), small.top_offset);
      request.rows = rows_of(small.extend_seq_lens.value(extend_seq_len));
    }
    const auto clamped_rows = static_cast<int32_t>(min_of(request.rows, kWarpBatchRowLimit));
    request.first_row = inclusive_sum_32(clamped_rows) - clamped_rows;
  } else {
    if (lane < small.batch_size) {
      request.top = capped_top(small, small.seq_lens[lane]);
    }
  }
  return request;
}

// The KV tokens of the request's last row: cache_seqlens.
template <RowShape kRows>
__device__ __forceinline__ int32_t last_row_kv(const SmallRequest& request) {
  if constexpr (kRows == RowShape::kVariable) {
    return row_kv_len(request.wide_top, 0);
  } else {
    return capped_row_kv(request.top, 0);
  }
}

// Row `row` of the batch: the lane of its request, and its KV tokens (0 for
// a position past the batch's rows). Every lane of the warp calls it.
struct SmallRow {
  uint32_t owner;
  int32_t kv;
};

template <RowShape kRows>
__device__ __forceinline__ SmallRow small_row(const SmallBatch& small,
                                              const SmallRequest& request, uint32_t row) {
  if constexpr (kRows == RowShape::kVariable) {
    const auto owner = static_cast<uint32_t>(owner_lane(request.first_row, static_cast<int32_t>(row)));
    const int64_t j = row - __shfl_sync(kFullWarp, request.first_row, owner);
    const int64_t rows = __shfl_sync(kFullWarp, request.rows, owner);
    const int64_t top = __shfl_sync(kFullWarp, request.wide_top, owner);
    return {owner, j < rows ? row_kv_len(top, rows - 1 - j) : 0};
  } else {
    uint32_t owner = row;
    uint32_t later = 0;
    if constexpr (kRows == RowShape::kFixed) {
      owner = small.rows_per_request.divide(row);
      later = (owner + 1) * small.rows_per_request.divisor() - 1 - row;
    }
    owner %= kWarpSize;  // past the batch's rows: any lane
    const uint32_t top = __shfl_sync(kFullWarp, request.top, owner);
    return {owner, row < small.rows ? capped_row_kv(top, later) : 0};
  }
}

template <RowShape kRows>
__device__ void write_small_batch_vectors(const SmallBatch& small) {
  const int lane = lane_id();
  const bool has_request = lane < small.batch_size;
  const SmallRequest request = load_small_request<kRows>(small);
  const int32_t kv = last_row_kv<kRows>(request);
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
  int64_t total_rows = small.rows;
  if constexpr (kRows == RowShape::kVariable) {
    total_rows = small.num_tokens.data != nullptr ? warp_total(request.rows) : 0;
  }
  if (lane == 0) {
    small.nsa_cu_seqlens_k.set(0, 0);
    small.num_tokens.set(total_rows);
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
    const int32_t kv_of_row = small_row<kRows>(small, request, first_row + k).kv;
    row_kv[k] = k < small.rows_per_lane ? kv_of_row : 0;
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

// Units of a request's source its rows copy, from its last row's KV tokens:
// the columns of page_table_1 that row writes and the sources of its
// real_page_table columns (units_of's count, for a call with page_table_1).
__device__ __forceinline__ uint32_t small_batch_units(const SmallBatch& small, int32_t kv_last) {
  const auto kv = static_cast<uint32_t>(kv_last);
  Column span = kv < small.page_table_1_columns ? kv : small.page_table_1_columns;
  if (small.real_page_table != nullptr) {
    const Column real_columns = min_of(small.page_size.divide_rounding_up(kv),
                                       small.real_page_table_columns);
    span = max_of(span, real_source_span(real_columns, small.page_size.divisor()));
  }
  return static_cast<uint32_t>(ceil_div(span, unit_columns<kShortVectorsPerLane>));
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
  const IndexVector::Loaded pool =
      lane < small.batch_size ? small.req_pool_indices.load(lane) : IndexVector::Loaded{-1, -1};
  const SmallRequest request = load_small_request<kRows>(small);
  const int64_t pool_index = small.req_pool_indices.value(pool);
  const int32_t* source = nullptr;
  uint32_t units = 0;
  if (pool_index >= 0 && pool_index < small.token_rows) {
    source = small.tokens + pool_index * small.token_stride;
    if (kRows != RowShape::kVariable || request.rows > 0) {
      units = small_batch_units(small, last_row_kv<kRows>(request));
    }
  }
  const uint32_t live_units = __reduce_max_sync(kFullWarp, units);
  if (uint64_t{small.page_rows} * live_units > static_cast<uint64_t>(page_warps)) {
    copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
    return;
  }
  // One item a warp, unit-major: item = unit * page_rows + row.
  const auto item = static_cast<uint32_t>(page_warp);
  const uint32_t unit = small.page_rows_divisor.divide(item);
  if (unit >= live_units) {
    return;  // Also an empty batch.
  }
  const uint32_t row = item - unit * small.page_rows;
  const SmallRow site = small_row<kRows>(small, request, row);
  const auto* request_source = reinterpret_cast<const int32_t*>(
      __shfl_sync(kFullWarp, reinterpret_cast<uintptr_t>(source), site.owner));
  if (unit >= __shfl_sync(kFullWarp, units, site.owner)) {
    return;  // Also a request whose pool index lies outside req_to_token.
  }
  const auto kv = static_cast<Column>(site.kv);
  const auto columns = static_cast<Column>(
      row < small.page_table_1_rows ? min_of(kv, small.page_table_1_columns) : 0);
  const auto first = static_cast<Column>(unit * unit_columns<kShortVectorsPerLane>);
  // Both loads first, then both stores: one wait on memory.
  int4 values[kShortVectorsPerLane];
  if (first < columns) {
    load_unit(request_source, first, columns, values);
  }
  const Divisor& page_size = small.page_size;
  Column real_column = 0;
  Column real_end = 0;
  int32_t real_value = 0;
  if (small.real_page_table != nullptr && row < small.real_page_table_rows) {
    // At most one column a lane (kSmallBatchPageSize).
    real_column = page_size.divide_rounding_up(first) + lane;
    real_end = min_of(
        page_size.divide_rounding_up(static_cast<Column>(first + unit_columns<kShortVectorsPerLane>)),
        min_of(page_size.divide_rounding_up(kv), small.real_page_table_columns));
    if (real_column < real_end) {
      real_value = page_size.floor(__ldg(request_source + real_column * page_size.divisor()));
    }
  }
  if (first < columns) {
    store_unit(small.page_table_1 + row * small.page_table_1_stride, first, columns, values);
  }
  if (real_column < real_end) {
    small.real_page_table[row * small.real_page_table_stride + real_column] = real_value;
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

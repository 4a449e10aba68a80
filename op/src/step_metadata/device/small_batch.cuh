// The step-metadata kernel for the smallest calls: decode, target-verify and
// draft-extend (static or with extend_seq_lens) of at most kWarpBatch
// requests whose row vectors hold at most kSmallBatchRows positions. Such a
// call's time is one warp's chain of dependent instructions, so each warp
// here runs the shortest one it can, reading only the packed parameters
// (SmallBatch, launch_params.cuh):
//
// - warp 0 writes every vector: lane k loads request k's lengths, writes its
//   per-request outputs, and then, with N rows a request, computes a few
//   consecutive rows side by side (a row's request is row / N, its top a
//   shuffle away); with extend_seq_lens, walks its own request's rows. One
//   scan of the lanes' sums gives every row's running sum of
//   nsa_cache_seqlens (no closed-form sums, no search for a row's request);
// - every later warp copies one work item: one unit of one request, loaded
//   once and stored into each of the request's rows, where the call's items
//   fit one pass of the page warps and its tables allow
//   (SmallBatch::lean_pages); otherwise the page warps copy as the
//   warp-batch kernel's do (warp_batch.cuh), which bounds a warp's work by
//   bytes in flight rather than by its chain.
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
  uint32_t top;          // N rows a request
  int64_t wide_top;      // extend_seq_lens
  int64_t rows;          // extend_seq_lens
  int32_t clamped_rows;  // extend_seq_lens
};

template <RowShape kRows>
__device__ __forceinline__ SmallRequest load_small_request(const SmallBatch& small) {
  const int lane = lane_id();
  SmallRequest request{0, 0, 0, 0};
  if (lane < small.batch_size) {
    if constexpr (kRows == RowShape::kVariable) {
      const IndexVector::Loaded seq_len = small.seq_lens.load(lane);
      const IndexVector::Loaded extend_seq_len = small.extend_seq_lens.load(lane);
      request.wide_top = saturating_offset(small.seq_lens.value(seq_len), small.top_offset);
      request.rows = rows_of(small.extend_seq_lens.value(extend_seq_len));
      request.clamped_rows = static_cast<int32_t>(min_of(request.rows, kWarpBatchRowLimit));
    } else {
      request.top = capped_top(small, small.seq_lens[lane]);
    }
  }
  return request;
}

// The KV tokens of the row of request `request` with `later` rows after it.
template <RowShape kRows>
__device__ __forceinline__ int32_t small_row_kv(const SmallRequest& request, int64_t later) {
  if constexpr (kRows == RowShape::kVariable) {
    return row_kv_len(request.wide_top, later);
  } else {
    return capped_row_kv(request.top, static_cast<uint32_t>(later));
  }
}

// The request's rows, and the rows before request i (from the lanes' clamped
// counts with extend_seq_lens: every lane calls it).
template <RowShape kRows>
__device__ __forceinline__ int64_t small_request_rows(const SmallBatch& small,
                                                      const SmallRequest& request) {
  if constexpr (kRows == RowShape::kVariable) {
    return request.rows;
  } else {
    return small.rows_per_request.divisor();
  }
}

template <RowShape kRows>
__device__ __forceinline__ uint32_t small_rows_before(const SmallBatch& small,
                                                      const SmallRequest& request, uint32_t i) {
  if constexpr (kRows == RowShape::kVariable) {
    return __reduce_add_sync(kFullWarp, lane_id() < static_cast<int>(i)
                                            ? static_cast<uint32_t>(request.clamped_rows)
                                            : 0u);
  } else {
    return i * small.rows_per_request.divisor();
  }
}

// Lane i's request, in every lane.
template <RowShape kRows>
__device__ __forceinline__ SmallRequest shuffle_request(const SmallRequest& request, uint32_t i) {
  SmallRequest shuffled{0, 0, 0, 0};
  if constexpr (kRows == RowShape::kVariable) {
    shuffled.wide_top = __shfl_sync(kFullWarp, request.wide_top, i);
    shuffled.rows = __shfl_sync(kFullWarp, request.rows, i);
  } else {
    shuffled.top = __shfl_sync(kFullWarp, request.top, i);
  }
  return shuffled;
}

// The per-request outputs (cache_seqlens, cu_seqlens_k, paged_mqa_context_lens)
// from lane k's request, k < batch, and the heads of the sums.
__device__ __forceinline__ void write_small_requests(const SmallBatch& small, int32_t kv,
                                                     int64_t total_rows) {
  const int lane = lane_id();
  const bool has_request = lane < small.batch_size;
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
    small.num_tokens.set(total_rows);
  }
}

// Row vectors, N rows a request: lane l writes the rows_per_lane rows from
// l * rows_per_lane on, whose KV lengths it computes side by side (a row's
// request is row / N, its top a shuffle): one scan of the lanes' sums then
// serves them all. Rows past the batch's are the tail: no tokens, so zeros,
// and nsa_cu_seqlens_k repeats the total.
template <RowShape kRows>
__device__ void write_small_fixed_rows(const SmallBatch& small, const SmallRequest& request) {
  const int lane = lane_id();
  const uint32_t first_row = lane * small.rows_per_lane;
  int32_t row_kv[kSmallBatchRowsPerLane];
  int32_t selected[kSmallBatchRowsPerLane];
  int32_t lane_topk = 0;
#pragma unroll
  for (uint32_t k = 0; k < kSmallBatchRowsPerLane; ++k) {
    const uint32_t row = first_row + k;
    uint32_t owner = row;
    uint32_t later = 0;
    if constexpr (kRows == RowShape::kFixed) {
      owner = small.rows_per_request.divide(row);
      later = (owner + 1) * small.rows_per_request.divisor() - 1 - row;
    }
    const uint32_t top = __shfl_sync(kFullWarp, request.top, owner % kWarpSize);
    row_kv[k] = k < small.rows_per_lane && row < small.rows ? capped_row_kv(top, later) : 0;
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

// Row vectors, extend_seq_lens rows a request: lane k walks its request's
// rows below the row limit twice, summing nsa_cache_seqlens, then (after one
// scan of the sums) writing them; the lanes then write the tail past the
// batch's rows.
__device__ void write_small_variable_rows(const SmallBatch& small, const SmallRequest& request) {
  const int lane = lane_id();
  const int32_t rows_through = inclusive_sum_32(request.clamped_rows);
  const int32_t first_row = rows_through - request.clamped_rows;  // exact: see SmallRequest
  const auto limit = static_cast<int32_t>(small.row_limit);
  const int32_t rows_written =
      first_row < limit ? static_cast<int32_t>(min_of(request.clamped_rows, limit - first_row)) : 0;
  const auto selected_of = [&](int32_t j) {
    return pooled_topk_len(row_kv_len(request.wide_top, request.rows - 1 - j),
                           small.nsa_index_topk, small.index_kpool);
  };
  int32_t lane_topk = 0;
  for (int32_t j = 0; j < rows_written; ++j) {
    lane_topk = saturating_add_32(lane_topk, selected_of(j));
  }
  const int32_t lanes_through = inclusive_sum_32(lane_topk);
  const int32_t lanes_before = __shfl_up_sync(kFullWarp, lanes_through, 1);
  int32_t topk_through = lane > 0 ? lanes_before : 0;
  for (int32_t j = 0; j < rows_written; ++j) {
    const int32_t row = first_row + j;
    const int32_t kv = row_kv_len(request.wide_top, request.rows - 1 - j);
    const int32_t selected = pooled_topk_len(kv, small.nsa_index_topk, small.index_kpool);
    small.seqlens_expanded.set(row, kv);
    small.nsa_cache_seqlens.set(row, selected);
    topk_through = saturating_add_32(topk_through, selected);
    small.nsa_cu_seqlens_k.set(row + 1, topk_through);
  }
  // Past the batch's rows (all of them below the limit then, so the total
  // is the batch's).
  const int32_t batch_rows = __shfl_sync(kFullWarp, rows_through, kWarpSize - 1);
  const int32_t total_topk = __shfl_sync(kFullWarp, lanes_through, kWarpSize - 1);
  for (int32_t position = batch_rows + lane; position < limit; position += kWarpSize) {
    small.seqlens_expanded.set(position, 0);
    small.nsa_cache_seqlens.set(position, 0);
    small.nsa_cu_seqlens_k.set(position + 1, total_topk);
  }
}

template <RowShape kRows>
__device__ void write_small_batch_vectors(const SmallBatch& small) {
  const SmallRequest request = load_small_request<kRows>(small);
  if constexpr (kRows == RowShape::kVariable) {
    const int64_t total_rows = small.num_tokens.data != nullptr ? warp_total(request.rows) : 0;
    write_small_requests(small, small_row_kv<kRows>(request, 0), total_rows);
    write_small_variable_rows(small, request);
  } else {
    write_small_requests(small, small_row_kv<kRows>(request, 0), small.rows);
    write_small_fixed_rows<kRows>(small, request);
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

// Page warps: one work item each, unit-major (item = unit * batch_size + i):
// unit `unit` of request i, loaded once (page_table_1's columns of its last
// row, and each lane's real_page_table column of the unit, one at most:
// kSmallBatchPageSize), then stored into each of its rows up to the row's
// own KV length.
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
    if (small_request_rows<kRows>(small, request) > 0) {
      units = small_batch_units(small, small_row_kv<kRows>(request, 0));
    }
  }
  const uint32_t live_units = __reduce_max_sync(kFullWarp, units);
  const auto batch_size = static_cast<uint32_t>(small.batch_size);
  if (uint64_t{batch_size} * live_units > static_cast<uint64_t>(page_warps)) {
    copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
    return;
  }
  const auto item = static_cast<uint32_t>(page_warp);
  const uint32_t unit = small.batch_size_divisor.divide(item);
  if (unit >= live_units) {
    return;  // Also an empty batch.
  }
  const uint32_t i = item - unit * batch_size;
  const uint32_t first_row = small_rows_before<kRows>(small, request, i);  // every lane
  const SmallRequest mine = shuffle_request<kRows>(request, i);
  const auto* request_source = reinterpret_cast<const int32_t*>(
      __shfl_sync(kFullWarp, reinterpret_cast<uintptr_t>(source), i));
  if (unit >= __shfl_sync(kFullWarp, units, i)) {
    return;  // Also a request whose pool index lies outside req_to_token.
  }
  const int64_t rows = small_request_rows<kRows>(small, mine);
  const auto kv_last = static_cast<Column>(small_row_kv<kRows>(mine, 0));
  const auto first = static_cast<Column>(unit * unit_columns<kShortVectorsPerLane>);
  const Column span = min_of(kv_last, small.page_table_1_columns);
  int4 values[kShortVectorsPerLane];
  if (first < span) {
    load_unit(request_source, first, span, values);
  }
  const Divisor& page_size = small.page_size;
  const Column real_column = page_size.divide_rounding_up(first) + lane;
  const Column real_unit_end =
      page_size.divide_rounding_up(static_cast<Column>(first + unit_columns<kShortVectorsPerLane>));
  int32_t real_value = 0;
  if (small.real_page_table != nullptr &&
      real_column < min_of(real_unit_end, min_of(page_size.divide_rounding_up(kv_last),
                                                 small.real_page_table_columns))) {
    real_value = page_size.floor(__ldg(request_source + real_column * page_size.divisor()));
  }
  // Row j sees rows - 1 - j fewer tokens than the last; rows past a table's
  // rows are not written.
  const int64_t row_end = min_of(first_row + rows, small.page_rows);
  for (int64_t row = first_row; row < row_end; ++row) {
    const auto kv = static_cast<Column>(small_row_kv<kRows>(mine, rows - 1 - (row - first_row)));
    if (row < small.page_table_1_rows) {
      const Column columns = min_of(kv, small.page_table_1_columns);
      if (first < columns) {
        store_unit(small.page_table_1 + row * small.page_table_1_stride, first, columns, values);
      }
    }
    if (small.real_page_table != nullptr && row < small.real_page_table_rows &&
        real_column < min_of(real_unit_end, min_of(page_size.divide_rounding_up(kv),
                                                   small.real_page_table_columns))) {
      small.real_page_table[row * small.real_page_table_stride + real_column] = real_value;
    }
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

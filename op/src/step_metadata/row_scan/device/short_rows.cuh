// The rows of short requests (at most kDirectMaxTokens tokens), in 32 bits:
// stored straight from each request's thread, or staged in shared memory and
// copied out in aligned groups of 4 rows.
#pragma once

#include "step_metadata/row_scan/device/requests.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

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

  // The selection where the caller knows index_kpool is 1.
  __device__ __forceinline__ int32_t unpooled(int32_t expanded) const {
    return min(expanded, topk);
  }

  __device__ __forceinline__ int32_t operator()(int32_t expanded) const {
    return index_kpool == 1 ? unpooled(expanded)
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
  // A request whose KV cache holds its new tokens (base >= 0) and ends at
  // least kDirectMaxTokens short of INT32_MAX has no clamped row, so base + j
  // needs none of small_kv_len's min and max.
  if (base >= 0 && base <= static_cast<int32_t>(kInt32Max) - kDirectMaxTokens) {
    for (int32_t j = 0; j < tokens; ++j) {
      const int32_t expanded = base + j;
      store(j, expanded, selected(expanded));
    }
    return;
  }
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

// Copies the staged groups of rows [first, end) from the staged origin, each
// nsa_cache_seqlens value from select(seqlens_expanded).
template <int kRequests, typename Select>
__device__ __forceinline__ void write_staged_groups(const StagedRows<kRequests>& staged,
                                                    const RowSpan<int32_t>& expanded_rows,
                                                    const RowSpan<int32_t>& cached_rows,
                                                    int32_t first, int32_t end,
                                                    const Select& select) {
  for (int32_t group_row = kRowsPerGroup * static_cast<int32_t>(threadIdx.x); group_row < end;
       group_row += kRowsPerGroup * kThreads) {
    const int32_t row_begin = max(group_row, first);
    const int32_t row_end = min(group_row + kRowsPerGroup, end);
    const int4 vector = *reinterpret_cast<const int4*>(staged.expanded + group_row);
    const int32_t expanded[kRowsPerGroup] = {vector.x, vector.y, vector.z, vector.w};
    const int32_t cached[kRowsPerGroup] = {select(vector.x), select(vector.y), select(vector.z),
                                           select(vector.w)};
    store_group(expanded_rows, group_row, row_begin, row_end, expanded);
    store_group(cached_rows, group_row, row_begin, row_end, cached);
  }
}

// Copies rows [tile_row, tile_end) (already bounded by the row limit) out of
// shared memory; staged values outside that range are never stored. A tile
// spans fewer rows than the staging buffer, so all the row arithmetic is
// 32-bit, from the staged origin. index_kpool is decided once per tile, not
// per row: without pools the selection is a bare min.
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
  if (selected.index_kpool == 1) {
    write_staged_groups(staged, expanded_rows, cached_rows, first, end,
                        [selected](int32_t expanded) { return selected.unpooled(expanded); });
  } else {
    write_staged_groups(staged, expanded_rows, cached_rows, first, end, selected);
  }
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

// The row vectors of kRowsPerGroup consecutive rows as one thread writes
// them (common/row_groups.cuh): their values side by side, then one 16-byte
// store per vector where the group is whole and the buffer aligned, as the
// block kernel's vector blocks write the rows of long requests.
//
// nsa_cu_seqlens_k is stored shifted: position `row` holds the sum of
// nsa_cache_seqlens through the row before, so that a group's four
// positions [group_row, group_row + 4) line up with its other vectors' and
// take one aligned store instead of four scalar ones. The position past a
// run of rows is then the last group's to write (`writes_end_position`), one
// scalar store.
#pragma once

#include "common/row_groups.cuh"
#include "step_metadata/buffers.h"
#include "step_metadata/device/policy.cuh"

#include <cstdint>
#include <limits>

namespace nsa_metadata::step_metadata::cuda {

// A group's values, row k at index k; rows outside the group's range keep
// whatever they hold (the stores skip them).
struct RowGroup {
  int32_t expanded[kRowsPerGroup];   // seqlens_expanded
  int32_t selected[kRowsPerGroup];   // nsa_cache_seqlens
  int32_t cu_before[kRowsPerGroup];  // nsa_cu_seqlens_k at the row: the sum through the row before
  int32_t request[kRowsPerGroup];    // token_to_batch_idx
  int32_t starts[kRowsPerGroup];     // indexer_k_start
  int32_t ends[kRowsPerGroup];       // indexer_k_end
};

// A row vector as a span of `Count`-indexed rows (a 32-bit Count for rows
// below INT32_MAX: Count's arithmetic is the caller's).
template <typename Count>
__device__ __forceinline__ nsa_metadata::cuda::RowSpan<Count> span_of(const Vector& vector) {
  const int64_t most = static_cast<int64_t>(std::numeric_limits<Count>::max());
  return {vector.data, static_cast<Count>(vector.capacity < most ? vector.capacity : most),
          aligned_16(vector.data)};
}

template <typename Count>
__device__ __forceinline__ void store_vector(const Vector& vector, Count group_row,
                                             Count row_begin, Count row_end,
                                             const int32_t (&values)[kRowsPerGroup]) {
  if (vector.present()) {
    nsa_metadata::cuda::store_group(span_of<Count>(vector), group_row, row_begin, row_end,
                                    values);
  }
}

// Rows [row_begin, row_end) of the group at group_row. With
// `writes_end_position`, nsa_cu_seqlens_k's position row_end (the sum through
// row_end - 1) takes `cu_end` too.
template <bool kExtend, typename Count>
__device__ __forceinline__ void store_row_group(const Buffers& buffers, Count group_row,
                                                Count row_begin, Count row_end,
                                                const RowGroup& group, bool writes_end_position,
                                                int32_t cu_end) {
  store_vector(buffers.seqlens_expanded, group_row, row_begin, row_end, group.expanded);
  store_vector(buffers.nsa_cache_seqlens, group_row, row_begin, row_end, group.selected);
  store_vector(buffers.nsa_cu_seqlens_k, group_row, row_begin, row_end, group.cu_before);
  if (writes_end_position) {
    buffers.nsa_cu_seqlens_k.set(row_end, cu_end);
  }
  if (kExtend) {
    store_vector(buffers.token_to_batch_idx, group_row, row_begin, row_end, group.request);
    store_vector(buffers.indexer_k_start, group_row, row_begin, row_end, group.starts);
    store_vector(buffers.indexer_k_end, group_row, row_begin, row_end, group.ends);
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

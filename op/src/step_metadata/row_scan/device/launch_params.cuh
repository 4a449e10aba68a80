// What one launch of the row-scan kernels knows: the batch,
// the buffers, and each block's chunk of requests.
#pragma once

#include "step_metadata/row_scan/device/policy.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

struct Launch {
  int64_t batch_size;
  int64_t extend_stride;
  int64_t seq_stride;
  int64_t requests_per_block;
  int64_t nsa_index_topk;
  int64_t index_kpool;
  RowBuffer seqlens_expanded;
  RowBuffer nsa_cache_seqlens;
  // extend_seq_lens is int32, contiguous and 16-byte aligned: the direct
  // path reads it four requests per load.
  bool extend_vector_loads;
};

// Rows at or past both capacities are never written, which also bounds the
// work when a length is huge.
__device__ __forceinline__ int64_t row_limit_of(const Launch& launch) {
  return max_of(launch.seqlens_expanded.capacity, launch.nsa_cache_seqlens.capacity);
}

__device__ __forceinline__ int64_t chunk_begin_of(const Launch& launch, int64_t block) {
  return min_of(block * launch.requests_per_block, launch.batch_size);
}

__device__ __forceinline__ int64_t chunk_end_of(const Launch& launch, int64_t chunk_begin) {
  return min_of(chunk_begin + launch.requests_per_block, launch.batch_size);
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

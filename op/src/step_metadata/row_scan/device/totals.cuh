// What the grid writes about the batch as a whole: num_tokens, and the
// zeroed tails of both buffers.
#pragma once

#include "step_metadata/row_scan/device/launch_params.cuh"
#include "step_metadata/row_scan/token_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

// Zeroes [total, capacity) of both buffers, spread over the whole grid.
__device__ __forceinline__ void zero_tails(const Launch& launch, int64_t total) {
  zero_rows_from(launch.seqlens_expanded, total);
  zero_rows_from(launch.nsa_cache_seqlens, total);
}

template <typename count_t>
__device__ __forceinline__ void write_total(count_t* num_tokens, int64_t total) {
  if (num_tokens != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
    *num_tokens = narrow_total<count_t>(total);
  }
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

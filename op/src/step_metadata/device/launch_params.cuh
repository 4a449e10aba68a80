// What one launch of the step-metadata kernel knows: the model of the
// batch, the token table, the output buffers and the grid's plan.
#pragma once

#include "common/index_vector.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

struct Launch {
  Model model;
  int64_t batch_size;
  IndexVector req_pool_indices;
  TokenTable tokens;
  int64_t page_size;
  Buffers buffers;
  int64_t request_units;  // page-copy units of one request's widest row, from the widths
  // The warp-batch kernel's plan: its first warps write the vectors; the
  // rows of a request are shared by 2^row_group_shift warps.
  int32_t vector_warps;
  int32_t row_group_shift;
  // The block kernel's plan:
  int64_t requests_per_chunk;
  int64_t chunks;       // runs of requests, each written by row_splits vector blocks
  int64_t row_splits;   // the vector blocks (chunks * row_splits) come first in the grid
  int64_t page_blocks;  // page-copy blocks, after them
};

}  // namespace nsa_metadata::step_metadata::cuda

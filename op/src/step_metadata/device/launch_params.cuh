// What one launch of the step-metadata kernel knows: the model of the
// batch, the token table, the output buffers and the grid's plan.
#pragma once

#include "common/divisor.h"
#include "common/index_vector.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

// The rows of every request of a call: the warp-batch kernel is compiled
// once for each.
enum class RowShape {
  kOne,       // one row, which sees the request's KV length (decode)
  kFixed,     // N rows (target-verify, static draft-extend)
  kVariable,  // extend_seq_lens[i] rows (draft-extend, extend)
};

struct Launch {
  Model model;
  int64_t batch_size;
  IndexVector req_pool_indices;
  TokenTable tokens;
  Divisor page_size;
  Buffers buffers;
  int64_t request_units;  // page-copy units of one request's widest row, from the widths
  // Whether the outputs read the running sums of the KV lengths and of
  // nsa_cache_seqlens (Buffers::needs_kv_sums, needs_topk_sums): the vector
  // blocks compute only those.
  bool sum_kv;
  bool sum_topk;
  // The warp-batch kernel's plan: its first warps write the vectors; the
  // rows of a request are shared by up to 2^max_row_group_shift warps; its
  // work items are divided by the batch size.
  Divisor batch_size_divisor;
  int32_t vector_warps;
  int32_t max_row_group_shift;
  // The block kernel's plan:
  int64_t requests_per_chunk;
  int64_t chunks;       // runs of requests, each written by row_splits vector blocks
  int64_t row_splits;   // the vector blocks (chunks * row_splits) come first in the grid
  int64_t page_blocks;  // page-copy blocks, after them
};

}  // namespace nsa_metadata::step_metadata::cuda

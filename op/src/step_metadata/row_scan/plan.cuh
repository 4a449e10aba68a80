// The row-scan kernels' plan for one call, from shapes alone (never data):
// the grid, and what the kernels know (device/launch_params.cuh). Host code;
// the engine's launcher (../launch.cu) launches what it plans, and the CPU
// emulation of the kernels (tests/emulation) runs the same plan.
#pragma once

#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"
#include "step_metadata/row_scan/device/launch_params.cuh"
#include "step_metadata/row_scan/device/policy.cuh"

#include <algorithm>
#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan {

struct Plan {
  cuda::Launch launch;
  int64_t blocks;
  bool two_pass;  // chunk_tokens_kernel, then expand_kernel over its workspace
};

namespace plan_detail {

using cuda::kBlocksPerSM;
using cuda::kSinglePassMaxRequestsWithWorkspace;
using cuda::kThreads;
using nsa_metadata::cuda::ceil_div;

// Rows of buffer capacity per block of the single-pass grid: blocks past the
// batch's own add their threads to zeroing the tail. The tail is most of the
// stores when buffers are sized for the largest batch, and a block drains its
// stores at only ~60 GB/s, so spreading them wins. Measured on an H100 at
// 1..8 tokens, bs 1024-4096 (docs/benchmarks.md): 16K rows per block
// 3.45-3.57 us, 2 rows per thread 2.83-2.97 us. One row per thread was
// slower with large buffers, as more blocks re-read the batch.
constexpr int64_t kTailRowsPerBlock = 2 * kThreads;

// An absent vector is a buffer of no capacity: nothing is written to it.
inline nsa_metadata::cuda::RowBuffer row_buffer(const Vector& vector) {
  return {vector.data, vector.capacity, nsa_metadata::cuda::aligned_16(vector.data)};
}

}  // namespace plan_detail

// Whether the row-scan kernels can write a call: the draft-extend rows of
// per-request extend lengths (a model whose last row sees seq_lens), and no
// output but seqlens_expanded, nsa_cache_seqlens and num_tokens.
inline bool serves(const Model& model, const Buffers& buffers) {
  return model.extend_seq_lens.data != nullptr && model.top_offset == 0 &&
         buffers.only_row_outputs();
}

// The plan on a GPU of `multiprocessors` multiprocessors, for a model that
// serves() accepts. In one pass every block reduces the whole batch's extend
// lengths itself (a few KB from L2) and the call is one launch. A caller that
// allows a workspace (`two_passes_allowed`) gets two passes past
// kSinglePassMaxRequestsWithWorkspace requests, where the redundant reads
// cost more than a second launch over the workspace (dispatch.cuh); one that
// does not passes at most kSinglePassMaxRequests requests.
inline Plan plan_launch(const Model& model, int64_t batch_size, const Buffers& buffers,
                        int64_t multiprocessors, bool two_passes_allowed) {
  using namespace plan_detail;
  Plan plan{};
  cuda::Launch& launch = plan.launch;
  launch.batch_size = batch_size;
  launch.extend_stride = model.extend_seq_lens.stride;
  launch.extend_vector_loads = !model.extend_seq_lens.is_int64 && launch.extend_stride == 1 &&
                               nsa_metadata::cuda::aligned_16(model.extend_seq_lens.data);
  launch.seq_stride = model.seq_lens.stride;
  launch.nsa_index_topk = model.nsa_index_topk;
  launch.index_kpool = model.index_kpool;
  launch.seqlens_expanded = row_buffer(buffers.seqlens_expanded);
  launch.nsa_cache_seqlens = row_buffer(buffers.nsa_cache_seqlens);
  const int64_t row_limit =
      std::max(launch.seqlens_expanded.capacity, launch.nsa_cache_seqlens.capacity);
  const int64_t most_blocks = kBlocksPerSM * multiprocessors;
  if (!two_passes_allowed || launch.batch_size <= kSinglePassMaxRequestsWithWorkspace) {
    // One tile of requests per block; blocks past the batch zero the tail.
    plan.blocks = std::max<int64_t>(
        {1, ceil_div(launch.batch_size, kThreads),
         std::min(ceil_div(row_limit, kTailRowsPerBlock), most_blocks)});
    launch.requests_per_block = kThreads;
    return plan;
  }
  // About kBlocksPerSM blocks per multiprocessor, each a whole number of tiles.
  launch.requests_per_block =
      ceil_div(std::max<int64_t>(kThreads, ceil_div(launch.batch_size, most_blocks)), kThreads) *
      kThreads;
  plan.blocks = ceil_div(launch.batch_size, launch.requests_per_block);
  plan.two_pass = true;
  return plan;
}

}  // namespace nsa_metadata::step_metadata::row_scan

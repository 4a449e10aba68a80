// fill_draft_extend_metadata's plan for one call, from shapes alone (never
// data): the grid, and what its kernels know (device/launch_params.cuh).
// Host code; the launcher (cuda.cu) launches what it plans, and the CPU
// emulation of the kernels (tests/emulation) runs the same plan.
#pragma once

#include "draft_extend/device/launch_params.cuh"
#include "draft_extend/device/policy.cuh"

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>

namespace nsa_metadata::draft_extend {

struct Plan {
  cuda::Launch launch;
  int64_t blocks;
  bool two_pass;  // chunk_tokens_kernel, then expand_kernel over its workspace
};

namespace plan_detail {

using cuda::kBlocksPerSM;
using cuda::kSinglePassMaxRequests;
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

inline nsa_metadata::cuda::RowBuffer row_buffer(const at::Tensor& buffer) {
  int32_t* data = buffer.mutable_data_ptr<int32_t>();
  return {data, buffer.numel(), reinterpret_cast<std::uintptr_t>(data) % 16 == 0};
}

}  // namespace plan_detail

// The plan on a GPU of `multiprocessors` multiprocessors. Up to
// kSinglePassMaxRequests requests, every block reduces the whole batch's
// extend lengths itself (a few KB from L2) and the call is one launch; past
// it the redundant reads would cost more than a second launch.
inline Plan plan_launch(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                        int64_t nsa_index_topk, int64_t index_kpool,
                        const at::Tensor& seqlens_expanded, const at::Tensor& nsa_cache_seqlens,
                        int64_t multiprocessors) {
  using namespace plan_detail;
  Plan plan{};
  cuda::Launch& launch = plan.launch;
  launch.batch_size = extend_seq_lens.size(0);
  launch.extend_stride = extend_seq_lens.stride(0);
  launch.extend_vector_loads =
      extend_seq_lens.scalar_type() == at::kInt && launch.extend_stride == 1 &&
      reinterpret_cast<std::uintptr_t>(extend_seq_lens.const_data_ptr()) % 16 == 0;
  launch.seq_stride = seq_lens.stride(0);
  launch.nsa_index_topk = nsa_index_topk;
  launch.index_kpool = index_kpool;
  launch.seqlens_expanded = row_buffer(seqlens_expanded);
  launch.nsa_cache_seqlens = row_buffer(nsa_cache_seqlens);
  const int64_t row_limit =
      std::max(launch.seqlens_expanded.capacity, launch.nsa_cache_seqlens.capacity);
  const int64_t most_blocks = kBlocksPerSM * multiprocessors;
  if (launch.batch_size <= kSinglePassMaxRequests) {
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

}  // namespace nsa_metadata::draft_extend

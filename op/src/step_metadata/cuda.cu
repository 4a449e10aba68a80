// CUDA launcher of the step-metadata family: plans the grid from shapes
// (device/policy.cuh) and launches device/kernel.cuh.
//
// Contract (docs/step_metadata.md): one launch on the current stream, no host
// synchronization, no allocation, at every batch size, so a call can be
// captured in a CUDA graph and replayed with new input values; the grid
// depends only on shapes, never on data. Whatever the device data say, no
// write lands outside the output buffers and no read outside the inputs.
#include "common/checked_mode_cuda.h"
#include "common/device_attributes.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/registration.h"

// Only c10's CUDA headers (see draft_extend/cuda.cu).
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace nsa_metadata::step_metadata {
namespace {

using nsa_metadata::cuda::ceil_div;

// Page blocks: one warp per unit of work the tables can hold (each row of
// the widest request's columns), bounded by what the GPU holds at once.
// Shapes only, never data.
int64_t plan_page_blocks(const Buffers& buffers, int64_t batch_size, int64_t page_size,
                         int64_t most) {
  if (!buffers.has_page_table() || batch_size == 0) {
    return 0;
  }
  const int64_t unit_columns =
      buffers.page_table_1.data != nullptr
          ? std::max(buffers.page_table_1.columns,
                     real_source_span(buffers.real_page_table.columns, page_size))
          : buffers.real_page_table.columns;
  const int64_t units = batch_size * std::max<int64_t>(1, ceil_div(unit_columns, cuda::kUnitColumns));
  return std::clamp<int64_t>(ceil_div(units, cuda::kWarps), 1, most);
}

// Checked mode's second half: once the kernel has run, the CPU kernel's data
// checks on copies of the inputs, raising the same error.
void check_values_on_host(const Arguments& arguments, cudaStream_t stream) {
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  const at::Tensor seq_lens = arguments.seq_lens.cpu();
  const at::Tensor req_pool_indices = arguments.req_pool_indices.cpu();
  const std::optional<at::Tensor> extend_seq_lens =
      arguments.extend_seq_lens.has_value()
          ? std::optional<at::Tensor>(arguments.extend_seq_lens->cpu())
          : std::nullopt;
  checked_row_total({arguments.mode, seq_lens, req_pool_indices, arguments.req_to_token,
                     extend_seq_lens, arguments.rows_per_request, arguments.nsa_index_topk,
                     arguments.page_size, arguments.outputs});
}

void fill_step_metadata_cuda(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const c10::cuda::CUDAGuard device_guard(arguments.seq_lens.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_launch();

  cuda::Launch launch{};
  launch.model = model_of(arguments);
  launch.batch_size = arguments.seq_lens.size(0);
  launch.req_pool_indices = index_vector_of(arguments.req_pool_indices);
  launch.tokens = token_table_of(arguments.req_to_token);
  launch.page_size = arguments.page_size;
  launch.buffers = buffers_of(arguments.outputs);
  launch.requests_per_chunk =
      std::max<int64_t>(1, ceil_div(ceil_div(launch.batch_size, cuda::kMaxChunks), cuda::kThreads)) *
      cuda::kThreads;
  launch.chunks = std::max<int64_t>(1, ceil_div(launch.batch_size, launch.requests_per_chunk));
  launch.page_blocks = plan_page_blocks(
      launch.buffers, launch.batch_size, launch.page_size,
      cuda::kBlocksPerSM * multiprocessor_count(arguments.seq_lens.device().index()));

  const auto blocks = static_cast<unsigned>(launch.chunks + launch.page_blocks);
  cuda::step_metadata_kernel<<<blocks, cuda::kThreads, 0, stream>>>(launch);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  if (checked) {
    check_values_on_host(arguments, stream);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_step_metadata_kernels<&fill_step_metadata_cuda>(m);
}

}  // namespace nsa_metadata::step_metadata

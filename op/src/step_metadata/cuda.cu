// CUDA launcher of the step-metadata family; the device code and its design
// are in kernels.cuh.
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
#include "step_metadata/kernels.cuh"
#include "step_metadata/registration.h"

// Only c10's CUDA headers (see draft_extend/cuda.cu).
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace nsa_metadata::step_metadata {
namespace {

using cuda::kColumnsPerUnit;
using cuda::kThreads;
using cuda::kWarps;

// Chunks, i.e. blocks that reduce the batch's lengths and write the vectors.
// Each reads every request before it, so their number bounds the redundant
// reads; 64 keeps them to a few MB at a million requests.
constexpr int64_t kMaxChunks = 64;
// Resident blocks per multiprocessor the grid aims at for the page copies.
constexpr int64_t kBlocksPerSM = 2;  // 128 registers a thread at 256 threads: two fit.

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for the page copies: enough warps for one unit of work each,
// bounded by what the GPU holds at once. Shapes only, never data.
int64_t plan_page_blocks(const cuda::Launch& launch, int64_t rows, int64_t most) {
  const Buffers& buffers = launch.buffers;
  if (!buffers.has_page_table()) {
    return 0;
  }
  const Table& real = buffers.real_page_table;
  const int64_t span = std::max(buffers.page_table_1.columns,
                                real.columns > 0 ? (real.columns - 1) * launch.page_size + 1 : 0);
  const int64_t units = std::max<int64_t>(1, rows) * ceil_div(span, kColumnsPerUnit);
  return std::clamp<int64_t>(ceil_div(units, kWarps), 1, most);
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
      std::max<int64_t>(1, ceil_div(ceil_div(launch.batch_size, kMaxChunks), kThreads)) *
      kThreads;
  launch.chunks = std::max<int64_t>(1, ceil_div(launch.batch_size, launch.requests_per_chunk));
  const int64_t most_blocks =
      kBlocksPerSM * multiprocessor_count(arguments.seq_lens.device().index());
  if (arguments.fixed_rows()) {
    launch.splits = 1;
    launch.page_blocks = plan_page_blocks(
        launch, std::min(saturating_mul(launch.batch_size, arguments.rows_per_request),
                         launch.buffers.page_row_limit()),
        most_blocks);
  } else {
    // Each chunk's blocks share its page rows; the chunk's first block also
    // writes the vectors.
    launch.splits = std::max<int64_t>(
        1, plan_page_blocks(launch, ceil_div(launch.buffers.page_row_limit(), launch.chunks),
                            std::max<int64_t>(1, most_blocks / launch.chunks)));
    launch.page_blocks = 0;
  }

  const auto blocks = static_cast<unsigned>(launch.chunks * launch.splits + launch.page_blocks);
  cuda::step_metadata_kernel<<<blocks, kThreads, 0, stream>>>(launch);
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

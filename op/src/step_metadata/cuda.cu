// CUDA kernel of the step-metadata operators: checks, then one launch of the
// engine (launch.h) on the current stream behind a device guard.
#include "common/checked_mode_cuda.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/launch.h"
#include "step_metadata/registration.h"

// Only c10's CUDA headers (see draft_extend/cuda.cu).
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace nsa_metadata::step_metadata {
namespace {

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
  checked_totals({arguments.mode, seq_lens, req_pool_indices, arguments.req_to_token,
                  extend_seq_lens, arguments.rows_per_request, arguments.nsa_index_topk,
                  arguments.page_size, arguments.index_kpool, arguments.outputs});
}

void fill_step_metadata_cuda(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const c10::cuda::CUDAGuard device_guard(arguments.seq_lens.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_launch();

  launch_engine(model_of(arguments), arguments.req_pool_indices, arguments.req_to_token,
                arguments.page_size, buffers_of(arguments.outputs), stream);

  if (checked) {
    check_values_on_host(arguments, stream);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_step_metadata_kernels<&fill_step_metadata_cuda>(m);
}

}  // namespace nsa_metadata::step_metadata

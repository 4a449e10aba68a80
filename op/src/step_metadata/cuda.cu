// CUDA kernel of the step-metadata operators: checks, then one launch of the
// engine (launch.h) on the current stream behind a device guard.
#include "common/checked_mode_cuda.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/launch.h"
#include "step_metadata/registration.h"

#include <ATen/core/Tensor.h>

namespace nsa_metadata::step_metadata {
namespace {

// Checked mode's second half (launch_on_current_stream): the CPU kernel's
// data checks on copies of the inputs.
void check_values_on_host(const Arguments& arguments) {
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
  launch_on_current_stream(
      arguments.seq_lens.device(),
      [&](cudaStream_t stream) {
        launch_engine(model_of(arguments), arguments.req_pool_indices, arguments.req_to_token,
                      arguments.page_size, buffers_of(arguments.outputs), stream);
      },
      [&] { check_values_on_host(arguments); });
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_step_metadata_kernels<&fill_step_metadata_cuda>(m);
}

}  // namespace nsa_metadata::step_metadata

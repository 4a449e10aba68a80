// CUDA kernel of fill_extend_metadata: checks, then one launch of the
// step-metadata engine (step_metadata/launch.h) over the extend model
// (engine.h), on the current stream behind a device guard. No host
// synchronization, no allocation, a grid from shapes only (docs/extend.md).
#include "common/checked_mode_cuda.h"
#include "extend/checks.h"
#include "extend/engine.h"
#include "extend/registration.h"
#include "step_metadata/launch.h"

#include <ATen/core/Tensor.h>

namespace nsa_metadata::extend {
namespace {

// Checked mode's second half (launch_on_current_stream): the CPU kernel's
// data checks on copies of the inputs.
void check_values_on_host(const Arguments& arguments) {
  const at::Tensor seq_lens = arguments.seq_lens.cpu();
  const at::Tensor extend_seq_lens = arguments.extend_seq_lens.cpu();
  const at::Tensor req_pool_indices = arguments.req_pool_indices.cpu();
  checked_totals({seq_lens, extend_seq_lens, req_pool_indices, arguments.req_to_token,
                  arguments.nsa_index_topk, arguments.page_size, arguments.index_kpool,
                  arguments.outputs});
}

void fill_extend_metadata_cuda(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  launch_on_current_stream(
      arguments.seq_lens.device(),
      [&](cudaStream_t stream) {
        step_metadata::launch_engine(model_of(arguments), arguments.req_pool_indices,
                                    arguments.req_to_token, arguments.page_size,
                                    buffers_of(arguments.outputs), stream);
      },
      [&] { check_values_on_host(arguments); });
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_extend_kernel<&fill_extend_metadata_cuda>(m);
}

}  // namespace nsa_metadata::extend

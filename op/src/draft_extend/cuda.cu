// CUDA kernel of fill_draft_extend_metadata: checks, then the step-metadata
// engine's row-scan kernels (step_metadata/launch.h, launch_row_vectors) on
// the current stream behind a device guard.
//
// Contract (docs/draft_extend.md): no host synchronization; batches up to
// 12288 requests (every serving batch) take one launch and no allocation, so
// the call can be captured in a CUDA graph and replayed with new input
// values. Larger batches take two launches and a workspace of 8 bytes per
// block from PyTorch's caching allocator (stream-ordered and capture-safe
// too); see docs/benchmarks.md for why. Whatever the device data say, no
// write lands outside [0, capacity) of either buffer.
#include "common/checked_mode_cuda.h"
#include "draft_extend/checks.h"
#include "draft_extend/engine.h"
#include "draft_extend/registration.h"
#include "step_metadata/launch.h"

#include <ATen/core/Tensor.h>

namespace nsa_metadata::draft_extend {
namespace {

// Checked mode's second half (launch_on_current_stream): the CPU kernel's
// data checks on copies of the lengths.
void check_values_on_host(const Arguments& arguments) {
  const at::Tensor extend_seq_lens = arguments.extend_seq_lens.cpu();
  const at::Tensor seq_lens = arguments.seq_lens.cpu();
  checked_token_total({extend_seq_lens, seq_lens, arguments.nsa_index_topk,
                       arguments.seqlens_expanded, arguments.nsa_cache_seqlens,
                       arguments.num_tokens, arguments.index_kpool});
}

void fill_draft_extend_metadata_cuda(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const at::Tensor& extend_seq_lens = arguments.extend_seq_lens;
  launch_on_current_stream(
      extend_seq_lens.device(),
      [&](cudaStream_t stream) {
        step_metadata::launch_row_vectors(model_of(arguments), extend_seq_lens.size(0),
                                          buffers_of(arguments), extend_seq_lens.device(),
                                          stream);
      },
      [&] { check_values_on_host(arguments); });
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_draft_extend_kernel<&fill_draft_extend_metadata_cuda>(m);
}

}  // namespace nsa_metadata::draft_extend

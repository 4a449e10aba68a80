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

// Only c10's CUDA headers: ATen/cuda/CUDAContext.h would pull in cuBLAS and
// cuSPARSE headers, which a minimal CUDA toolkit (nvcc and cudart) lacks.
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace nsa_metadata::draft_extend {
namespace {

// Checked mode's second half: once the kernel has run, the CPU kernel's data
// checks on copies of the lengths, raising the same error.
void check_values_on_host(const Arguments& arguments, cudaStream_t stream) {
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
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
  const c10::cuda::CUDAGuard device_guard(extend_seq_lens.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_launch();

  step_metadata::launch_row_vectors(model_of(arguments), extend_seq_lens.size(0),
                                    buffers_of(arguments), extend_seq_lens.device(), stream);

  if (checked) {
    check_values_on_host(arguments, stream);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  register_draft_extend_kernel<&fill_draft_extend_metadata_cuda>(m);
}

}  // namespace nsa_metadata::draft_extend

// CUDA launcher of fill_draft_extend_metadata: launches what plan.cuh plans;
// the device code and its design are in device/ (device/kernel.cuh).
//
// Contract (docs/draft_extend.md): on the current stream, no host
// synchronization; batches up to kSinglePassMaxRequests requests (every
// serving batch) take one launch and no allocation, so the call can be
// captured in a CUDA graph and replayed with new input values. Larger
// batches take two launches (the second a programmatic dependent of the
// first where the GPU has that) and a workspace of 8 bytes per block from
// PyTorch's caching allocator (stream-ordered and capture-safe too); see
// docs/benchmarks.md for why. Whatever the device data say, no write lands
// outside [0, capacity) of either buffer.
#include "common/checked_mode_cuda.h"
#include "common/dependent_launch.cuh"
#include "common/device_attributes.h"
#include "draft_extend/checks.h"
#include "draft_extend/dispatch.cuh"
#include "draft_extend/plan.cuh"

// Only c10's CUDA headers: ATen/cuda/CUDAContext.h would pull in cuBLAS and
// cuSPARSE headers, which a minimal CUDA toolkit (nvcc and cudart) lacks.
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>

namespace nsa_metadata::draft_extend {
namespace {

using cuda::kThreads;

// Checked mode's second half: once the kernel has run, the same data checks
// as the CPU kernel, raising the same error.
void check_values_on_host(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                          int64_t expanded_capacity, int64_t cache_capacity,
                          cudaStream_t stream) {
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  checked_token_total(extend_seq_lens.cpu(), seq_lens.cpu(), expanded_capacity, cache_capacity);
}

void fill_draft_extend_metadata_cuda(const at::Tensor& extend_seq_lens,
                                     const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                     const at::Tensor& seqlens_expanded,
                                     const at::Tensor& nsa_cache_seqlens,
                                     const std::optional<at::Tensor>& num_tokens,
                                     int64_t index_kpool) {
  check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                  nsa_cache_seqlens, num_tokens, index_kpool);
  check_no_aliasing(extend_seq_lens, seq_lens, seqlens_expanded, nsa_cache_seqlens,
                    num_tokens);
  const c10::cuda::CUDAGuard device_guard(extend_seq_lens.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_launch();

  const Plan plan = plan_launch(extend_seq_lens, seq_lens, nsa_index_topk, index_kpool,
                                seqlens_expanded, nsa_cache_seqlens,
                                multiprocessor_count(extend_seq_lens.device().index()));
  const auto blocks = static_cast<unsigned>(plan.blocks);
  const c10::DeviceIndex device = extend_seq_lens.device().index();
  run_kernels(
      plan, extend_seq_lens, seq_lens, num_tokens,
      [&](auto kernel, auto... arguments) {
        kernel<<<blocks, kThreads, 0, stream>>>(arguments...);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      },
      [&](auto kernel, auto... arguments) {
        nsa_metadata::cuda::launch_dependent(device, kernel, blocks, kThreads, stream,
                                             arguments...);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });

  if (checked) {
    check_values_on_host(extend_seq_lens, seq_lens, plan.launch.seqlens_expanded.capacity,
                         plan.launch.nsa_cache_seqlens.capacity, stream);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_cuda);
}

}  // namespace nsa_metadata::draft_extend

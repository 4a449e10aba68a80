// The engine's launcher: launches the kernel plan.cuh plans (device/kernel.cuh),
// for every operator the engine serves.
//
// Contract (docs/step_metadata.md): one launch on the given stream, no host
// synchronization, no allocation, at every batch size, so a call can be
// captured in a CUDA graph and replayed with new input values; the grid
// depends only on shapes, never on data. Whatever the device data say, no
// write lands outside the output buffers and no read outside the inputs.
#include "common/device_attributes.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/launch.h"
#include "step_metadata/plan.cuh"

#include <c10/cuda/CUDAException.h>

namespace nsa_metadata::step_metadata {
namespace {

// The warp-batch kernel's instance for the call's rows (device/warp_batch.cuh).
using WarpBatchKernel = void (*)(cuda::Launch);
WarpBatchKernel warp_batch_kernel(cuda::RowShape rows, bool extend) {
  using cuda::RowShape;
  if (rows == RowShape::kVariable) {
    return extend ? cuda::step_metadata_warp_batch_kernel<RowShape::kVariable, true>
                  : cuda::step_metadata_warp_batch_kernel<RowShape::kVariable, false>;
  }
  if (rows == RowShape::kOne) {
    return cuda::step_metadata_warp_batch_kernel<RowShape::kOne, false>;
  }
  return cuda::step_metadata_warp_batch_kernel<RowShape::kFixed, false>;
}

}  // namespace

void launch_engine(const Model& model, const at::Tensor& req_pool_indices,
                   const at::Tensor& req_to_token, int64_t page_size, const Buffers& buffers,
                   cudaStream_t stream) {
  const Plan plan = plan_engine(model, req_pool_indices, req_to_token, page_size, buffers,
                                multiprocessor_count(req_pool_indices.device().index()));
  if (plan.warp_batch) {
    warp_batch_kernel(plan.rows, plan.extend)<<<plan.blocks, cuda::kThreads, 0, stream>>>(
        plan.launch);
  } else {
    const auto kernel =
        plan.extend ? cuda::step_metadata_kernel<true> : cuda::step_metadata_kernel<false>;
    kernel<<<plan.blocks, cuda::kThreads, 0, stream>>>(plan.launch);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace nsa_metadata::step_metadata

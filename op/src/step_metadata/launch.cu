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

void launch_engine(const Model& model, const at::Tensor& req_pool_indices,
                   const at::Tensor& req_to_token, int64_t page_size, const Buffers& buffers,
                   cudaStream_t stream) {
  const Plan plan = plan_engine(model, req_pool_indices, req_to_token, page_size, buffers,
                                multiprocessor_count(req_pool_indices.device().index()));
  const cuda::KernelEntry kernel = cuda::kernel_entry(plan.warp_batch, plan.rows, plan.extend);
  kernel<<<plan.blocks, cuda::kThreads, 0, stream>>>(plan.launch);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace nsa_metadata::step_metadata

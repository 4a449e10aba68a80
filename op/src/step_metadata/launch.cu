// The engine's launcher: launches the kernels plan.cuh plans (device/kernel.cuh,
// row_scan/dispatch.cuh), for every operator the engine serves.
//
// Contract (docs/step_metadata.md): one launch on the given stream, no host
// synchronization, no allocation, at every batch size (but
// launch_row_vectors past 12288 requests: launch.h), so a call can be
// captured in a CUDA graph and replayed with new input values; the grid
// depends only on shapes, never on data. Whatever the device data say, no
// write lands outside the output buffers and no read outside the inputs.
#include "common/dependent_launch.cuh"
#include "common/device_attributes.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/launch.h"
#include "step_metadata/plan.cuh"
#include "step_metadata/row_scan/dispatch.cuh"
#include "step_metadata/row_scan/plan.cuh"

#include <c10/cuda/CUDAException.h>

namespace nsa_metadata::step_metadata {
namespace {

void launch_row_scan(const row_scan::Plan& plan, const Model& model, const Buffers& buffers,
                     c10::Device device, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(plan.blocks);
  constexpr int kThreads = row_scan::cuda::kThreads;
  row_scan::run_kernels(
      plan, model, buffers, device,
      [&](auto kernel, auto... arguments) {
        kernel<<<blocks, kThreads, 0, stream>>>(arguments...);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      },
      [&](auto kernel, auto... arguments) {
        nsa_metadata::cuda::launch_dependent(device.index(), kernel, blocks, kThreads, stream,
                                             arguments...);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
}

}  // namespace

void launch_engine(const Model& model, const at::Tensor& req_pool_indices,
                   const at::Tensor& req_to_token, int64_t page_size, const Buffers& buffers,
                   cudaStream_t stream) {
  const c10::Device device = req_pool_indices.device();
  const Plan plan = plan_engine(model, req_pool_indices, req_to_token, page_size, buffers,
                                multiprocessor_count(device.index()));
  if (plan.row_scan) {
    launch_row_scan(plan.row_scan_plan, model, buffers, device, stream);
    return;
  }
  cuda::run_kernel(plan.kernel, plan.rows, plan.extend, plan.small, plan.launch,
                   [&](auto kernel, const auto&... arguments) {
                     kernel<<<plan.blocks, cuda::kThreads, 0, stream>>>(arguments...);
                   });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void launch_row_vectors(const Model& model, int64_t batch_size, const Buffers& buffers,
                        c10::Device device, cudaStream_t stream) {
  launch_row_scan(row_scan::plan_launch(model, batch_size, buffers,
                                        multiprocessor_count(device.index()),
                                        /*two_passes_allowed=*/true),
                  model, buffers, device, stream);
}

}  // namespace nsa_metadata::step_metadata

// Programmatic dependent launch (Hopper and later), the launch side (the
// kernels' side is common/grid_dependency.cuh): a kernel launched right
// after another on the same stream may start while that one is finishing,
// and waits for it only where it first needs its results. Used by the
// two-pass draft-extend launch, whose second kernel loads its first requests
// while the first kernel's last blocks run, instead of after a full drain and
// a fresh launch. On older GPUs the launch attribute is not set and the wait
// compiles to nothing: plain stream order.
#pragma once

#include "common/device_attributes.h"

#include <c10/core/Device.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime_api.h>

#include <utility>

namespace nsa_metadata::cuda {

// Launches `kernel` on `stream` as a dependent of the kernel launched before
// it, where the device supports that; otherwise in plain stream order.
template <typename... Params, typename... Args>
void launch_dependent(c10::DeviceIndex device, void (*kernel)(Params...), unsigned blocks,
                      unsigned threads, cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = compute_capability_major(device) >= 9 ? 1 : 0;
  C10_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace nsa_metadata::cuda

// Programmatic dependent launch (Hopper and later): a kernel launched right
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

// In the first kernel: its dependent may be scheduled as soon as every block
// of this grid has run this (or exited). It implies nothing about memory.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// In the dependent kernel: waits until the kernels it depends on have
// completed and their writes are visible. Before this, it may only read what
// was in memory before they started.
__device__ __forceinline__ void wait_for_prerequisite_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

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

// The launchers' one device property: how many multiprocessors a device has,
// asked of the driver once per device and kept (cudaDeviceGetAttribute costs
// ~130 ns a call on an H100 host, a tenth of our budget over an empty launch).
#pragma once

#include <c10/core/Device.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAMacros.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <array>
#include <atomic>

namespace nsa_metadata {

inline int multiprocessor_count(c10::DeviceIndex device) {
  static std::array<std::atomic<int>, C10_COMPILE_TIME_MAX_GPUS> known{};
  TORCH_CHECK(device >= 0 && device < C10_COMPILE_TIME_MAX_GPUS, "device index ",
              static_cast<int>(device), " is out of range");
  int count = known[device].load(std::memory_order_relaxed);
  if (count == 0) {
    // Threads that race here ask the driver the same question and store the
    // same answer.
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    known[device].store(count, std::memory_order_relaxed);
  }
  return count;
}

}  // namespace nsa_metadata

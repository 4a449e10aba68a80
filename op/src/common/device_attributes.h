// The device properties the launchers need (multiprocessor count, compute
// capability), each asked of the driver once per device and kept:
// cudaDeviceGetAttribute costs ~130 ns a call on an H100 host, a tenth of our
// budget over an empty launch.
#pragma once

#include <c10/core/Device.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAMacros.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <array>
#include <atomic>

namespace nsa_metadata {

// kAttribute of `device`; 0 marks "not asked yet", which no attribute kept
// here can be.
template <cudaDeviceAttr kAttribute>
int device_attribute(c10::DeviceIndex device) {
  static std::array<std::atomic<int>, C10_COMPILE_TIME_MAX_GPUS> known{};
  TORCH_CHECK(device >= 0 && device < C10_COMPILE_TIME_MAX_GPUS, "device index ",
              static_cast<int>(device), " is out of range");
  int value = known[device].load(std::memory_order_relaxed);
  if (value == 0) {
    // Threads that race here ask the driver the same question and store the
    // same answer.
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&value, kAttribute, device));
    known[device].store(value, std::memory_order_relaxed);
  }
  return value;
}

inline int multiprocessor_count(c10::DeviceIndex device) {
  return device_attribute<cudaDevAttrMultiProcessorCount>(device);
}

inline int compute_capability_major(c10::DeviceIndex device) {
  return device_attribute<cudaDevAttrComputeCapabilityMajor>(device);
}

}  // namespace nsa_metadata

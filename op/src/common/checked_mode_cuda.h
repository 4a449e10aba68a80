// The CUDA launchers' half of checked mode (common/checked_mode.h): whether
// this launch is checked, refused during CUDA graph capture before anything
// is launched, so that a capture is never left half-recorded; and the one
// way every CUDA operator of the library launches its kernels.
#pragma once

#include "common/checked_mode.h"

// Only c10's CUDA headers: ATen/cuda/CUDAContext.h would pull in cuBLAS and
// cuSPARSE headers, which a minimal CUDA toolkit (nvcc and cudart) lacks.
#include <c10/core/Device.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

namespace nsa_metadata {

inline bool checked_launch() {
  const bool checked = checked_mode_enabled();
  TORCH_CHECK(!checked || c10::cuda::currentStreamCaptureStatusMayInitCtx() ==
                              c10::cuda::CaptureStatus::None,
              "NSA_METADATA_CHECKED is set, but checked mode synchronizes and cannot be "
              "used during CUDA graph capture; unset it to capture");
  return checked;
}

// An operator's CUDA call, once its arguments are checked: `launch(stream)`
// on `device`'s current stream behind a device guard; in checked mode, a
// wait for it, then `check_values()`, the CPU kernel's data checks on copies
// of the inputs, which raise the error that kernel would.
template <typename KernelLaunch, typename CheckValues>
void launch_on_current_stream(c10::Device device, const KernelLaunch& launch,
                              const CheckValues& check_values) {
  const c10::cuda::CUDAGuard device_guard(device);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_launch();
  launch(stream);
  if (checked) {
    C10_CUDA_CHECK(cudaStreamSynchronize(stream));
    check_values();
  }
}

}  // namespace nsa_metadata

// The CUDA launchers' half of checked mode (common/checked_mode.h): whether
// this launch is checked, refused during CUDA graph capture before anything
// is launched, so that a capture is never left half-recorded.
#pragma once

#include "common/checked_mode.h"

#include <c10/cuda/CUDAGraphsC10Utils.h>
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

}  // namespace nsa_metadata

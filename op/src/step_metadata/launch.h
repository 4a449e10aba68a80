// The step-metadata engine's launch, shared by every operator it serves (the
// step operators and fill_extend_metadata): their CUDA kernels fill in what
// the call is (model, inputs, buffers) and this plans the grid and launches.
#pragma once

#include "step_metadata/device/launch_params.cuh"

#include <c10/core/Device.h>
#include <cuda_runtime_api.h>

namespace nsa_metadata::step_metadata {

// `launch` holds the model, batch size, pool indices, token table, page size
// and buffers; the plan fields are filled in here. One kernel launch on
// `stream`, which must belong to `device`.
void launch_engine(cuda::Launch& launch, c10::DeviceIndex device, cudaStream_t stream);

}  // namespace nsa_metadata::step_metadata

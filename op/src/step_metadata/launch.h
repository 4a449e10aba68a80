// The step-metadata engine's launch, shared by every operator it serves (the
// step operators and fill_extend_metadata): their CUDA kernels say what the
// call is (model, inputs, buffers) and this plans the grid and launches.
#pragma once

#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <ATen/core/Tensor.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace nsa_metadata::step_metadata {

// One kernel launch on `stream`, which must belong to the inputs' device,
// for a batch of req_pool_indices.size(0) requests.
void launch_engine(const Model& model, const at::Tensor& req_pool_indices,
                   const at::Tensor& req_to_token, int64_t page_size, const Buffers& buffers,
                   cudaStream_t stream);

}  // namespace nsa_metadata::step_metadata

// The step-metadata engine's launch, shared by every operator (the step
// operators, fill_extend_metadata and fill_draft_extend_metadata): their CUDA
// kernels say what the call is (model, inputs, buffers) and this plans the
// grid (plan.cuh) and launches.
#pragma once

#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace nsa_metadata::step_metadata {

// One kernel launch on `stream`, which must belong to the inputs' device,
// for a batch of req_pool_indices.size(0) requests; no allocation.
void launch_engine(const Model& model, const at::Tensor& req_pool_indices,
                   const at::Tensor& req_to_token, int64_t page_size, const Buffers& buffers,
                   cudaStream_t stream);

// Draft-extend's row vectors alone (row_scan::serves; fill_draft_extend_metadata),
// on `device`'s `stream`, with the row-scan kernels at any batch size: one
// launch and no allocation up to 12288 requests, past them two launches (the
// second a dependent launch) over a workspace of 8 bytes a block from
// PyTorch's caching allocator (stream-ordered, capturable), which
// fill_draft_extend_metadata's contract allows.
void launch_row_vectors(const Model& model, int64_t batch_size, const Buffers& buffers,
                        c10::Device device, cudaStream_t stream);

}  // namespace nsa_metadata::step_metadata

// Checks of the step-metadata operators' arguments, shared by the CPU, CUDA
// and Meta kernels (host-visible properties) and by the CPU kernel and the
// CUDA checked mode (host-visible data).
#pragma once

#include "step_metadata/arguments.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata {

// Dtypes, devices, dimensions, exact lengths where the batch fixes them,
// widths against req_to_token, scalar ranges. Works with symbolic sizes, so
// the Meta kernel can call it under torch.compile with dynamic shapes.
void check_arguments(const Arguments& arguments);

// No output shares memory with another output or with an input (real
// tensors only).
void check_no_aliasing(const Arguments& arguments);

// Reads the index inputs (CPU tensors) and raises on the data problems the
// device can only give a defined result for (docs/step_metadata.md): a
// negative length, a pool index outside req_to_token, a value or cumulative
// sum that does not fit int32, more rows than a buffer holds. Returns the
// batch's sums (rows, KV lengths, nsa_cache_seqlens).
Sums checked_totals(const Arguments& cpu_arguments);

}  // namespace nsa_metadata::step_metadata

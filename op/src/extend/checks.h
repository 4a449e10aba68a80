// Checks of fill_extend_metadata's arguments, shared by its kernels
// (host-visible properties, with symbolic sizes for the Meta kernel) and by
// its CPU kernel (host-visible data), in the messages of the other operators
// (common/checks.h).
#pragma once

#include "extend/arguments.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::extend {

// Dtypes, devices, dimensions, exact lengths where the batch fixes them,
// widths against req_to_token, scalar ranges.
void check_arguments(const Arguments& arguments);

// No output shares memory with another output or with an input.
void check_no_aliasing(const Arguments& arguments);

// Reads the inputs (CPU tensors) and raises on the data problems the device
// can only give a defined result for: a negative length, a KV length or a
// sum past int32 that an output holds, a pool index outside req_to_token,
// more tokens (or KV tokens) than a buffer holds. Returns the batch's sums:
// tokens, KV tokens, nsa_cache_seqlens.
step_metadata::Sums checked_totals(const Arguments& cpu_arguments);

}  // namespace nsa_metadata::extend

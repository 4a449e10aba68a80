// Checks of fill_extend_metadata's arguments, shared by its kernels
// (host-visible properties, with symbolic sizes for the Meta kernel) and by
// its CPU kernel (host-visible data), in the messages of the other operators
// (common/checks.h).
#pragma once

#include "extend/arguments.h"

#include <cstdint>

namespace nsa_metadata::extend {

// Dtypes, devices, dimensions, exact lengths where the batch fixes them,
// widths against req_to_token, scalar ranges.
void check_arguments(const Arguments& arguments);

// No output shares memory with another output or with an input.
void check_no_aliasing(const Arguments& arguments);

struct Totals {
  int64_t tokens;  // sum of extend_seq_lens
  int64_t kv;      // sum of seq_lens
};

// Reads the inputs (CPU tensors) and raises on the data problems the device
// can only give a defined result for: a negative length, a KV length or a
// sum past int32 that an output holds, a pool index outside req_to_token,
// more tokens (or KV tokens) than a buffer holds. Returns the totals.
Totals checked_totals(const Arguments& cpu_arguments);

}  // namespace nsa_metadata::extend

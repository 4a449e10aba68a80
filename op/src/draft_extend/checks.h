// Checks of fill_draft_extend_metadata's arguments, shared by the CPU, CUDA
// and Meta kernels (host-visible properties) and by the CPU kernel and the
// CUDA checked mode (host-visible data).
#pragma once

#include "draft_extend/arguments.h"

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace nsa_metadata::draft_extend {

// Dtypes, devices, dimensions, lengths, contiguity, nsa_index_topk and
// index_kpool >= 1.
// Works on tensors with symbolic sizes, so the Meta kernel can call it under
// torch.compile with dynamic shapes.
void check_arguments(const Arguments& arguments);

// Outputs share no memory with each other or with the inputs (real tensors only).
void check_no_aliasing(const Arguments& arguments);

// Reads the lengths (the arguments' extend_seq_lens and seq_lens: CPU
// tensors) and raises on the data problems the device can only give a
// defined result for, with the step-metadata operators' checks and messages
// (common/checks.h): a negative length, a KV length past int32, or a total
// that does not fit a buffer. Returns the total number of tokens.
int64_t checked_token_total(const Arguments& arguments);

}  // namespace nsa_metadata::draft_extend

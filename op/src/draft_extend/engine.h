// fill_draft_extend_metadata as the step-metadata engine sees it
// (step_metadata/request_math.h): request i has extend_seq_lens[i] query
// rows whose last sees seq_lens[i] tokens, and the call asks for the row
// vectors alone, which the CPU kernel and the engine's row-scan kernels
// (step_metadata/row_scan/) write.
#pragma once

#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::draft_extend {

step_metadata::Model model_of(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                              int64_t nsa_index_topk, int64_t index_kpool);
step_metadata::Buffers buffers_of(const at::Tensor& seqlens_expanded,
                                  const at::Tensor& nsa_cache_seqlens,
                                  const std::optional<at::Tensor>& num_tokens);

}  // namespace nsa_metadata::draft_extend

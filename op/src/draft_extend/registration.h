// Turns one backend function over Arguments into fill_draft_extend_metadata's
// kernel, so that the schema-to-Arguments mapping exists once.
#pragma once

#include "draft_extend/arguments.h"

#include <torch/library.h>

namespace nsa_metadata::draft_extend {

template <void (*Run)(const Arguments&)>
void register_draft_extend_kernel(torch::Library& library) {
  library.impl("fill_draft_extend_metadata",
               [](const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                  int64_t nsa_index_topk, const at::Tensor& seqlens_expanded,
                  const at::Tensor& nsa_cache_seqlens,
                  const std::optional<at::Tensor>& num_tokens, int64_t index_kpool) {
                 Run({extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                      nsa_cache_seqlens, num_tokens, index_kpool});
               });
}

}  // namespace nsa_metadata::draft_extend

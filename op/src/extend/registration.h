// Turns one backend function over Arguments into fill_extend_metadata's
// kernel, so that the schema-to-Arguments mapping exists once.
#pragma once

#include "extend/arguments.h"

#include <torch/library.h>

namespace nsa_metadata::extend {

using OptionalTensor = std::optional<at::Tensor>;

template <void (*Run)(const Arguments&)>
void register_extend_kernel(torch::Library& library) {
  library.impl(
      "fill_extend_metadata",
      [](const at::Tensor& seq_lens, const at::Tensor& extend_seq_lens,
         const at::Tensor& req_pool_indices, const at::Tensor& req_to_token,
         int64_t nsa_index_topk, int64_t page_size, int64_t index_kpool,
         const OptionalTensor& cache_seqlens, const OptionalTensor& cu_seqlens_k,
         const OptionalTensor& cu_seqlens_q, const OptionalTensor& seqlens_expanded,
         const OptionalTensor& nsa_cache_seqlens, const OptionalTensor& nsa_cu_seqlens_k,
         const OptionalTensor& token_to_batch_idx, const OptionalTensor& indexer_k_start,
         const OptionalTensor& indexer_k_end, const OptionalTensor& page_table_1,
         const OptionalTensor& real_page_table, const OptionalTensor& page_table_1_flattened,
         const OptionalTensor& num_tokens, const OptionalTensor& num_kv_tokens) {
        Run({seq_lens, extend_seq_lens, req_pool_indices, req_to_token, nsa_index_topk,
             page_size, index_kpool,
             {cache_seqlens, cu_seqlens_k, cu_seqlens_q, seqlens_expanded, nsa_cache_seqlens,
              nsa_cu_seqlens_k, token_to_batch_idx, indexer_k_start, indexer_k_end,
              page_table_1, real_page_table, page_table_1_flattened, num_tokens,
              num_kv_tokens}});
      });
}

}  // namespace nsa_metadata::extend

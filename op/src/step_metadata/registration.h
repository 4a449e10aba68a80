// Turns one backend function over Arguments into the three operators'
// kernels, so that each backend file registers the family in one line and
// the schema-to-Arguments mapping exists once.
#pragma once

#include "step_metadata/arguments.h"

#include <torch/library.h>

namespace nsa_metadata::step_metadata {

using OptionalTensor = std::optional<at::Tensor>;

inline const OptionalTensor& absent() {
  static const OptionalTensor none;
  return none;
}

template <void (*Run)(const Arguments&)>
void register_step_metadata_kernels(torch::Library& library) {
  library.impl("fill_decode_metadata",
               [](const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
                  const at::Tensor& req_to_token, int64_t nsa_index_topk, int64_t page_size,
                  int64_t index_kpool, const OptionalTensor& cache_seqlens,
                  const OptionalTensor& cu_seqlens_k, const OptionalTensor& nsa_cache_seqlens,
                  const OptionalTensor& nsa_cu_seqlens_k, const OptionalTensor& page_table_1,
                  const OptionalTensor& real_page_table) {
                 Run({Mode::kDecode, seq_lens, req_pool_indices, req_to_token, absent(), 1,
                      nsa_index_topk, page_size, index_kpool,
                      {cache_seqlens, cu_seqlens_k, absent(), nsa_cache_seqlens,
                       nsa_cu_seqlens_k, page_table_1, real_page_table, absent(), absent()}});
               });
  library.impl("fill_target_verify_metadata",
               [](const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
                  const at::Tensor& req_to_token, int64_t num_draft_tokens,
                  int64_t nsa_index_topk, int64_t page_size, int64_t index_kpool,
                  const OptionalTensor& cache_seqlens, const OptionalTensor& cu_seqlens_k,
                  const OptionalTensor& seqlens_expanded,
                  const OptionalTensor& nsa_cache_seqlens,
                  const OptionalTensor& nsa_cu_seqlens_k, const OptionalTensor& page_table_1,
                  const OptionalTensor& real_page_table,
                  const OptionalTensor& paged_mqa_context_lens) {
                 Run({Mode::kTargetVerify, seq_lens, req_pool_indices, req_to_token, absent(),
                      num_draft_tokens, nsa_index_topk, page_size, index_kpool,
                      {cache_seqlens, cu_seqlens_k, seqlens_expanded, nsa_cache_seqlens,
                       nsa_cu_seqlens_k, page_table_1, real_page_table, absent(),
                       paged_mqa_context_lens}});
               });
  library.impl("fill_draft_extend_metadata_full",
               [](const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
                  const at::Tensor& req_to_token, const OptionalTensor& extend_seq_lens,
                  int64_t nsa_index_topk, int64_t page_size,
                  std::optional<int64_t> num_draft_tokens, int64_t index_kpool,
                  const OptionalTensor& cache_seqlens, const OptionalTensor& cu_seqlens_k,
                  const OptionalTensor& seqlens_expanded,
                  const OptionalTensor& nsa_cache_seqlens,
                  const OptionalTensor& nsa_cu_seqlens_k, const OptionalTensor& page_table_1,
                  const OptionalTensor& real_page_table, const OptionalTensor& num_tokens) {
                 TORCH_CHECK(extend_seq_lens.has_value() != num_draft_tokens.has_value(),
                             "fill_draft_extend_metadata_full should get exactly one of "
                             "extend_seq_lens and num_draft_tokens, got ",
                             extend_seq_lens.has_value() ? "both" : "neither");
                 Run({Mode::kDraftExtend, seq_lens, req_pool_indices, req_to_token,
                      extend_seq_lens, num_draft_tokens.value_or(0), nsa_index_topk, page_size,
                      index_kpool,
                      {cache_seqlens, cu_seqlens_k, seqlens_expanded, nsa_cache_seqlens,
                       nsa_cu_seqlens_k, page_table_1, real_page_table, num_tokens, absent()}});
               });
}

}  // namespace nsa_metadata::step_metadata

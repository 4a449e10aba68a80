#include "draft_extend/engine.h"

#include "common/index_vector.h"

namespace nsa_metadata::draft_extend {

step_metadata::Model model_of(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                              int64_t nsa_index_topk, int64_t index_kpool) {
  return {index_vector_of(seq_lens),
          index_vector_of(extend_seq_lens),
          /*rows_per_request=*/0,
          /*top_offset=*/0,
          nsa_index_topk,
          index_kpool,
          /*page_row_per_request=*/false};
}

step_metadata::Buffers buffers_of(const at::Tensor& seqlens_expanded,
                                  const at::Tensor& nsa_cache_seqlens,
                                  const std::optional<at::Tensor>& num_tokens) {
  step_metadata::Buffers buffers;
  buffers.seqlens_expanded = step_metadata::vector_of(seqlens_expanded);
  buffers.nsa_cache_seqlens = step_metadata::vector_of(nsa_cache_seqlens);
  buffers.num_tokens = step_metadata::counter_of(num_tokens);
  return buffers;
}

}  // namespace nsa_metadata::draft_extend

// The public C++ functions: thin calls through the dispatcher, so that C++
// users get the same kernels, checks and device selection as Python users.
#include <nsa_metadata/nsa_metadata.h>

#include "common/operator_handle.h"

#include <c10/util/Exception.h>

namespace nsa_metadata {

void fill_draft_extend_metadata(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                                int64_t nsa_index_topk, const at::Tensor& seqlens_expanded,
                                const at::Tensor& nsa_cache_seqlens,
                                const std::optional<at::Tensor>& num_tokens,
                                int64_t index_kpool) {
  static const auto op =
      find_operator<void(const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&,
                         const at::Tensor&, const std::optional<at::Tensor>&, int64_t)>(
          "nsa_metadata::fill_draft_extend_metadata");
  op.call(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded, nsa_cache_seqlens,
          num_tokens, index_kpool);
}

std::tuple<at::Tensor, at::Tensor> draft_extend_metadata(const at::Tensor& extend_seq_lens,
                                                         const at::Tensor& seq_lens,
                                                         int64_t nsa_index_topk,
                                                         int64_t capacity, int64_t index_kpool) {
  static const auto op = find_operator<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, int64_t, c10::SymInt, int64_t)>(
      "nsa_metadata::draft_extend_metadata");
  return op.call(extend_seq_lens, seq_lens, nsa_index_topk, c10::SymInt(capacity),
                 index_kpool);
}

namespace {

using Optional = std::optional<at::Tensor>;

// A buffer the operator's schema has no argument for must not be passed, or
// the caller would believe it filled.
void check_absent(const Optional& buffer, const char* name, const char* function) {
  TORCH_CHECK(!buffer.has_value(), function, " has no ", name, " output, got a tensor for it");
}

}  // namespace

void fill_decode_metadata(const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
                          const at::Tensor& req_to_token, int64_t nsa_index_topk,
                          int64_t page_size, const StepMetadataBuffers& buffers,
                          int64_t index_kpool) {
  check_absent(buffers.seqlens_expanded, "seqlens_expanded", "fill_decode_metadata");
  check_absent(buffers.num_tokens, "num_tokens", "fill_decode_metadata");
  check_absent(buffers.paged_mqa_context_lens, "paged_mqa_context_lens", "fill_decode_metadata");
  static const auto op =
      find_operator<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                         int64_t, int64_t, const Optional&, const Optional&, const Optional&,
                         const Optional&, const Optional&, const Optional&)>(
          "nsa_metadata::fill_decode_metadata");
  op.call(seq_lens, req_pool_indices, req_to_token, nsa_index_topk, page_size, index_kpool,
          buffers.cache_seqlens, buffers.cu_seqlens_k, buffers.nsa_cache_seqlens,
          buffers.nsa_cu_seqlens_k, buffers.page_table_1, buffers.real_page_table);
}

void fill_target_verify_metadata(const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
                                 const at::Tensor& req_to_token, int64_t num_draft_tokens,
                                 int64_t nsa_index_topk, int64_t page_size,
                                 const StepMetadataBuffers& buffers, int64_t index_kpool) {
  check_absent(buffers.num_tokens, "num_tokens", "fill_target_verify_metadata");
  static const auto op =
      find_operator<void(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                         int64_t, int64_t, int64_t, const Optional&, const Optional&,
                         const Optional&, const Optional&, const Optional&, const Optional&,
                         const Optional&, const Optional&)>(
          "nsa_metadata::fill_target_verify_metadata");
  op.call(seq_lens, req_pool_indices, req_to_token, num_draft_tokens, nsa_index_topk, page_size,
          index_kpool, buffers.cache_seqlens, buffers.cu_seqlens_k, buffers.seqlens_expanded,
          buffers.nsa_cache_seqlens, buffers.nsa_cu_seqlens_k, buffers.page_table_1,
          buffers.real_page_table, buffers.paged_mqa_context_lens);
}

void fill_draft_extend_metadata_full(const at::Tensor& seq_lens,
                                     const at::Tensor& req_pool_indices,
                                     const at::Tensor& req_to_token,
                                     const std::optional<at::Tensor>& extend_seq_lens,
                                     int64_t nsa_index_topk, int64_t page_size,
                                     const StepMetadataBuffers& buffers,
                                     std::optional<int64_t> num_draft_tokens,
                                     int64_t index_kpool) {
  check_absent(buffers.paged_mqa_context_lens, "paged_mqa_context_lens",
               "fill_draft_extend_metadata_full");
  static const auto op =
      find_operator<void(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                         const Optional&, int64_t, int64_t, std::optional<int64_t>, int64_t,
                         const Optional&, const Optional&, const Optional&, const Optional&,
                         const Optional&, const Optional&, const Optional&, const Optional&)>(
          "nsa_metadata::fill_draft_extend_metadata_full");
  op.call(seq_lens, req_pool_indices, req_to_token, extend_seq_lens, nsa_index_topk, page_size,
          num_draft_tokens, index_kpool, buffers.cache_seqlens, buffers.cu_seqlens_k,
          buffers.seqlens_expanded, buffers.nsa_cache_seqlens, buffers.nsa_cu_seqlens_k,
          buffers.page_table_1, buffers.real_page_table, buffers.num_tokens);
}

void fill_extend_metadata(const at::Tensor& seq_lens, const at::Tensor& extend_seq_lens,
                          const at::Tensor& req_pool_indices, const at::Tensor& req_to_token,
                          int64_t nsa_index_topk, int64_t page_size,
                          const ExtendMetadataBuffers& buffers, int64_t index_kpool) {
  static const auto op = find_operator<void(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
      int64_t, int64_t, const Optional&, const Optional&, const Optional&, const Optional&,
      const Optional&, const Optional&, const Optional&, const Optional&, const Optional&,
      const Optional&, const Optional&, const Optional&, const Optional&, const Optional&)>(
      "nsa_metadata::fill_extend_metadata");
  op.call(seq_lens, extend_seq_lens, req_pool_indices, req_to_token, nsa_index_topk, page_size,
          index_kpool, buffers.cache_seqlens, buffers.cu_seqlens_k, buffers.cu_seqlens_q,
          buffers.seqlens_expanded, buffers.nsa_cache_seqlens, buffers.nsa_cu_seqlens_k,
          buffers.token_to_batch_idx, buffers.indexer_k_start, buffers.indexer_k_end,
          buffers.page_table_1, buffers.real_page_table, buffers.page_table_1_flattened,
          buffers.num_tokens, buffers.num_kv_tokens);
}

}  // namespace nsa_metadata

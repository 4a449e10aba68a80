// The public C++ functions: thin calls through the dispatcher, so that C++
// users get the same kernels, checks and device selection as Python users.
#include <nsa_metadata/nsa_metadata.h>

#include "common/operator_handle.h"

namespace nsa_metadata {

void fill_draft_extend_metadata(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                                int64_t nsa_index_topk, const at::Tensor& seqlens_expanded,
                                const at::Tensor& nsa_cache_seqlens,
                                const std::optional<at::Tensor>& num_tokens) {
  static const auto op =
      find_operator<void(const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&,
                         const at::Tensor&, const std::optional<at::Tensor>&)>(
          "nsa_metadata::fill_draft_extend_metadata");
  op.call(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded, nsa_cache_seqlens,
          num_tokens);
}

std::tuple<at::Tensor, at::Tensor> draft_extend_metadata(const at::Tensor& extend_seq_lens,
                                                         const at::Tensor& seq_lens,
                                                         int64_t nsa_index_topk,
                                                         int64_t capacity) {
  static const auto op = find_operator<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, int64_t, c10::SymInt)>(
      "nsa_metadata::draft_extend_metadata");
  return op.call(extend_seq_lens, seq_lens, nsa_index_topk, c10::SymInt(capacity));
}

}  // namespace nsa_metadata

// Meta kernel of fill_draft_extend_metadata: the host checks without the work,
// which is what FakeTensor, torch.compile and torch.export need to trace a call.
#include "draft_extend/checks.h"

#include <torch/library.h>

namespace nsa_metadata::draft_extend {
namespace {

void fill_draft_extend_metadata_meta(const at::Tensor& extend_seq_lens,
                                     const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                     const at::Tensor& seqlens_expanded,
                                     const at::Tensor& nsa_cache_seqlens,
                                     const std::optional<at::Tensor>& num_tokens,
                                     int64_t index_kpool) {
  check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                  nsa_cache_seqlens, num_tokens, index_kpool);
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, Meta, m) {
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_meta);
}

}  // namespace nsa_metadata::draft_extend

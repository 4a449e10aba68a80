// CPU kernel of fill_draft_extend_metadata: the step-metadata operators' host
// loop (step_metadata/cpu.h) asked for row vectors only. The host sees the
// data here, so bad values (a negative length, a KV length past int32, a
// batch larger than a buffer) raise instead of getting the device's defined
// result.
#include "draft_extend/checks.h"
#include "draft_extend/engine.h"
#include "step_metadata/cpu.h"

#include <ATen/core/Tensor.h>
#include <torch/library.h>

namespace nsa_metadata::draft_extend {
namespace {

void fill_draft_extend_metadata_cpu(const at::Tensor& extend_seq_lens,
                                    const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                    const at::Tensor& seqlens_expanded,
                                    const at::Tensor& nsa_cache_seqlens,
                                    const std::optional<at::Tensor>& num_tokens,
                                    int64_t index_kpool) {
  check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                  nsa_cache_seqlens, num_tokens, index_kpool);
  check_no_aliasing(extend_seq_lens, seq_lens, seqlens_expanded, nsa_cache_seqlens,
                    num_tokens);
  const int64_t expanded_capacity = seqlens_expanded.numel();
  const int64_t cache_capacity = nsa_cache_seqlens.numel();
  // Validates every value before the first write, so an error leaves the
  // caller's buffers as they were.
  const int64_t total = checked_token_total(extend_seq_lens, seq_lens, expanded_capacity,
                                            cache_capacity);

  step_metadata::write_on_host(model_of(extend_seq_lens, seq_lens, nsa_index_topk, index_kpool),
                               extend_seq_lens.size(0),
                               buffers_of(seqlens_expanded, nsa_cache_seqlens, num_tokens),
                               nullptr, {total, 0, 0});
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_cpu);
}

}  // namespace nsa_metadata::draft_extend

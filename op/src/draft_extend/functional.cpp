// draft_extend_metadata: the functional form, written once over the fill op so
// that the CPU, CUDA and Meta backends (and FakeTensor) all get it: it
// allocates the two outputs and lets the dispatcher pick the fill kernel.
#include <nsa_metadata/nsa_metadata.h>

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <tuple>

namespace nsa_metadata::draft_extend {
namespace {

std::tuple<at::Tensor, at::Tensor> draft_extend_metadata(const at::Tensor& extend_seq_lens,
                                                         const at::Tensor& seq_lens,
                                                         int64_t nsa_index_topk,
                                                         c10::SymInt capacity,
                                                         int64_t index_kpool) {
  TORCH_CHECK(capacity >= 0, "capacity should be >= 0, got ", capacity);
  const auto options = extend_seq_lens.options().dtype(at::kInt);
  at::Tensor seqlens_expanded = at::empty_symint({capacity}, options);
  at::Tensor nsa_cache_seqlens = at::empty_symint({capacity}, options);

  // The public API's call through the dispatcher picks the fill kernel.
  nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, nsa_index_topk,
                                           seqlens_expanded, nsa_cache_seqlens, std::nullopt,
                                           index_kpool);
  return {seqlens_expanded, nsa_cache_seqlens};
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CompositeExplicitAutograd, m) {
  m.impl("draft_extend_metadata", &draft_extend_metadata);
}

}  // namespace nsa_metadata::draft_extend

// Every operator of the nsa_metadata namespace, in one place: the schema is
// the user-facing contract (names, argument order, which buffers are
// mutated), so it lives apart from the kernels that implement it.
#include <torch/library.h>

TORCH_LIBRARY(nsa_metadata, m) {
  // Fills preallocated buffers; `(a!)` marks every buffer the op writes, and
  // nothing is returned so that CUDA-graph replays keep the buffers' addresses.
  m.def(
      "fill_draft_extend_metadata(Tensor extend_seq_lens, Tensor seq_lens, "
      "int nsa_index_topk, Tensor(a!) seqlens_expanded, Tensor(b!) nsa_cache_seqlens, *, "
      "Tensor(c!)? num_tokens=None) -> ()",
      {at::Tag::pt2_compliant_tag});
  // Functional form for torch.compile / torch.export: fresh int32 tensors of
  // length `capacity`, the same values as the fill form.
  m.def(
      "draft_extend_metadata(Tensor extend_seq_lens, Tensor seq_lens, "
      "int nsa_index_topk, SymInt capacity) -> (Tensor seqlens_expanded, "
      "Tensor nsa_cache_seqlens)",
      {at::Tag::pt2_compliant_tag});
}

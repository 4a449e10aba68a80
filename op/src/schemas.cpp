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
      "Tensor(c!)? num_tokens=None, int index_kpool=1) -> ()",
      {at::Tag::pt2_compliant_tag});
  // Functional form for torch.compile / torch.export: fresh int32 tensors of
  // length `capacity`, the same values as the fill form.
  m.def(
      "draft_extend_metadata(Tensor extend_seq_lens, Tensor seq_lens, "
      "int nsa_index_topk, SymInt capacity, *, int index_kpool=1) -> (Tensor seqlens_expanded, "
      "Tensor nsa_cache_seqlens)",
      {at::Tag::pt2_compliant_tag});

  // The rest of the per-step family: every output is optional (an engine
  // passes the buffers it keeps) and keyword-only, so that call sites name
  // what they fill.
  m.def(
      "fill_decode_metadata(Tensor seq_lens, Tensor req_pool_indices, Tensor req_to_token, "
      "int nsa_index_topk, int page_size, *, int index_kpool=1, "
      "Tensor(a!)? cache_seqlens=None, "
      "Tensor(b!)? cu_seqlens_k=None, Tensor(c!)? nsa_cache_seqlens=None, "
      "Tensor(d!)? nsa_cu_seqlens_k=None, Tensor(e!)? page_table_1=None, "
      "Tensor(f!)? real_page_table=None) -> ()",
      {at::Tag::pt2_compliant_tag});
  m.def(
      "fill_target_verify_metadata(Tensor seq_lens, Tensor req_pool_indices, "
      "Tensor req_to_token, int num_draft_tokens, int nsa_index_topk, int page_size, *, "
      "int index_kpool=1, Tensor(a!)? cache_seqlens=None, Tensor(b!)? cu_seqlens_k=None, "
      "Tensor(c!)? seqlens_expanded=None, Tensor(d!)? nsa_cache_seqlens=None, "
      "Tensor(e!)? nsa_cu_seqlens_k=None, Tensor(f!)? page_table_1=None, "
      "Tensor(g!)? real_page_table=None, Tensor(h!)? paged_mqa_context_lens=None) -> ()",
      {at::Tag::pt2_compliant_tag});
  // extend_seq_lens=None with num_draft_tokens=N: every request extends by N.
  m.def(
      "fill_draft_extend_metadata_full(Tensor seq_lens, Tensor req_pool_indices, "
      "Tensor req_to_token, Tensor? extend_seq_lens, int nsa_index_topk, int page_size, *, "
      "int? num_draft_tokens=None, int index_kpool=1, Tensor(a!)? cache_seqlens=None, "
      "Tensor(b!)? cu_seqlens_k=None, Tensor(c!)? seqlens_expanded=None, "
      "Tensor(d!)? nsa_cache_seqlens=None, Tensor(e!)? nsa_cu_seqlens_k=None, "
      "Tensor(f!)? page_table_1=None, Tensor(g!)? real_page_table=None, "
      "Tensor(h!)? num_tokens=None) -> ()",
      {at::Tag::pt2_compliant_tag});
  // Extend and prefill (docs/extend.md): per-request vectors and page-table
  // rows, per-token vectors, and every request's slots back to back.
  m.def(
      "fill_extend_metadata(Tensor seq_lens, Tensor extend_seq_lens, Tensor req_pool_indices, "
      "Tensor req_to_token, int nsa_index_topk, int page_size, *, int index_kpool=1, "
      "Tensor(a!)? cache_seqlens=None, Tensor(b!)? cu_seqlens_k=None, "
      "Tensor(c!)? cu_seqlens_q=None, Tensor(d!)? seqlens_expanded=None, "
      "Tensor(e!)? nsa_cache_seqlens=None, Tensor(f!)? nsa_cu_seqlens_k=None, "
      "Tensor(g!)? token_to_batch_idx=None, Tensor(h!)? indexer_k_start=None, "
      "Tensor(i!)? indexer_k_end=None, Tensor(j!)? page_table_1=None, "
      "Tensor(k!)? real_page_table=None, Tensor(l!)? page_table_1_flattened=None, "
      "Tensor(m!)? num_tokens=None, Tensor(n!)? num_kv_tokens=None) -> ()",
      {at::Tag::pt2_compliant_tag});
}

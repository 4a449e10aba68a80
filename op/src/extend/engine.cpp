#include "extend/engine.h"

namespace nsa_metadata::extend {

using step_metadata::counter_of;
using step_metadata::table_of;
using step_metadata::vector_of;

step_metadata::Model model_of(const Arguments& arguments) {
  return step_metadata::counted_rows_model(arguments.seq_lens, arguments.extend_seq_lens,
                                           arguments.nsa_index_topk, arguments.index_kpool,
                                           /*page_row_per_request=*/true);
}

step_metadata::Buffers buffers_of(const Outputs& outputs) {
  step_metadata::Buffers buffers;
  buffers.cache_seqlens = vector_of(outputs.cache_seqlens);
  buffers.cu_seqlens_k = vector_of(outputs.cu_seqlens_k);
  buffers.cu_seqlens_q = vector_of(outputs.cu_seqlens_q);
  buffers.seqlens_expanded = vector_of(outputs.seqlens_expanded);
  buffers.nsa_cache_seqlens = vector_of(outputs.nsa_cache_seqlens);
  buffers.nsa_cu_seqlens_k = vector_of(outputs.nsa_cu_seqlens_k);
  buffers.token_to_batch_idx = vector_of(outputs.token_to_batch_idx);
  buffers.indexer_k_start = vector_of(outputs.indexer_k_start);
  buffers.indexer_k_end = vector_of(outputs.indexer_k_end);
  buffers.page_table_1 = table_of(outputs.page_table_1);
  buffers.real_page_table = table_of(outputs.real_page_table);
  buffers.page_table_1_flattened = vector_of(outputs.page_table_1_flattened);
  buffers.num_tokens = counter_of(outputs.num_tokens);
  buffers.num_kv_tokens = counter_of(outputs.num_kv_tokens);
  return buffers;
}

}  // namespace nsa_metadata::extend

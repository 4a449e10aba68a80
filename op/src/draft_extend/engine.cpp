#include "draft_extend/engine.h"

namespace nsa_metadata::draft_extend {

step_metadata::Model model_of(const Arguments& arguments) {
  return step_metadata::counted_rows_model(arguments.seq_lens, arguments.extend_seq_lens,
                                           arguments.nsa_index_topk, arguments.index_kpool,
                                           /*page_row_per_request=*/false);
}

step_metadata::Buffers buffers_of(const Arguments& arguments) {
  step_metadata::Buffers buffers;
  buffers.seqlens_expanded = step_metadata::vector_of(arguments.seqlens_expanded);
  buffers.nsa_cache_seqlens = step_metadata::vector_of(arguments.nsa_cache_seqlens);
  buffers.num_tokens = step_metadata::counter_of(arguments.num_tokens);
  return buffers;
}

}  // namespace nsa_metadata::draft_extend

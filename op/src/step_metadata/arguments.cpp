#include "step_metadata/arguments.h"

#include "step_metadata/request_math.h"

namespace nsa_metadata::step_metadata {

Model model_of(const Arguments& arguments) {
  return {index_vector_of(arguments.seq_lens),
          arguments.extend_seq_lens.has_value() ? index_vector_of(*arguments.extend_seq_lens)
                                                : IndexVector{},
          arguments.rows_per_request, arguments.top_offset(), arguments.nsa_index_topk,
          arguments.index_kpool, /*page_row_per_request=*/false};
}

Model counted_rows_model(const at::Tensor& seq_lens, const at::Tensor& extend_seq_lens,
                         int64_t nsa_index_topk, int64_t index_kpool,
                         bool page_row_per_request) {
  return {index_vector_of(seq_lens), index_vector_of(extend_seq_lens), /*rows_per_request=*/0,
          /*top_offset=*/0, nsa_index_topk, index_kpool, page_row_per_request};
}

}  // namespace nsa_metadata::step_metadata

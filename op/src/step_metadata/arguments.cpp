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

}  // namespace nsa_metadata::step_metadata

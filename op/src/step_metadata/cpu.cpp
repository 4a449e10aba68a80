// CPU kernels of the step-metadata family, and the host loop that writes the
// rows of every operator (step_metadata/cpu.h). The host sees the data here,
// so bad values raise (before the first write) instead of getting the
// device's defined result.
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/cpu.h"
#include "step_metadata/registration.h"
#include "step_metadata/request_math.h"

#include <algorithm>

namespace nsa_metadata::step_metadata {
namespace {

void fill_step_metadata_cpu(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const int64_t total_rows = checked_row_total(arguments);
  const Buffers buffers = buffers_of(arguments.outputs);
  const HostPages pages{token_table_of(arguments.req_to_token),
                        index_vector_of(arguments.req_pool_indices), arguments.page_size};
  write_on_host(model_of(arguments), arguments.seq_lens.size(0), buffers,
                buffers.has_page_table() ? &pages : nullptr, total_rows);
}

}  // namespace

void write_page_rows(const Buffers& buffers, const TokenTable& tokens, int64_t page_size,
                     int64_t row, int32_t kv, int64_t pool_index) {
  const int32_t* source = tokens.data + pool_index * tokens.row_stride;
  const Table& pages = buffers.page_table_1;
  const int64_t columns = page_columns(pages, row, kv);
  std::copy(source, source + columns, pages.data + row * pages.row_stride);
  const Table& real = buffers.real_page_table;
  const int64_t real_columns = real_page_columns(real, row, kv, page_size);
  for (int64_t c = 0; c < real_columns; ++c) {
    real.data[row * real.row_stride + c] = floor_div(source[c * page_size], page_size);
  }
}

void write_on_host(const Model& model, int64_t batch_size, const Buffers& buffers,
                   const HostPages* pages, int64_t total_rows) {
  const int64_t row_limit = std::max(buffers.vector_row_limit(), buffers.page_row_limit());
  write_heads(buffers, total_rows);
  Sums before{0, 0, 0};
  for (int64_t i = 0; i < batch_size; ++i) {
    const RequestShape shape = request_shape(model, i);
    write_request(buffers, i, shape, before);
    for (int64_t j = 0; j < shape.rows && before.rows + j < row_limit; ++j) {
      const int64_t row = before.rows + j;
      write_row(buffers, shape, j, row, before.topk, model.nsa_index_topk);
      if (pages != nullptr) {
        write_page_rows(buffers, pages->tokens, pages->page_size, row,
                        row_kv_len(shape.top, shape.rows - 1 - j), pages->pool_indices[i]);
      }
    }
    before = add(before, request_sums(shape, model.nsa_index_topk));
  }
  for (int64_t position = total_rows; position < buffers.vector_row_limit(); ++position) {
    write_tail_position(buffers, position, before);
  }
}


TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  register_step_metadata_kernels<&fill_step_metadata_cpu>(m);
}

}  // namespace nsa_metadata::step_metadata

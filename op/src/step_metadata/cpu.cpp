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
  const Sums total = checked_totals(arguments);
  const Buffers buffers = buffers_of(arguments.outputs);
  const HostPages pages{token_table_of(arguments.req_to_token),
                        index_vector_of(arguments.req_pool_indices),
                        Divisor::of(arguments.page_size)};
  write_on_host(model_of(arguments), arguments.seq_lens.size(0), buffers,
                buffers.has_page_table() ? &pages : nullptr, total);
}

}  // namespace

void write_page_rows(const Buffers& buffers, const TokenTable& tokens, const Divisor& page_size,
                     int64_t row, int32_t kv, int64_t pool_index) {
  const int32_t* source = tokens.data + pool_index * tokens.row_stride;
  const Table& pages = buffers.page_table_1;
  const int64_t columns = page_columns(pages, row, kv);
  std::copy(source, source + columns, pages.data + row * pages.row_stride);
  const Table& real = buffers.real_page_table;
  const int64_t real_columns = real_page_columns(real, row, kv, page_size);
  for (int64_t c = 0; c < real_columns; ++c) {
    real.data[row * real.row_stride + c] = page_size.floor(source[c * page_size.divisor()]);
  }
}

namespace {

// Request i's page-table rows and its flattened slots.
void write_request_pages(const Model& model, const Buffers& buffers, const HostPages& pages,
                         int64_t i, const Sums& before) {
  const RequestShape shape = page_shape(model, i);
  const int64_t pool_index = pages.pool_indices[i];
  const int64_t first_row = model.page_row_per_request ? i : before.rows;
  for (int64_t j = 0; j < shape.rows && first_row + j < buffers.page_row_limit(); ++j) {
    write_page_rows(buffers, pages.tokens, pages.page_size, first_row + j,
                    row_kv_len(shape.top, shape.rows - 1 - j), pool_index);
  }
  const Vector& flattened = buffers.page_table_1_flattened;
  const int64_t columns = flattened_columns(flattened, pages.tokens, before.kv, shape.top);
  if (columns > 0) {
    const int32_t* source = pages.tokens.data + pool_index * pages.tokens.row_stride;
    std::copy(source, source + columns, flattened.data + before.kv);
  }
}

}  // namespace

void write_on_host(const Model& model, int64_t batch_size, const Buffers& buffers,
                   const HostPages* pages, const Sums& total) {
  write_heads(buffers, total.rows, total.kv);
  Sums before{0, 0, 0};
  for (int64_t i = 0; i < batch_size; ++i) {
    const RequestShape shape = request_shape(model, i);
    write_request(buffers, i, shape, before);
    for (int64_t j = 0; j < shape.rows && before.rows + j < buffers.vector_row_limit(); ++j) {
      write_row(buffers, model, shape, i, j, before.rows + j, before);
    }
    if (pages != nullptr) {
      write_request_pages(model, buffers, *pages, i, before);
    }
    before = add(before, request_sums(model, shape));
  }
  for (int64_t position = total.rows; position < buffers.vector_row_limit(); ++position) {
    write_tail_position(buffers, position, before);
  }
}

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  register_step_metadata_kernels<&fill_step_metadata_cpu>(m);
}

}  // namespace nsa_metadata::step_metadata

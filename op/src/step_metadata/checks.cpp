#include "step_metadata/checks.h"

#include "common/checks.h"
#include "common/index_vector.h"
#include "common/size_relations.h"
#include "step_metadata/request_math.h"

#include <c10/util/Exception.h>

#include <tuple>
#include <utility>

namespace nsa_metadata::step_metadata {
namespace {

using checks::NamedTensor;

checks::NamedTensors present_outputs(const Outputs& outputs) {
  return checks::present({{&outputs.cache_seqlens, "cache_seqlens"},
                           {&outputs.cu_seqlens_k, "cu_seqlens_k"},
                           {&outputs.seqlens_expanded, "seqlens_expanded"},
                           {&outputs.nsa_cache_seqlens, "nsa_cache_seqlens"},
                           {&outputs.nsa_cu_seqlens_k, "nsa_cu_seqlens_k"},
                           {&outputs.page_table_1, "page_table_1"},
                           {&outputs.real_page_table, "real_page_table"},
                           {&outputs.num_tokens, "num_tokens"},
                           {&outputs.paged_mqa_context_lens, "paged_mqa_context_lens"}});
}

checks::NamedTensors inputs_of(const Arguments& arguments) {
  checks::NamedTensors inputs{{&arguments.seq_lens, "seq_lens"},
                              {&arguments.req_pool_indices, "req_pool_indices"},
                              {&arguments.req_to_token, "req_to_token"}};
  if (arguments.extend_seq_lens.has_value()) {
    inputs.emplace_back(&arguments.extend_seq_lens.value(), "extend_seq_lens");
  }
  return inputs;
}

void check_inputs(const Arguments& arguments) {
  checks::check_index_vector(arguments.seq_lens, "seq_lens");
  checks::check_companion_vector(arguments.req_pool_indices, "req_pool_indices",
                                 arguments.seq_lens, "seq_lens");
  checks::check_token_table(arguments.req_to_token, arguments.seq_lens);
  if (arguments.extend_seq_lens.has_value()) {
    checks::check_companion_vector(*arguments.extend_seq_lens, "extend_seq_lens",
                                   arguments.seq_lens, "seq_lens");
  } else if (arguments.mode != Mode::kDecode) {
    TORCH_CHECK(arguments.rows_per_request >= 1, "num_draft_tokens should be >= 1, got ",
                arguments.rows_per_request);
  }
  checks::check_selection(arguments.nsa_index_topk, arguments.index_kpool);
  checks::check_page_size(arguments.page_size);
}

void check_row_buffer(const at::Tensor& buffer, const char* name, const Arguments& arguments,
                      const c10::SymInt& rows, int64_t extra) {
  if (arguments.exact_rows()) {
    checks::check_buffer_length(buffer, name, sizes::plus(rows, extra),
                                extra == 0 ? "one per query row" : "query rows + 1");
    return;
  }
  if (extra == 0) {
    checks::check_int32_buffer(buffer, name);
  } else {
    checks::check_cumsum_buffer(buffer, name);
  }
  if (arguments.fixed_rows()) {
    const c10::SymInt elements = sizes::plus(rows, extra);
    TORCH_CHECK(sizes::at_least(buffer.sym_size(0), elements), name, " should hold the ",
                elements, " elements of the batch's ", rows, " rows, got ", buffer.sym_size(0));
  }
}

void check_page_table(const at::Tensor& table, const char* name, const Arguments& arguments,
                      const c10::SymInt& rows, int64_t column_stride) {
  if (arguments.exact_rows()) {
    checks::check_table_rows(table, name, rows, "one per query row");
  } else {
    checks::check_int32_table(table, name);
    if (arguments.fixed_rows()) {
      TORCH_CHECK(sizes::at_least(table.sym_size(0), rows), name,
                  " should have at least the batch's ", rows, " rows, got ", table.sym_size(0));
    }
  }
  checks::check_table_width(table, name, arguments.req_to_token, column_stride);
}

void check_outputs(const Arguments& arguments) {
  const Outputs& outputs = arguments.outputs;
  for (const auto& [output, name] : present_outputs(outputs)) {
    checks::check_same_device(*output, name, arguments.seq_lens, "seq_lens");
  }
  const c10::SymInt batch_size = arguments.seq_lens.sym_size(0);
  const c10::SymInt rows = sizes::times(batch_size, arguments.rows_per_request);
  checks::check_request_buffer(outputs.cache_seqlens, "cache_seqlens", batch_size);
  checks::check_request_cumsum(outputs.cu_seqlens_k, "cu_seqlens_k", batch_size);
  if (outputs.seqlens_expanded.has_value()) {
    check_row_buffer(*outputs.seqlens_expanded, "seqlens_expanded", arguments, rows, 0);
  }
  if (outputs.nsa_cache_seqlens.has_value()) {
    check_row_buffer(*outputs.nsa_cache_seqlens, "nsa_cache_seqlens", arguments, rows, 0);
  }
  if (outputs.nsa_cu_seqlens_k.has_value()) {
    check_row_buffer(*outputs.nsa_cu_seqlens_k, "nsa_cu_seqlens_k", arguments, rows, 1);
  }
  if (outputs.page_table_1.has_value()) {
    check_page_table(*outputs.page_table_1, "page_table_1", arguments, rows, 1);
  }
  if (outputs.real_page_table.has_value()) {
    check_page_table(*outputs.real_page_table, "real_page_table", arguments, rows,
                     arguments.page_size);
  }
  if (outputs.num_tokens.has_value()) {
    checks::check_counter(*outputs.num_tokens, "num_tokens");
  }
  if (outputs.paged_mqa_context_lens.has_value()) {
    const at::Tensor& context_lens = *outputs.paged_mqa_context_lens;
    checks::check_table_rows(context_lens, "paged_mqa_context_lens", batch_size,
                             "one per request");
    TORCH_CHECK(sizes::equal(context_lens.sym_size(1), arguments.rows_per_request),
                "paged_mqa_context_lens should have ", arguments.rows_per_request,
                " columns (num_draft_tokens), got ", context_lens.sym_size(1));
  }
}

}  // namespace

void check_arguments(const Arguments& arguments) {
  check_inputs(arguments);
  check_outputs(arguments);
}

void check_no_aliasing(const Arguments& arguments) {
  const checks::NamedTensors outputs = present_outputs(arguments.outputs);
  const checks::NamedTensors inputs = inputs_of(arguments);
  checks::check_no_overlaps(outputs, inputs);
}

Sums checked_totals(const Arguments& arguments) {
  const Model model = model_of(arguments);
  const IndexVector pool_indices = index_vector_of(arguments.req_pool_indices);
  const int64_t pool_rows = arguments.req_to_token.size(0);
  const bool reads_pool = arguments.outputs.has_page_table();
  const int64_t batch_size = arguments.seq_lens.size(0);
  Sums total{0, 0, 0};
  for (int64_t i = 0; i < batch_size; ++i) {
    const RequestShape shape = request_shape(model, i);
    const int64_t extend_seq_len =
        model.extend_seq_lens.data != nullptr ? model.extend_seq_lens[i] : 0;
    checks::check_request_lengths(i, model.seq_lens[i],
                                  model.extend_seq_lens.data != nullptr ? &extend_seq_len : nullptr,
                                  shape.top, arguments.top_offset() != 0);
    if (reads_pool) {
      const int64_t pool_index = pool_indices[i];
      checks::check_pool_index(i, pool_index, pool_rows);
    }
    total = add(total, request_sums(model, shape));
  }
  const Outputs& outputs = arguments.outputs;
  if (outputs.cu_seqlens_k.has_value()) {
    checks::check_sum_fits_int32("cu_seqlens_k", "the sum of the KV lengths", total.kv);
  }
  if (outputs.nsa_cu_seqlens_k.has_value()) {
    checks::check_sum_fits_int32("nsa_cu_seqlens_k", "the sum of nsa_cache_seqlens", total.topk);
  }
  if (!arguments.exact_rows()) {
    for (const auto& [output, name, extra] :
         {std::tuple{&outputs.seqlens_expanded, "seqlens_expanded", 0},
          std::tuple{&outputs.nsa_cache_seqlens, "nsa_cache_seqlens", 0},
          std::tuple{&outputs.nsa_cu_seqlens_k, "nsa_cu_seqlens_k", 1}}) {
      if (output->has_value()) {
        checks::check_holds_rows((*output)->numel(), name, total.rows, extra);
      }
    }
    for (const auto& [table, name] : {std::pair{&outputs.page_table_1, "page_table_1"},
                                      std::pair{&outputs.real_page_table, "real_page_table"}}) {
      TORCH_CHECK(!table->has_value() || (*table)->size(0) >= total.rows, name,
                  " should have a row for each of the ", total.rows,
                  " rows of the batch, got ", (*table)->size(0), " rows");
    }
  }
  return total;
}

}  // namespace nsa_metadata::step_metadata

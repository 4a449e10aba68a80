#include "extend/checks.h"

#include "common/checks.h"
#include "common/index_vector.h"
#include "common/length_math.h"
#include "extend/engine.h"

#include <c10/util/Exception.h>

#include <array>
#include <utility>

namespace nsa_metadata::extend {
namespace {

using checks::NamedTensor;

// The per-token buffers: any capacity (the token total lives on the device).
std::array<checks::NamedOptional, 5> token_buffers(const Outputs& outputs) {
  return {{{&outputs.seqlens_expanded, "seqlens_expanded"},
           {&outputs.nsa_cache_seqlens, "nsa_cache_seqlens"},
           {&outputs.token_to_batch_idx, "token_to_batch_idx"},
           {&outputs.indexer_k_start, "indexer_k_start"},
           {&outputs.indexer_k_end, "indexer_k_end"}}};
}

checks::NamedTensors present_outputs(const Outputs& outputs) {
  return checks::present({{&outputs.cache_seqlens, "cache_seqlens"},
                           {&outputs.cu_seqlens_k, "cu_seqlens_k"},
                           {&outputs.cu_seqlens_q, "cu_seqlens_q"},
                           {&outputs.seqlens_expanded, "seqlens_expanded"},
                           {&outputs.nsa_cache_seqlens, "nsa_cache_seqlens"},
                           {&outputs.nsa_cu_seqlens_k, "nsa_cu_seqlens_k"},
                           {&outputs.token_to_batch_idx, "token_to_batch_idx"},
                           {&outputs.indexer_k_start, "indexer_k_start"},
                           {&outputs.indexer_k_end, "indexer_k_end"},
                           {&outputs.page_table_1, "page_table_1"},
                           {&outputs.real_page_table, "real_page_table"},
                           {&outputs.page_table_1_flattened, "page_table_1_flattened"},
                           {&outputs.num_tokens, "num_tokens"},
                           {&outputs.num_kv_tokens, "num_kv_tokens"}});
}

void check_inputs(const Arguments& arguments) {
  checks::check_index_vector(arguments.seq_lens, "seq_lens");
  checks::check_companion_vector(arguments.extend_seq_lens, "extend_seq_lens", arguments.seq_lens,
                                 "seq_lens");
  checks::check_companion_vector(arguments.req_pool_indices, "req_pool_indices",
                                 arguments.seq_lens, "seq_lens");
  checks::check_token_table(arguments.req_to_token, arguments.seq_lens);
  checks::check_selection(arguments.nsa_index_topk, arguments.index_kpool);
  checks::check_page_size(arguments.page_size);
}

void check_page_table(const at::Tensor& table, const char* name, const Arguments& arguments,
                      int64_t column_stride) {
  checks::check_table_rows(table, name, arguments.seq_lens.sym_size(0), "one per request");
  checks::check_table_width(table, name, arguments.req_to_token, column_stride);
}

void check_outputs(const Arguments& arguments) {
  const Outputs& outputs = arguments.outputs;
  for (const auto& [output, name] : present_outputs(outputs)) {
    checks::check_same_device(*output, name, arguments.seq_lens, "seq_lens");
  }
  const c10::SymInt batch_size = arguments.seq_lens.sym_size(0);
  checks::check_request_buffer(outputs.cache_seqlens, "cache_seqlens", batch_size);
  checks::check_request_cumsum(outputs.cu_seqlens_k, "cu_seqlens_k", batch_size);
  checks::check_request_cumsum(outputs.cu_seqlens_q, "cu_seqlens_q", batch_size);
  for (const auto& [output, name] : token_buffers(outputs)) {
    if (output->has_value()) {
      checks::check_int32_buffer(**output, name);
    }
  }
  if (outputs.nsa_cu_seqlens_k.has_value()) {
    checks::check_cumsum_buffer(*outputs.nsa_cu_seqlens_k, "nsa_cu_seqlens_k");
  }
  if (outputs.page_table_1.has_value()) {
    check_page_table(*outputs.page_table_1, "page_table_1", arguments, 1);
  }
  if (outputs.real_page_table.has_value()) {
    check_page_table(*outputs.real_page_table, "real_page_table", arguments,
                     arguments.page_size);
  }
  if (outputs.page_table_1_flattened.has_value()) {
    checks::check_int32_buffer(*outputs.page_table_1_flattened, "page_table_1_flattened");
  }
  for (const auto& [output, name] : {std::pair{&outputs.num_tokens, "num_tokens"},
                                     std::pair{&outputs.num_kv_tokens, "num_kv_tokens"}}) {
    if (output->has_value()) {
      checks::check_counter(**output, name);
    }
  }
}

}  // namespace

void check_arguments(const Arguments& arguments) {
  check_inputs(arguments);
  check_outputs(arguments);
}

void check_no_aliasing(const Arguments& arguments) {
  const checks::NamedTensors outputs = present_outputs(arguments.outputs);
  const std::array<NamedTensor, 4> inputs{{{&arguments.seq_lens, "seq_lens"},
                                           {&arguments.extend_seq_lens, "extend_seq_lens"},
                                           {&arguments.req_pool_indices, "req_pool_indices"},
                                           {&arguments.req_to_token, "req_to_token"}}};
  checks::check_no_overlaps(outputs, inputs);
}

step_metadata::Sums checked_totals(const Arguments& arguments) {
  const step_metadata::Model model = model_of(arguments);
  const IndexVector pool_indices = index_vector_of(arguments.req_pool_indices);
  const int64_t pool_rows = arguments.req_to_token.size(0);
  const Outputs& outputs = arguments.outputs;
  step_metadata::Sums totals{0, 0, 0};
  for (int64_t i = 0; i < arguments.seq_lens.size(0); ++i) {
    const int64_t seq_len = model.seq_lens[i];
    const int64_t extend_seq_len = model.extend_seq_lens[i];
    checks::check_request_lengths(i, seq_len, &extend_seq_len, seq_len,
                                  /*top_adds_draft_tokens=*/false);
    if (outputs.has_page_table()) {
      const int64_t pool_index = pool_indices[i];
      checks::check_pool_index(i, pool_index, pool_rows);
    }
    totals = add(totals, request_sums(model, request_shape(model, i)));
  }
  for (const auto& [output, name] : token_buffers(outputs)) {
    if (output->has_value()) {
      checks::check_holds_rows((*output)->numel(), name, totals.rows, 0);
    }
  }
  if (outputs.nsa_cu_seqlens_k.has_value()) {
    checks::check_holds_rows(outputs.nsa_cu_seqlens_k->numel(), "nsa_cu_seqlens_k",
                             totals.rows, 1);
  }
  if (outputs.page_table_1_flattened.has_value()) {
    const int64_t capacity = outputs.page_table_1_flattened->numel();
    TORCH_CHECK(capacity >= totals.kv, "page_table_1_flattened should hold the ", totals.kv,
                " KV tokens of the batch, got ", capacity, " elements");
  }
  if (outputs.cu_seqlens_k.has_value()) {
    checks::check_sum_fits_int32("cu_seqlens_k", "the sum of the KV lengths", totals.kv);
  }
  for (const auto& [output, name] : {std::pair{&outputs.indexer_k_start, "indexer_k_start"},
                                     std::pair{&outputs.indexer_k_end, "indexer_k_end"}}) {
    TORCH_CHECK(!output->has_value() || totals.kv <= kInt32Max, name,
                "'s values, up to the sum of the KV lengths, should fit int32, got ", totals.kv);
  }
  if (outputs.cu_seqlens_q.has_value()) {
    checks::check_sum_fits_int32("cu_seqlens_q", "the sum of extend_seq_lens", totals.rows);
  }
  if (outputs.nsa_cu_seqlens_k.has_value()) {
    checks::check_sum_fits_int32("nsa_cu_seqlens_k", "the sum of nsa_cache_seqlens",
                                 totals.topk);
  }
  return totals;
}

}  // namespace nsa_metadata::extend

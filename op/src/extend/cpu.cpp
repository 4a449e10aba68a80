// CPU kernel of fill_extend_metadata (docs/extend.md). The host sees the data
// here, so bad values raise before the first write; past the checks every
// length and sum fits its int32 output, and every token its buffer.
#include "common/index_vector.h"
#include "common/length_math.h"
#include "common/optional_buffer.h"
#include "extend/checks.h"
#include "extend/registration.h"
#include "step_metadata/buffers.h"
#include "step_metadata/cpu.h"

#include <algorithm>

namespace nsa_metadata::extend {
namespace {

void write_count(const std::optional<at::Tensor>& counter, int64_t count) {
  if (!counter.has_value()) {
    return;
  }
  if (counter->scalar_type() == at::kLong) {
    *counter->mutable_data_ptr<int64_t>() = count;
  } else {
    *counter->mutable_data_ptr<int32_t>() = narrow_count<int32_t>(count);
  }
}

// Request i's page-table rows (as decode's, one row per request) and its
// flattened slots: its req_to_token row up to its KV length, within
// req_to_token's width.
void write_pages(const Arguments& arguments, const step_metadata::Buffers& tables,
                 const step_metadata::TokenTable& tokens, int64_t i, int64_t pool_index,
                 int32_t kv_len, int64_t kv_before) {
  step_metadata::write_page_rows(tables, tokens, arguments.page_size, i, kv_len, pool_index);
  if (arguments.outputs.page_table_1_flattened.has_value()) {
    const int32_t* source = tokens.data + pool_index * tokens.row_stride;
    const int64_t columns = std::min<int64_t>(kv_len, tokens.columns);
    std::copy(source, source + columns,
              data_of(arguments.outputs.page_table_1_flattened) + kv_before);
  }
}

void fill_extend_metadata_cpu(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const Totals totals = checked_totals(arguments);
  const Outputs& outputs = arguments.outputs;
  const IndexVector seq_lens = index_vector_of(arguments.seq_lens);
  const IndexVector extend_seq_lens = index_vector_of(arguments.extend_seq_lens);
  const IndexVector pool_indices = index_vector_of(arguments.req_pool_indices);
  step_metadata::Buffers tables{};
  tables.page_table_1 = step_metadata::table_of(outputs.page_table_1);
  tables.real_page_table = step_metadata::table_of(outputs.real_page_table);
  const step_metadata::TokenTable tokens = step_metadata::token_table_of(arguments.req_to_token);
  int32_t* cache_seqlens = data_of(outputs.cache_seqlens);
  int32_t* cu_seqlens_k = data_of(outputs.cu_seqlens_k);
  int32_t* cu_seqlens_q = data_of(outputs.cu_seqlens_q);
  int32_t* seqlens_expanded = data_of(outputs.seqlens_expanded);
  int32_t* nsa_cache_seqlens = data_of(outputs.nsa_cache_seqlens);
  int32_t* nsa_cu_seqlens_k = data_of(outputs.nsa_cu_seqlens_k);
  int32_t* token_to_batch_idx = data_of(outputs.token_to_batch_idx);
  int32_t* indexer_k_start = data_of(outputs.indexer_k_start);
  int32_t* indexer_k_end = data_of(outputs.indexer_k_end);

  for (int32_t* cumulative : {cu_seqlens_k, cu_seqlens_q, nsa_cu_seqlens_k}) {
    if (cumulative != nullptr) {
      cumulative[0] = 0;
    }
  }
  int64_t tokens_before = 0;  // q_i
  int64_t kv_before = 0;      // k_i
  int64_t topk_before = 0;
  for (int64_t i = 0; i < arguments.seq_lens.size(0); ++i) {
    // In range after the checks: 0 <= s <= INT32_MAX, e >= 0.
    const auto kv_len = static_cast<int32_t>(seq_lens[i]);
    const int64_t extend_seq_len = extend_seq_lens[i];
    if (cache_seqlens != nullptr) {
      cache_seqlens[i] = kv_len;
    }
    if (cu_seqlens_k != nullptr) {
      cu_seqlens_k[i + 1] = static_cast<int32_t>(kv_before + kv_len);
    }
    if (cu_seqlens_q != nullptr) {
      cu_seqlens_q[i + 1] = static_cast<int32_t>(tokens_before + extend_seq_len);
    }
    for (int64_t j = 0; j < extend_seq_len; ++j) {
      const int64_t t = tokens_before + j;
      const int32_t expanded = row_kv_len(kv_len, extend_seq_len - 1 - j);
      const int32_t selected =
          pooled_topk_len(expanded, arguments.nsa_index_topk, arguments.index_kpool);
      topk_before += selected;
      if (seqlens_expanded != nullptr) seqlens_expanded[t] = expanded;
      if (nsa_cache_seqlens != nullptr) nsa_cache_seqlens[t] = selected;
      if (nsa_cu_seqlens_k != nullptr) nsa_cu_seqlens_k[t + 1] = static_cast<int32_t>(topk_before);
      if (token_to_batch_idx != nullptr) token_to_batch_idx[t] = static_cast<int32_t>(i);
      if (indexer_k_start != nullptr) indexer_k_start[t] = static_cast<int32_t>(kv_before);
      if (indexer_k_end != nullptr) indexer_k_end[t] = static_cast<int32_t>(kv_before + expanded);
    }
    if (outputs.has_page_table()) {
      write_pages(arguments, tables, tokens, i, pool_indices[i], kv_len, kv_before);
    }
    tokens_before += extend_seq_len;
    kv_before += kv_len;
  }
  // Past the batch's tokens: zeros, and nsa_cu_seqlens_k repeats its total.
  for (const std::optional<at::Tensor>* buffer :
       {&outputs.seqlens_expanded, &outputs.nsa_cache_seqlens, &outputs.token_to_batch_idx,
        &outputs.indexer_k_start, &outputs.indexer_k_end}) {
    if (buffer->has_value()) {
      std::fill(data_of(*buffer) + totals.tokens, data_of(*buffer) + capacity_of(*buffer), 0);
    }
  }
  if (nsa_cu_seqlens_k != nullptr) {
    std::fill(nsa_cu_seqlens_k + totals.tokens + 1,
              nsa_cu_seqlens_k + capacity_of(outputs.nsa_cu_seqlens_k),
              static_cast<int32_t>(topk_before));
  }
  write_count(outputs.num_tokens, totals.tokens);
  write_count(outputs.num_kv_tokens, totals.kv);
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  register_extend_kernel<&fill_extend_metadata_cpu>(m);
}

}  // namespace nsa_metadata::extend

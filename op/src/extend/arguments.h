// The arguments of fill_extend_metadata (docs/extend.md) in one shape, so that
// one set of checks serves its kernels.
//
// Request i has s = seq_lens[i] tokens in its KV cache after the step, of
// which e = extend_seq_lens[i] are new: query tokens t = q_i + j (j < e),
// q_i and k_i the sums of e and s over the requests before i. Per token the
// rows follow the draft-extend model (request_math.h: `rows` = e, `top` = s).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::extend {

// Preallocated outputs; each may be absent. int32 but the counters.
struct Outputs {
  const std::optional<at::Tensor>& cache_seqlens;           // [bs]
  const std::optional<at::Tensor>& cu_seqlens_k;            // [bs + 1]
  const std::optional<at::Tensor>& cu_seqlens_q;            // [bs + 1]
  const std::optional<at::Tensor>& seqlens_expanded;        // per token, any capacity
  const std::optional<at::Tensor>& nsa_cache_seqlens;       // per token
  const std::optional<at::Tensor>& nsa_cu_seqlens_k;        // per token + 1
  const std::optional<at::Tensor>& token_to_batch_idx;      // per token
  const std::optional<at::Tensor>& indexer_k_start;         // per token
  const std::optional<at::Tensor>& indexer_k_end;           // per token
  const std::optional<at::Tensor>& page_table_1;            // [bs, w]
  const std::optional<at::Tensor>& real_page_table;         // [bs, w']
  const std::optional<at::Tensor>& page_table_1_flattened;  // per KV token, any capacity
  const std::optional<at::Tensor>& num_tokens;              // int32 or int64
  const std::optional<at::Tensor>& num_kv_tokens;           // int32 or int64

  bool has_page_table() const {
    return page_table_1.has_value() || real_page_table.has_value() ||
           page_table_1_flattened.has_value();
  }
};

struct Arguments {
  const at::Tensor& seq_lens;
  const at::Tensor& extend_seq_lens;
  const at::Tensor& req_pool_indices;
  const at::Tensor& req_to_token;
  int64_t nsa_index_topk;
  int64_t page_size;
  int64_t index_kpool;
  Outputs outputs;
};

}  // namespace nsa_metadata::extend

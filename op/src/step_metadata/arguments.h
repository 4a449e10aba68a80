// The arguments of the per-step family (decode, target-verify and
// draft-extend with page tables) in one shape, so that one set of checks and
// one kernel per backend serve all three operators.
//
// Every mode is the same model (common/length_math.h): request i owns `rows`
// consecutive query rows whose last row sees `top` KV tokens:
//   decode            rows 1                   top seq_lens[i]
//   target-verify     rows N                   top seq_lens[i] + N
//   draft-extend      rows extend_seq_lens[i]  top seq_lens[i]
//                     (or a static N)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::step_metadata {

enum class Mode { kDecode, kTargetVerify, kDraftExtend };

// Preallocated int32 outputs; each may be absent.
struct Outputs {
  const std::optional<at::Tensor>& cache_seqlens;
  const std::optional<at::Tensor>& cu_seqlens_k;
  const std::optional<at::Tensor>& seqlens_expanded;
  const std::optional<at::Tensor>& nsa_cache_seqlens;
  const std::optional<at::Tensor>& nsa_cu_seqlens_k;
  const std::optional<at::Tensor>& page_table_1;
  const std::optional<at::Tensor>& real_page_table;
  const std::optional<at::Tensor>& num_tokens;  // draft-extend only; int32 or int64
  // Target-verify only: [batch, N], every column of row i is cache_seqlens[i].
  const std::optional<at::Tensor>& paged_mqa_context_lens;

  bool has_page_table() const { return page_table_1.has_value() || real_page_table.has_value(); }
};

struct Arguments {
  Mode mode;
  const at::Tensor& seq_lens;
  const at::Tensor& req_pool_indices;
  const at::Tensor& req_to_token;
  // Draft-extend with per-request lengths; otherwise every request has
  // `rows_per_request` rows.
  const std::optional<at::Tensor>& extend_seq_lens;
  int64_t rows_per_request;
  int64_t nsa_index_topk;
  int64_t page_size;
  int64_t index_kpool;
  Outputs outputs;

  bool fixed_rows() const { return !extend_seq_lens.has_value(); }
  // top - seq_lens[i]: N for target-verify, 0 otherwise.
  int64_t top_offset() const { return mode == Mode::kTargetVerify ? rows_per_request : 0; }
  // Decode and target-verify rows fill their buffers exactly; draft-extend
  // buffers have a capacity, with a defined tail past the batch's rows.
  bool exact_rows() const { return mode != Mode::kDraftExtend; }
};

}  // namespace nsa_metadata::step_metadata

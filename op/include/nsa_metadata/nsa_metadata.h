// Public C++ API of nsa-metadata: per-step metadata for DeepSeek-V3.2-style
// sparse attention (NSA/DSA), for C++ inference applications.
//
// Each function calls the registered operator through the PyTorch dispatcher,
// so it accepts CPU and CUDA tensors alike and behaves exactly like
// torch.ops.nsa_metadata.<name> in Python (same checks, same messages).
#pragma once

#include <nsa_metadata/export.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace nsa_metadata {

// Draft-extend metadata: request i adds extend_seq_lens[i] tokens to a KV cache
// that then holds seq_lens[i] tokens. For token j of request i, at row
// offset_i + j (offset_i = sum of the earlier requests' extend lengths):
//   seqlens_expanded[row]  = max(0, seq_lens[i] - extend_seq_lens[i] + 1 + j)
//   nsa_cache_seqlens[row] = min(x // K * K, nsa_index_topk) + x % K,
//                            x = seqlens_expanded[row], K = index_kpool
//                            (K = 1: min(x, nsa_index_topk))
// Rows from the total up to each buffer's capacity are set to 0. num_tokens, if
// given (one int32 or int64 element), receives the total. On CUDA: no host
// synchronization; up to 12288 requests one kernel launch and no allocation
// (safe in CUDA-graph capture), past that two launches and an 8-byte-a-block
// workspace from PyTorch's caching allocator (stream-ordered, capturable).
// See docs/draft_extend.md for what bad device values produce.
NSA_METADATA_API void fill_draft_extend_metadata(
    const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens, int64_t nsa_index_topk,
    const at::Tensor& seqlens_expanded, const at::Tensor& nsa_cache_seqlens,
    const std::optional<at::Tensor>& num_tokens = std::nullopt, int64_t index_kpool = 1);

// Functional form: returns (seqlens_expanded, nsa_cache_seqlens), fresh int32
// tensors of length `capacity` on the inputs' device.
NSA_METADATA_API std::tuple<at::Tensor, at::Tensor> draft_extend_metadata(
    const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens, int64_t nsa_index_topk,
    int64_t capacity, int64_t index_kpool = 1);

// ---- The rest of the per-step family (docs/step_metadata.md) ----------------
// Inputs: seq_lens[bs] and req_pool_indices[bs] (int32 or int64),
// req_to_token[pool, width] (int32, unit stride along a row), nsa_index_topk
// and page_size (>= 1). Request i's query rows are its last tokens: row j of
// n rows sees kv = seq - (n - 1 - j) tokens, with seq = seq_lens[i] + N for
// target-verify and seq_lens[i] otherwise. Each output is optional:
struct StepMetadataBuffers {
  std::optional<at::Tensor> cache_seqlens;      // [bs]: the request's KV length
  std::optional<at::Tensor> cu_seqlens_k;       // [bs + 1]: cumsum0(cache_seqlens)
  std::optional<at::Tensor> seqlens_expanded;   // per row: kv (not in decode)
  std::optional<at::Tensor> nsa_cache_seqlens;  // per row: min(kv, topk), pooled by index_kpool
  std::optional<at::Tensor> nsa_cu_seqlens_k;   // rows + 1: cumsum0(nsa_cache_seqlens)
  std::optional<at::Tensor> page_table_1;       // [rows, w]: req_to_token row, c < kv
  std::optional<at::Tensor> real_page_table;    // [rows, w]: page_table_1[r, c*P] // P
  std::optional<at::Tensor> num_tokens;         // draft-extend only: the number of rows
  std::optional<at::Tensor> paged_mqa_context_lens;  // target-verify only: [bs, N] of
                                                     // cache_seqlens[i] (DeepGEMM's layout)
};
// index_kpool (K >= 1): nsa_cache_seqlens = min(floor(kv / K) * K, topk) + kv mod K,
// for an indexer that selects whole pools of K tokens; K = 1 is min(kv, topk).
// Page-table columns past a row's kv are left untouched. On CUDA each call is
// one kernel launch with no host synchronization and no allocation.

// Decode: one row per request; seqlens_expanded, num_tokens and
// paged_mqa_context_lens must be absent.
NSA_METADATA_API void fill_decode_metadata(const at::Tensor& seq_lens,
                                           const at::Tensor& req_pool_indices,
                                           const at::Tensor& req_to_token,
                                           int64_t nsa_index_topk, int64_t page_size,
                                           const StepMetadataBuffers& buffers,
                                           int64_t index_kpool = 1);

// Target-verify: num_draft_tokens rows per request; num_tokens must be absent.
NSA_METADATA_API void fill_target_verify_metadata(
    const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
    const at::Tensor& req_to_token, int64_t num_draft_tokens, int64_t nsa_index_topk,
    int64_t page_size, const StepMetadataBuffers& buffers, int64_t index_kpool = 1);

// Draft-extend: extend_seq_lens[i] rows per request (or num_draft_tokens for
// every request, when extend_seq_lens is absent). Row buffers have a capacity:
// rows past the batch's are 0, nsa_cu_seqlens_k repeats its last value there,
// and page-table rows past the batch's are untouched. paged_mqa_context_lens
// must be absent.
NSA_METADATA_API void fill_draft_extend_metadata_full(
    const at::Tensor& seq_lens, const at::Tensor& req_pool_indices,
    const at::Tensor& req_to_token, const std::optional<at::Tensor>& extend_seq_lens,
    int64_t nsa_index_topk, int64_t page_size, const StepMetadataBuffers& buffers,
    std::optional<int64_t> num_draft_tokens = std::nullopt, int64_t index_kpool = 1);

// ---- Extend and prefill (docs/extend.md) -----------------------------------
// Request i has s = seq_lens[i] KV tokens after the step, e = extend_seq_lens[i]
// of them new; its query tokens are t = q_i + j (j < e), q_i and k_i the sums
// of e and s over the requests before it. Each output is optional:
struct ExtendMetadataBuffers {
  std::optional<at::Tensor> cache_seqlens;           // [bs]: s
  std::optional<at::Tensor> cu_seqlens_k;            // [bs + 1]: cumsum0(seq_lens)
  std::optional<at::Tensor> cu_seqlens_q;            // [bs + 1]: cumsum0(extend_seq_lens)
  std::optional<at::Tensor> seqlens_expanded;        // per token: max(0, s - e + 1 + j)
  std::optional<at::Tensor> nsa_cache_seqlens;       // per token, pooled by index_kpool
  std::optional<at::Tensor> nsa_cu_seqlens_k;        // tokens + 1: cumsum0(nsa_cache_seqlens)
  std::optional<at::Tensor> token_to_batch_idx;      // per token: i
  std::optional<at::Tensor> indexer_k_start;         // per token: k_i
  std::optional<at::Tensor> indexer_k_end;           // per token: k_i + seqlens_expanded
  std::optional<at::Tensor> page_table_1;            // [bs, w]: req_to_token row, c < s
  std::optional<at::Tensor> real_page_table;         // [bs, w']: page_table_1[i, c*P] // P
  std::optional<at::Tensor> page_table_1_flattened;  // [k_i + c]: req_to_token row, c < s
  std::optional<at::Tensor> num_tokens;              // the token total
  std::optional<at::Tensor> num_kv_tokens;           // the KV total
};
// Per-token buffers and the flattened table have a capacity: per-token
// positions past the token total are 0 (nsa_cu_seqlens_k repeats its last
// value), flattened positions past the KV total are untouched.
NSA_METADATA_API void fill_extend_metadata(const at::Tensor& seq_lens,
                                           const at::Tensor& extend_seq_lens,
                                           const at::Tensor& req_pool_indices,
                                           const at::Tensor& req_to_token,
                                           int64_t nsa_index_topk, int64_t page_size,
                                           const ExtendMetadataBuffers& buffers,
                                           int64_t index_kpool = 1);

}  // namespace nsa_metadata

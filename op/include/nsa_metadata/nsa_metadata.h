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
//   nsa_cache_seqlens[row] = min(seqlens_expanded[row], nsa_index_topk)
// Rows from the total up to each buffer's capacity are set to 0. num_tokens, if
// given (one int32 or int64 element), receives the total. On CUDA: one kernel
// launch, no host synchronization, no allocation (safe in CUDA-graph capture).
// See docs/draft_extend.md for what bad device values produce.
NSA_METADATA_API void fill_draft_extend_metadata(
    const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens, int64_t nsa_index_topk,
    const at::Tensor& seqlens_expanded, const at::Tensor& nsa_cache_seqlens,
    const std::optional<at::Tensor>& num_tokens = std::nullopt);

// Functional form: returns (seqlens_expanded, nsa_cache_seqlens), fresh int32
// tensors of length `capacity` on the inputs' device.
NSA_METADATA_API std::tuple<at::Tensor, at::Tensor> draft_extend_metadata(
    const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens, int64_t nsa_index_topk,
    int64_t capacity);

}  // namespace nsa_metadata

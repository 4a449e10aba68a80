// The arguments of fill_draft_extend_metadata (docs/draft_extend.md) in one
// shape, so that one set of checks serves its kernels.
//
// Request i has extend_seq_lens[i] query rows, the last of which sees
// seq_lens[i] tokens; the rows' lengths fill the two buffers (each of any
// capacity) and num_tokens, if given, receives their total.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::draft_extend {

struct Arguments {
  const at::Tensor& extend_seq_lens;
  const at::Tensor& seq_lens;
  int64_t nsa_index_topk;
  const at::Tensor& seqlens_expanded;           // int32, any capacity
  const at::Tensor& nsa_cache_seqlens;          // int32, any capacity
  const std::optional<at::Tensor>& num_tokens;  // int32 or int64
  int64_t index_kpool;
};

}  // namespace nsa_metadata::draft_extend

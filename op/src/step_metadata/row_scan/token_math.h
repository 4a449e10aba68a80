// The per-token arithmetic of draft-extend metadata, in the terms of
// common/length_math.h (shared with the rest of the per-step family), so that
// the row-scan kernels and the engine's other kernels agree on
// every input, including values only the device can see.
#pragma once

#include "common/length_math.h"

namespace nsa_metadata::step_metadata::row_scan {

using nsa_metadata::kInt32Max;
using nsa_metadata::kInt64Max;
using nsa_metadata::saturating_add;

// A negative extend length contributes no tokens.
NSA_HOST_DEVICE int64_t tokens_of(int64_t extend_seq_len) { return rows_of(extend_seq_len); }

// seqlens_expanded for token j (0 <= j < extend_seq_len) of a request:
// max(0, seq_len - extend_seq_len + 1 + j), saturated to INT32_MAX.
NSA_HOST_DEVICE int32_t expanded_seqlen(int64_t seq_len, int64_t extend_seq_len, int64_t j) {
  return row_kv_len(seq_len, extend_seq_len - 1 - j);
}

NSA_HOST_DEVICE int32_t nsa_cache_seqlen(int32_t expanded, int64_t nsa_index_topk,
                                         int64_t index_kpool) {
  return pooled_topk_len(expanded, nsa_index_topk, index_kpool);
}

// num_tokens receives the true total; an int32 num_tokens saturates at
// INT32_MAX, still larger than any capacity the caller's buffers have.
template <typename count_t>
NSA_HOST_DEVICE count_t narrow_total(int64_t total) {
  return narrow_count<count_t>(total);
}

}  // namespace nsa_metadata::step_metadata::row_scan

// CPU kernel of fill_draft_extend_metadata. The host sees the data here, so
// bad values (a negative length, a KV length past int32, a batch larger than
// a buffer) raise instead of getting the device's defined result.
#include "common/dispatch.h"
#include "draft_extend/checks.h"
#include "draft_extend/token_math.h"

#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>

namespace nsa_metadata::draft_extend {
namespace {

template <typename extend_t, typename seq_t>
void expand_rows(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                 int64_t nsa_index_topk, int32_t* seqlens_expanded,
                 int32_t* nsa_cache_seqlens) {
  const extend_t* extend = extend_seq_lens.const_data_ptr<extend_t>();
  const seq_t* seq = seq_lens.const_data_ptr<seq_t>();
  const int64_t extend_stride = extend_seq_lens.stride(0);
  const int64_t seq_stride = seq_lens.stride(0);
  const int64_t batch_size = extend_seq_lens.size(0);

  int64_t row = 0;
  for (int64_t i = 0; i < batch_size; ++i) {
    const int64_t extend_seq_len = extend[i * extend_stride];
    const int64_t seq_len = seq[i * seq_stride];
    for (int64_t j = 0; j < extend_seq_len; ++j, ++row) {
      const int32_t expanded = expanded_seqlen(seq_len, extend_seq_len, j);
      seqlens_expanded[row] = expanded;
      nsa_cache_seqlens[row] = nsa_cache_seqlen(expanded, nsa_index_topk);
    }
  }
}

void fill_draft_extend_metadata_cpu(const at::Tensor& extend_seq_lens,
                                    const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                    const at::Tensor& seqlens_expanded,
                                    const at::Tensor& nsa_cache_seqlens,
                                    const std::optional<at::Tensor>& num_tokens) {
  check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                  nsa_cache_seqlens, num_tokens);
  check_no_aliasing(extend_seq_lens, seq_lens, seqlens_expanded, nsa_cache_seqlens,
                    num_tokens);
  const int64_t expanded_capacity = seqlens_expanded.numel();
  const int64_t cache_capacity = nsa_cache_seqlens.numel();
  // Validates every value before the first write, so an error leaves the
  // caller's buffers as they were.
  const int64_t total = checked_token_total(extend_seq_lens, seq_lens, expanded_capacity,
                                            cache_capacity);

  int32_t* expanded_rows = seqlens_expanded.mutable_data_ptr<int32_t>();
  int32_t* cache_rows = nsa_cache_seqlens.mutable_data_ptr<int32_t>();
  dispatch_index_type(extend_seq_lens.scalar_type(), [&](auto extend_tag) {
    dispatch_index_type(seq_lens.scalar_type(), [&](auto seq_tag) {
      expand_rows<decltype(extend_tag), decltype(seq_tag)>(
          extend_seq_lens, seq_lens, nsa_index_topk, expanded_rows, cache_rows);
    });
  });
  std::fill(expanded_rows + total, expanded_rows + expanded_capacity, 0);
  std::fill(cache_rows + total, cache_rows + cache_capacity, 0);

  if (num_tokens.has_value()) {
    dispatch_index_type(num_tokens->scalar_type(), [&](auto count_tag) {
      using count_t = decltype(count_tag);
      *num_tokens->mutable_data_ptr<count_t>() = narrow_total<count_t>(total);
    });
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_cpu);
}

}  // namespace nsa_metadata::draft_extend

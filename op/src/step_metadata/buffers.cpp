#include "step_metadata/buffers.h"

#include "common/optional_buffer.h"

namespace nsa_metadata::step_metadata {

Vector vector_of(const std::optional<at::Tensor>& vector) {
  return {data_of(vector), capacity_of(vector)};
}

Table table_of(const std::optional<at::Tensor>& tensor) {
  if (!tensor.has_value()) {
    return {};
  }
  return {int32_data(*tensor), tensor->size(0), tensor->size(1), tensor->stride(0)};
}

Counter counter_of(const std::optional<at::Tensor>& counter) {
  if (!counter.has_value()) {
    return {};
  }
  return {counter->mutable_data_ptr(), counter->scalar_type() == at::kLong};
}

Buffers buffers_of(const Outputs& outputs) {
  Buffers buffers;
  buffers.cache_seqlens = vector_of(outputs.cache_seqlens);
  buffers.cu_seqlens_k = vector_of(outputs.cu_seqlens_k);
  buffers.seqlens_expanded = vector_of(outputs.seqlens_expanded);
  buffers.nsa_cache_seqlens = vector_of(outputs.nsa_cache_seqlens);
  buffers.nsa_cu_seqlens_k = vector_of(outputs.nsa_cu_seqlens_k);
  buffers.paged_mqa_context_lens = table_of(outputs.paged_mqa_context_lens);
  buffers.page_table_1 = table_of(outputs.page_table_1);
  buffers.real_page_table = table_of(outputs.real_page_table);
  buffers.num_tokens = counter_of(outputs.num_tokens);
  return buffers;
}

TokenTable token_table_of(const at::Tensor& req_to_token) {
  return {req_to_token.const_data_ptr<int32_t>(), req_to_token.size(0), req_to_token.size(1),
          req_to_token.stride(0)};
}

}  // namespace nsa_metadata::step_metadata

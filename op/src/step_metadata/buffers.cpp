#include "step_metadata/buffers.h"

#include "common/optional_buffer.h"

namespace nsa_metadata::step_metadata {

Table table_of(const std::optional<at::Tensor>& tensor) {
  if (!tensor.has_value()) {
    return {};
  }
  return {tensor->mutable_data_ptr<int32_t>(), tensor->size(0), tensor->size(1),
          tensor->stride(0)};
}

Buffers buffers_of(const Outputs& outputs) {
  return {data_of(outputs.cache_seqlens),
          data_of(outputs.cu_seqlens_k),
          data_of(outputs.seqlens_expanded),
          capacity_of(outputs.seqlens_expanded),
          data_of(outputs.nsa_cache_seqlens),
          capacity_of(outputs.nsa_cache_seqlens),
          data_of(outputs.nsa_cu_seqlens_k),
          capacity_of(outputs.nsa_cu_seqlens_k),
          table_of(outputs.page_table_1),
          table_of(outputs.real_page_table),
          outputs.num_tokens.has_value() ? outputs.num_tokens->mutable_data_ptr() : nullptr,
          outputs.num_tokens.has_value() && outputs.num_tokens->scalar_type() == at::kLong};
}

TokenTable token_table_of(const at::Tensor& req_to_token) {
  return {req_to_token.const_data_ptr<int32_t>(), req_to_token.size(0), req_to_token.size(1),
          req_to_token.stride(0)};
}

}  // namespace nsa_metadata::step_metadata

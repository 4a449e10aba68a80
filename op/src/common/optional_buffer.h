// An optional int32 output as a kernel sees it: a pointer (null when absent)
// and a capacity (0 when absent).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata {

inline int32_t* data_of(const std::optional<at::Tensor>& buffer) {
  return buffer.has_value() ? buffer->mutable_data_ptr<int32_t>() : nullptr;
}

inline int64_t capacity_of(const std::optional<at::Tensor>& buffer) {
  return buffer.has_value() ? buffer->numel() : 0;
}

}  // namespace nsa_metadata

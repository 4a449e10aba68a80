// An optional int32 output as a kernel sees it: a pointer (null when absent)
// and a capacity (0 when absent).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata {

// An int32 output's data. Its dtype is checked with the call's other host
// checks; mutable_data_ptr<int32_t>() would check it again, out of line, for
// every buffer of every call.
inline int32_t* int32_data(const at::Tensor& buffer) {
  return static_cast<int32_t*>(buffer.mutable_data_ptr());
}

inline int32_t* data_of(const std::optional<at::Tensor>& buffer) {
  return buffer.has_value() ? int32_data(*buffer) : nullptr;
}

inline int64_t capacity_of(const std::optional<at::Tensor>& buffer) {
  return buffer.has_value() ? buffer->numel() : 0;
}

}  // namespace nsa_metadata

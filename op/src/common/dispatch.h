// Calls a generic lambda with a value of the C++ type matching an index dtype
// (int32 or int64). Unlike AT_DISPATCH_INDEX_TYPES it nests, which kernels
// taking two index tensors of independent dtypes need.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <utility>

namespace nsa_metadata {

template <typename Function>
decltype(auto) dispatch_index_type(c10::ScalarType dtype, Function&& function) {
  switch (dtype) {
    case c10::ScalarType::Int:
      return std::forward<Function>(function)(int32_t{});
    case c10::ScalarType::Long:
      return std::forward<Function>(function)(int64_t{});
    default:
      TORCH_CHECK(false, "expected an int32 or int64 index dtype, got ", dtype);
  }
}

}  // namespace nsa_metadata

// Calls a generic lambda with a value of the C++ type of an index vector's
// elements (int64_t where is_int64, as IndexVector and Counter record it,
// else int32_t). Unlike AT_DISPATCH_INDEX_TYPES it nests, which kernels
// taking several index tensors of independent dtypes need.
#pragma once

#include <cstdint>
#include <utility>

namespace nsa_metadata {

template <typename Function>
decltype(auto) dispatch_index_width(bool is_int64, Function&& function) {
  if (is_int64) {
    return std::forward<Function>(function)(int64_t{});
  }
  return std::forward<Function>(function)(int32_t{});
}

}  // namespace nsa_metadata

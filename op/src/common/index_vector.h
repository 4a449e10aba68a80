// A read-only view of a 1-D int32 or int64 tensor that reads either dtype as
// int64, for kernels (CPU and CUDA) that take several index tensors of
// independent dtypes: a runtime branch on a uniform flag costs less than the
// compile time and binary size of a template per dtype combination. The one
// kernel whose time is a single warp's chain of loads (the step engine's
// small-batch kernel) also has instances that know the dtype and a unit
// stride at compile time (DenseIndexVector).
#pragma once

#include "common/length_math.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <type_traits>

namespace nsa_metadata {

struct IndexVector {
  const void* data = nullptr;
  int64_t stride = 0;
  bool is_int64 = false;

  NSA_HOST_DEVICE int64_t operator[](int64_t i) const {
    return is_int64 ? static_cast<const int64_t*>(data)[i * stride]
                    : static_cast<int64_t>(static_cast<const int32_t*>(data)[i * stride]);
  }

  // Element i as loaded, before any arithmetic on it (even widening it), so
  // that a kernel can load ahead and wait for the value only where value()
  // reads it: any arithmetic on a loaded value waits for the load right there.
  struct Loaded {
    int64_t wide;
    int32_t narrow;
  };
  NSA_HOST_DEVICE Loaded load(int64_t i) const {
    return is_int64 ? Loaded{static_cast<const int64_t*>(data)[i * stride], 0}
                    : Loaded{0, static_cast<const int32_t*>(data)[i * stride]};
  }
  NSA_HOST_DEVICE int64_t value(const Loaded& loaded) const {
    return is_int64 ? loaded.wide : static_cast<int64_t>(loaded.narrow);
  }
};

// An IndexVector known to hold T at unit stride, read with IndexVector's
// interface: no branch on the dtype and no stride product between a kernel's
// start and its loads.
template <typename T>
struct DenseIndexVector {
  static_assert(std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>,
                "index vectors hold int32 or int64");
  const T* data;

  NSA_HOST_DEVICE explicit DenseIndexVector(const IndexVector& vector)
      : data(static_cast<const T*>(vector.data)) {}

  NSA_HOST_DEVICE int64_t operator[](int64_t i) const { return data[i]; }

  using Loaded = T;
  NSA_HOST_DEVICE Loaded load(int64_t i) const { return data[i]; }
  NSA_HOST_DEVICE int64_t value(Loaded loaded) const { return loaded; }

  // Whether `vector` may be read as a DenseIndexVector<T>.
  static bool holds(const IndexVector& vector) {
    return vector.is_int64 == std::is_same_v<T, int64_t> && vector.stride == 1;
  }
};

inline IndexVector index_vector_of(const at::Tensor& tensor) {
  return {tensor.const_data_ptr(), tensor.stride(0), tensor.scalar_type() == at::kLong};
}

}  // namespace nsa_metadata

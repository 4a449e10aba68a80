// cub::BlockReduce as the library's kernels use it (Reduce with an operator),
// for the CPU emulation of the kernels (../../cuda_emulation.h). As in CUB,
// the result is defined in thread 0 only: the other threads get their own
// input back, so that a kernel relying on it there shows.
#pragma once

#include "cuda_emulation.h"

namespace cub {

template <typename T, int kThreads>
class BlockReduce {
 public:
  struct TempStorage {
    T values[kThreads];
  };

  explicit BlockReduce(TempStorage& storage) : storage_(storage) {}

  template <typename Op>
  T Reduce(T input, Op op) {
    storage_.values[threadIdx.x] = input;
    __syncthreads();
    T total = storage_.values[0];
    for (int k = 1; k < kThreads; ++k) total = op(total, storage_.values[k]);
    __syncthreads();
    return threadIdx.x == 0 ? total : input;
  }

 private:
  TempStorage& storage_;
};

}  // namespace cub

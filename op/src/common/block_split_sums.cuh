// A block-wide reduction shared by the kernels whose blocks each need the sum
// over everything before their chunk and the batch's total, without
// communicating: every thread of the block takes part, and the loads are
// unrolled so that several are in flight.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cstdint>

namespace nsa_metadata::cuda {

template <typename T>
struct SplitSums {
  T before;  // over [0, split)
  T total;   // over [0, size)
};

// value_at(i) for i in [0, size), combined with `add` (associative, T{} its
// identity), kUnroll values per thread in flight. `shared` is where the
// block's result is published; every thread returns it.
template <int kThreads, int kUnroll = 4, typename T, typename ValueAt, typename Add>
__device__ SplitSums<T> block_split_sums(const ValueAt& value_at, int64_t split, int64_t size,
                                         const Add& add,
                                         typename cub::BlockReduce<T, kThreads>::TempStorage& temp,
                                         SplitSums<T>& shared) {
  using BlockReduce = cub::BlockReduce<T, kThreads>;
  T before{};
  T rest{};
  for (int64_t base = 0; base < size; base += int64_t{kThreads} * kUnroll) {
    T values[kUnroll];
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t i = base + k * kThreads + threadIdx.x;
      values[k] = i < size ? value_at(i) : T{};
    }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t i = base + k * kThreads + threadIdx.x;
      if (i < split) {
        before = add(before, values[k]);
      } else {
        rest = add(rest, values[k]);
      }
    }
  }
  const T block_before = BlockReduce(temp).Reduce(before, add);
  __syncthreads();
  const T block_rest = BlockReduce(temp).Reduce(rest, add);
  if (threadIdx.x == 0) {
    shared = {block_before, add(block_before, block_rest)};
  }
  __syncthreads();
  return shared;
}

}  // namespace nsa_metadata::cuda

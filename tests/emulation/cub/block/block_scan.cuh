// cub::BlockScan as the library's kernels use it (ExclusiveScan with an
// initial value and the block's aggregate), for the CPU emulation of the
// kernels (../../cuda_emulation.h): the same results, plainly computed, so
// that what is tested is the kernels' use of the scan, not CUB.
#pragma once

#include "cuda_emulation.h"

namespace cub {

enum BlockScanAlgorithm { BLOCK_SCAN_RAKING, BLOCK_SCAN_RAKING_MEMOIZE, BLOCK_SCAN_WARP_SCANS };

template <typename T, int kThreads, BlockScanAlgorithm = BLOCK_SCAN_RAKING>
class BlockScan {
 public:
  struct TempStorage {
    T values[kThreads];
  };

  explicit BlockScan(TempStorage& storage) : storage_(storage) {}

  // output = initial op input_0 op ... op input_{t-1} for thread t;
  // aggregate = input_0 op ... op input_{kThreads-1}, in every thread.
  template <typename Op>
  void ExclusiveScan(T input, T& output, T initial, Op op, T& aggregate) {
    const unsigned self = threadIdx.x;
    storage_.values[self] = input;
    __syncthreads();
    T running = initial;
    for (unsigned k = 0; k < self; ++k) running = op(running, storage_.values[k]);
    output = running;
    T total = storage_.values[0];
    for (int k = 1; k < kThreads; ++k) total = op(total, storage_.values[k]);
    aggregate = total;
    __syncthreads();
  }

 private:
  TempStorage& storage_;
};

}  // namespace cub

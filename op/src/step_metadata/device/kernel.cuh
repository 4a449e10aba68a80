// The step-metadata kernels' entries, one launch for decode, target-verify and
// draft-extend alike; the launcher picks one from the batch size.
//
// Block kernel: the first chunks * row_splits blocks write the vectors
// (block_vectors.cuh), the `page_blocks` (and extend's `late_page_blocks`)
// after them copy the page tables (block_pages.cuh); the two kinds run side by
// side and share nothing.
// Warp-batch kernel, for batches of at most kWarpBatch requests: its first
// `vector_warps` warps write the vectors, the later ones copy the page tables
// (warp_batch.cuh). Small-batch kernel, for the smallest calls: warp 0 writes
// the per-request vectors, warp 1 the row vectors, the later ones copy
// (small_batch.cuh).
#pragma once

#include "step_metadata/device/block_pages.cuh"
#include "step_metadata/device/block_vectors.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/device/small_batch.cuh"
#include "step_metadata/device/warp_batch.cuh"

namespace nsa_metadata::step_metadata::cuda {

// kExtend: whether the call has outputs only extend fills (buffers.h); the
// launcher instantiates both, so the other operators carry no code for them.
// kLate: whether the grid ends in late page blocks (extend's alone:
// plan.cuh, plan_late_page_blocks); calls without them run an instance
// without their code, which made such calls slower.
template <bool kExtend, bool kLate>
__global__ void __launch_bounds__(kThreads, kBlockKernelMinBlocks<kExtend>)
    step_metadata_kernel(const Launch launch) {
  __shared__ union {
    VectorTile vectors;
    PageTile pages;
  } shared;
  const int64_t vector_blocks = launch.vector_blocks();
  if (blockIdx.x < vector_blocks) {
    write_chunk_vectors<kExtend>(launch, blockIdx.x, shared.vectors);
  } else {
    copy_page_tables<kExtend, kLate>(launch, blockIdx.x - vector_blocks, shared.pages);
  }
}

template <RowShape kRows, bool kExtend>
__global__ void __launch_bounds__(kThreads) step_metadata_warp_batch_kernel(const Launch launch) {
  const int64_t warp = dealt_warp(blockIdx.x, gridDim.x);
  if (warp < launch.vector_warps) {
    write_warp_batch_vectors<kRows, kExtend>(launch, warp);
  } else {
    copy_warp_batch_pages<kRows, kExtend>(launch, warp - launch.vector_warps,
                                          int64_t{gridDim.x} * kWarps - launch.vector_warps);
  }
}

// The packed parameters come first: their lines are the ones the warps
// wait for (launch_params.cuh); the Launch serves the page warps' fallback.
template <RowShape kRows, typename Indices>
__global__ void __launch_bounds__(kThreads, kSmallBatchBlocksPerSM)
    step_metadata_small_batch_kernel(const SmallBatch small, const Launch launch) {
  // The page warps' branch first, so that their path follows the entry in
  // the code: theirs is the chain that sets a small call's time, and a jump
  // far into the kernel costs each multiprocessor an instruction-cache miss.
  const int64_t warp = dealt_warp(blockIdx.x, gridDim.x);
  if (warp < kSmallBatchVectorWarps) {
    if (warp == kRequestVectorWarp) {
      write_small_batch_requests<Indices>(small);
    } else {
      write_small_batch_rows<kRows, Indices>(small);
    }
    return;
  }
  copy_small_batch_pages<kRows, Indices>(small, launch, warp - kSmallBatchVectorWarps,
                                         int64_t{gridDim.x} * kWarps - kSmallBatchVectorWarps);
}

// The instance a launch runs (step_metadata/plan.cuh decides which kernel and
// row shape): host code, for the launcher and the CPU emulation alike. The
// small-batch kernel takes its packed parameters too, and has an instance
// for int32 lengths with int32 or int64 pool indices at unit stride (the
// dtypes engines pass) besides the one that reads any.
using KernelEntry = void (*)(Launch);
using SmallBatchEntry = void (*)(SmallBatch, Launch);
template <RowShape kRows>
SmallBatchEntry small_batch_instance(const SmallBatch& small) {
  const bool dense_lengths =
      DenseIndexVector<int32_t>::holds(small.seq_lens()) &&
      (kRows != RowShape::kVariable || DenseIndexVector<int32_t>::holds(small.extend_seq_lens));
  if (dense_lengths && DenseIndexVector<int64_t>::holds(small.req_pool_indices())) {
    return step_metadata_small_batch_kernel<kRows, DenseIndices<int64_t>>;
  }
  if (dense_lengths && DenseIndexVector<int32_t>::holds(small.req_pool_indices())) {
    return step_metadata_small_batch_kernel<kRows, DenseIndices<int32_t>>;
  }
  return step_metadata_small_batch_kernel<kRows, AnyIndices>;
}

inline SmallBatchEntry small_batch_entry(RowShape rows, const SmallBatch& small) {
  switch (rows) {
    case RowShape::kOne:
      return small_batch_instance<RowShape::kOne>(small);
    case RowShape::kFixed:
      return small_batch_instance<RowShape::kFixed>(small);
    case RowShape::kVariable:
      break;
  }
  return small_batch_instance<RowShape::kVariable>(small);
}

inline KernelEntry kernel_entry(Kernel kernel, RowShape rows, bool extend, bool late) {
  if (kernel == Kernel::kBlock) {
    if (!extend) {
      return step_metadata_kernel<false, false>;
    }
    return late ? step_metadata_kernel<true, true> : step_metadata_kernel<true, false>;
  }
  if (rows == RowShape::kVariable) {
    return extend ? step_metadata_warp_batch_kernel<RowShape::kVariable, true>
                  : step_metadata_warp_batch_kernel<RowShape::kVariable, false>;
  }
  return step_metadata_warp_batch_kernel<RowShape::kFixed, false>;
}

// Runs that instance with its parameters through `run(kernel, arguments...)`
// (a launch on a stream, or the CPU emulation's): the one place that knows
// which entry takes the packed SmallBatch.
template <typename Run>
void run_kernel(Kernel kernel, RowShape rows, bool extend, const SmallBatch& small,
                const Launch& launch, const Run& run) {
  if (kernel == Kernel::kSmallBatch) {
    run(small_batch_entry(rows, small), small, launch);
  } else {
    run(kernel_entry(kernel, rows, extend, launch.late_page_blocks != 0), launch);
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

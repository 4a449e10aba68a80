// The step-metadata kernel's entry: one launch for decode, target-verify and
// draft-extend alike. The first `chunks` blocks write the vectors
// (block_vectors.cuh), the `page_blocks` after them copy the page tables
// (block_pages.cuh); the two kinds run side by side and share nothing.
#pragma once

#include "step_metadata/device/block_pages.cuh"
#include "step_metadata/device/block_vectors.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"

namespace nsa_metadata::step_metadata::cuda {

__global__ void __launch_bounds__(kThreads) step_metadata_kernel(const Launch launch) {
  __shared__ union {
    VectorTile vectors;
    PageTile pages;
  } shared;
  if (blockIdx.x < launch.chunks) {
    write_chunk_vectors(launch, blockIdx.x, shared.vectors);
  } else {
    copy_page_tables(launch, blockIdx.x - launch.chunks, shared.pages);
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

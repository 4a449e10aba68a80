// Programmatic dependent launch (Hopper and later), the kernels' side: a
// kernel launched as another's dependent (common/dependent_launch.cuh) may
// start while that one is finishing, and waits for it only where it first
// needs its results. On older GPUs these compile to nothing.
#pragma once

namespace nsa_metadata::cuda {

// In the first kernel: its dependent may be scheduled as soon as every block
// of this grid has run this (or exited). It implies nothing about memory.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// In the dependent kernel: waits until the kernels it depends on have
// completed and their writes are visible. Before this, it may only read what
// was in memory before they started.
__device__ __forceinline__ void wait_for_prerequisite_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace nsa_metadata::cuda

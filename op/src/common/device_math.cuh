// Small device helpers every CUDA kernel of the library uses: one definition
// each, so that no kernel file keeps its own copy.
#pragma once

#include <cstdint>

namespace nsa_metadata::cuda {

constexpr int kWarpSize = 32;
constexpr unsigned kFullWarp = 0xffffffffu;  // every lane takes part in a shuffle

// The calling thread's lane in its warp (blocks are whole warps).
__device__ __forceinline__ int lane_id() { return threadIdx.x % kWarpSize; }

// The calling warp's place among the warps of `blocks` blocks (this one being
// `block` of them) when work is dealt one warp per block in turn: warp w of
// block b is w * blocks + b. A call needing fewer items than the grid has
// warps then spreads them over every block's multiprocessor instead of
// crowding the first blocks' few.
__device__ __forceinline__ int64_t dealt_warp(int64_t block, int64_t blocks) {
  return int64_t{threadIdx.x / kWarpSize} * blocks + block;
}

// `value` of the lane `delta` below the caller's (the caller's own in the
// lowest `delta` lanes); every lane takes part. A struct of such values
// shuffles with an overload of its own, beside it (argument-dependent lookup
// finds it).
template <typename T>
__device__ __forceinline__ T shuffle_up(T value, unsigned delta) {
  return __shfl_up_sync(kFullWarp, value, delta);
}

// A plain load of global memory (ld.global, cached as any load), for a
// pointer the compiler cannot tell is global, where it would otherwise emit a
// generic load.
__device__ __forceinline__ int32_t load_global(const int32_t* address) {
#if defined(__CUDA_ARCH__)
  int32_t value;
  asm("ld.global.b32 %0, [%1];" : "=r"(value) : "l"(address));
  return value;
#else
  return *address;
#endif
}

// load_global(address) where `live`, else 0, as one predicated load: the
// address is computed whether or not the load is live (and only read where
// it is), so that loads from one pointer at constant offsets keep that
// pointer and take the offsets into the instruction, rather than each
// computing its address anew under its own branch.
__device__ __forceinline__ int32_t load_global_if(bool live, const int32_t* address) {
#if defined(__CUDA_ARCH__)
  int32_t value = 0;
  asm("{\n .reg .pred live;\n setp.ne.u32 live, %2, 0;\n @live ld.global.b32 %0, [%1];\n}"
      : "+r"(value)
      : "l"(address), "r"(static_cast<uint32_t>(live)));
  return value;
#else
  return live ? *address : 0;
#endif
}

// Plain addition, for a scan whose sums cannot overflow.
struct Plus {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

// The inclusive scan of a warp's values along its lanes under `add` (any
// associative sum, such as a saturating one); every lane takes part.
template <typename T, typename Add>
__device__ __forceinline__ T inclusive_warp_scan(T value, const Add& add) {
  const int lane = lane_id();
#pragma unroll
  for (int delta = 1; delta < kWarpSize; delta *= 2) {
    const T lower = shuffle_up(value, delta);
    if (lane >= delta) {
      value = add(lower, value);
    }
  }
  return value;
}

// Whether `data` is 16-byte aligned: where an int4 load or store may start.
__host__ __device__ __forceinline__ bool aligned_16(const void* data) {
  return (reinterpret_cast<uintptr_t>(data) & 15) == 0;
}

__host__ __device__ __forceinline__ constexpr int64_t min_of(int64_t a, int64_t b) {
  return a < b ? a : b;
}
__host__ __device__ __forceinline__ constexpr int64_t max_of(int64_t a, int64_t b) {
  return a > b ? a : b;
}
// For a >= 0 and b > 0. On the GPU in 32 bits when both fit: a 64-bit
// division is a long library call there.
__host__ __device__ __forceinline__ constexpr int64_t ceil_div(int64_t a, int64_t b) {
#if defined(__CUDA_ARCH__)
  if (a < (int64_t{1} << 31) && b < (int64_t{1} << 31)) {
    return static_cast<uint32_t>(a + b - 1) / static_cast<uint32_t>(b);
  }
#endif
  return (a + b - 1) / b;
}

// The last index k in [0, count) with starts[k] <= value, for starts sorted
// ascending with starts[0] <= value: the owner of `value` when starts[k] is
// where item k's range begins. Items with empty ranges share their start with
// the next item and lose the tie to it. Both of one type, so that 32-bit
// starts are searched with 32-bit compares.
template <typename T>
__device__ __forceinline__ int last_at_most(const T* starts, int count, T value) {
  int lo = 0;
  int hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (starts[mid] <= value) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace nsa_metadata::cuda

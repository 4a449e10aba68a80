// Runs CUDA device code on the CPU, for tests on machines without a GPU: the
// library's kernels compiled as host C++ against these definitions of what
// nvcc provides (qualifiers, built-in variables, vector types, warp and block
// intrinsics), each CUDA thread a fiber, a grid's blocks one after the other.
//
// What it checks is the kernels' logic (indexing, bounds, the work each
// thread takes, what the warps exchange), bit for bit against the reference;
// not what only hardware shows (timing, the memory model, alignment faults).
// A warp-wide intrinsic that waits for a lane that has exited, and a barrier
// no thread can pass, raise instead of hanging.
//
// Include it before any device code; compile without __CUDACC__.
#pragma once

#include <cstdint>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static  // one block at a time: a static is the block's
#define __CUDA_EMULATION__ 1

struct uint3 {
  unsigned x, y, z;
};
using dim3 = uint3;

struct alignas(16) int4 {
  int x, y, z, w;
};
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

namespace cuda_emulation {

// The calling fiber's thread index, and the running block's index and shape.
uint3 thread_index();
uint3 block_index();
uint3 block_shape();
uint3 grid_shape();

// Runs `kernel` on every thread of a grid of `blocks` x `threads`.
void launch(unsigned blocks, unsigned threads, const std::function<void()>& kernel);

// The order launches run in. Seed 0 (the default): blocks in index order,
// and each step of a block's threads (from one barrier or warp exchange to
// the next) in thread order. Any other seed: the blocks, and the threads at
// each step, in an order drawn from it. CUDA promises neither order, so a
// kernel whose result changes with the seed has a race.
void set_schedule(uint64_t seed);

// The warp's lanes exchange one 64-bit word each: returns the word of every
// lane, after all 32 have offered theirs (the caller's warp, full mask).
const uint64_t* exchange_in_warp(uint64_t word);
// Every live thread of the block has arrived; returns how many offered true.
int barrier(bool predicate);

template <typename T>
uint64_t to_word(T value) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffle moves at most 64 bits");
  uint64_t word = 0;
  __builtin_memcpy(&word, &value, sizeof(T));
  return word;
}

template <typename T>
T from_word(uint64_t word) {
  T value;
  __builtin_memcpy(&value, &word, sizeof(T));
  return value;
}

inline unsigned lane() { return thread_index().x % 32; }

}  // namespace cuda_emulation

#define threadIdx (::cuda_emulation::thread_index())
#define blockIdx (::cuda_emulation::block_index())
#define blockDim (::cuda_emulation::block_shape())
#define gridDim (::cuda_emulation::grid_shape())

template <typename T>
T __ldg(const T* address) {
  return *address;
}

// A streaming store's cache hint means nothing on the host.
template <typename T>
void __stcs(T* address, T value) {
  *address = value;
}

template <typename T>
T __shfl_sync(unsigned /*mask*/, T value, int source_lane) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(cuda_emulation::to_word(value));
  return cuda_emulation::from_word<T>(words[source_lane & 31]);
}

template <typename T>
T __shfl_up_sync(unsigned /*mask*/, T value, unsigned delta) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(cuda_emulation::to_word(value));
  const unsigned lane = cuda_emulation::lane();
  return lane >= delta ? cuda_emulation::from_word<T>(words[lane - delta]) : value;
}

template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T value, int lane_mask) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(cuda_emulation::to_word(value));
  return cuda_emulation::from_word<T>(words[(cuda_emulation::lane() ^ lane_mask) & 31]);
}

inline unsigned __reduce_add_sync(unsigned /*mask*/, unsigned value) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(value);
  unsigned sum = 0;
  for (int lane = 0; lane < 32; ++lane) sum += static_cast<unsigned>(words[lane]);
  return sum;
}

inline unsigned __reduce_max_sync(unsigned /*mask*/, unsigned value) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(value);
  unsigned most = 0;
  for (int lane = 0; lane < 32; ++lane) {
    most = static_cast<unsigned>(words[lane]) > most ? static_cast<unsigned>(words[lane]) : most;
  }
  return most;
}

inline int __reduce_add_sync(unsigned mask, int value) {
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(value)));
}

inline int __reduce_max_sync(unsigned /*mask*/, int value) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(cuda_emulation::to_word(value));
  int most = cuda_emulation::from_word<int>(words[0]);
  for (int lane = 1; lane < 32; ++lane) {
    const int other = cuda_emulation::from_word<int>(words[lane]);
    most = other > most ? other : most;
  }
  return most;
}

// Bit l holds lane l's predicate.
inline unsigned __ballot_sync(unsigned /*mask*/, int predicate) {
  const uint64_t* words = cuda_emulation::exchange_in_warp(predicate != 0 ? 1 : 0);
  unsigned bits = 0;
  for (int lane = 0; lane < 32; ++lane) bits |= static_cast<unsigned>(words[lane]) << lane;
  return bits;
}

inline int __popc(unsigned value) { return __builtin_popcount(value); }

// Every lane of the warp has arrived: what each wrote before is seen after.
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) { cuda_emulation::exchange_in_warp(0); }

inline void __syncthreads() { cuda_emulation::barrier(false); }
inline int __syncthreads_or(int predicate) { return cuda_emulation::barrier(predicate != 0) > 0; }
inline int __syncthreads_and(int predicate) {
  // Every live thread offers !predicate: all true when none does.
  return cuda_emulation::barrier(predicate == 0) == 0;
}

// CUDA's integer min and max, found unqualified in device code.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }

// The CPU emulation's own semantics (cuda_emulation.h), against what CUDA
// defines for each intrinsic, so that the kernels' tests over it can be
// trusted: shuffles, warp reductions, block barriers with their predicates,
// shared memory, the built-in indices, and a deadlock reported, not hung.
#include "cuda_emulation.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr unsigned kFullWarp = 0xffffffffu;

TEST(CudaEmulation, IndicesCoverTheGrid) {
  std::vector<int> seen(3 * 64, 0);
  cuda_emulation::launch(3, 64, [&] {
    ASSERT_EQ(blockDim.x, 64u);
    ASSERT_EQ(gridDim.x, 3u);
    ++seen[blockIdx.x * blockDim.x + threadIdx.x];
  });
  for (int count : seen) EXPECT_EQ(count, 1);
}

TEST(CudaEmulation, ShufflesMoveEachLanesValue) {
  std::vector<long long> got(64 * 4);
  cuda_emulation::launch(1, 64, [&] {
    const long long lane = threadIdx.x % 32;
    const long long value = 1000 * (threadIdx.x / 32) + lane;
    got[threadIdx.x * 4 + 0] = __shfl_sync(kFullWarp, value, 5);
    got[threadIdx.x * 4 + 1] = __shfl_up_sync(kFullWarp, value, 3);
    got[threadIdx.x * 4 + 2] = __shfl_xor_sync(kFullWarp, value, 1);
    got[threadIdx.x * 4 + 3] = __shfl_sync(kFullWarp, value, static_cast<int>(lane) + 33);
  });
  for (long long t = 0; t < 64; ++t) {
    const long long warp = 1000 * (t / 32);
    const long long lane = t % 32;
    EXPECT_EQ(got[t * 4 + 0], warp + 5);
    EXPECT_EQ(got[t * 4 + 1], lane >= 3 ? warp + lane - 3 : warp + lane);  // own below delta
    EXPECT_EQ(got[t * 4 + 2], warp + (lane ^ 1));
    EXPECT_EQ(got[t * 4 + 3], warp + (lane + 1) % 32);  // the source lane wraps mod 32
  }
}

TEST(CudaEmulation, WarpReductions) {
  std::vector<unsigned> sums(32), maxima(32);
  std::vector<int> signed_maxima(32);
  cuda_emulation::launch(1, 32, [&] {
    const unsigned lane = threadIdx.x;
    sums[lane] = __reduce_add_sync(kFullWarp, lane);
    maxima[lane] = __reduce_max_sync(kFullWarp, lane == 7 ? 4000000000u : lane);
    signed_maxima[lane] = __reduce_max_sync(kFullWarp, static_cast<int>(lane) - 40);
  });
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(sums[lane], 496u);
    EXPECT_EQ(maxima[lane], 4000000000u);
    EXPECT_EQ(signed_maxima[lane], -9);
  }
}

TEST(CudaEmulation, BarriersOrderSharedMemoryAndReducePredicates) {
  std::vector<int> neighbour(128), any(128), all(128), none(128);
  cuda_emulation::launch(2, 128, [&] {
    __shared__ int values[128];
    values[threadIdx.x] = static_cast<int>(blockIdx.x * 1000 + threadIdx.x);
    __syncthreads();
    if (blockIdx.x == 1) {
      neighbour[threadIdx.x] = values[(threadIdx.x + 1) % 128];
      any[threadIdx.x] = __syncthreads_or(threadIdx.x == 77);
      all[threadIdx.x] = __syncthreads_and(threadIdx.x != 77);
      none[threadIdx.x] = __syncthreads_or(0);
    }
  });
  for (unsigned t = 0; t < 128; ++t) {
    EXPECT_EQ(neighbour[t], static_cast<int>(1000 + (t + 1) % 128));
    EXPECT_EQ(any[t], 1);
    EXPECT_EQ(all[t], 0);
    EXPECT_EQ(none[t], 0);
  }
}

TEST(CudaEmulation, ABlockBarrierCountsExitedThreads) {
  int passed = 0;
  cuda_emulation::launch(1, 64, [&] {
    if (threadIdx.x >= 40) return;
    __syncthreads();
    ++passed;
  });
  EXPECT_EQ(passed, 40);
}

TEST(CudaEmulation, AShuffleWaitingOnAnExitedLaneIsReported) {
  try {
    cuda_emulation::launch(1, 32, [&] {
      if (threadIdx.x == 3) return;
      __shfl_sync(kFullWarp, 1, 0);
    });
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("warp"), std::string::npos) << error.what();
  }
}

TEST(CudaEmulation, ErrorsInAThreadReachTheLauncher) {
  EXPECT_THROW(cuda_emulation::launch(1, 32, [] {
                 if (threadIdx.x == 9) throw std::runtime_error("thread 9");
               }),
               std::runtime_error);
}

}  // namespace

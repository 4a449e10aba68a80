// The CPU emulation's own semantics (cuda_emulation.h), against what CUDA
// defines for each intrinsic, so that the kernels' tests over it can be
// trusted: shuffles, warp reductions and votes, warp and block barriers,
// shared memory, the built-in indices, and a deadlock reported, not hung.
#include "cuda_emulation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
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

TEST(CudaEmulation, BallotsCountAndWarpBarriersOrderSharedMemory) {
  std::vector<unsigned> ballots(64);
  std::vector<int> counts(64), neighbour(64);
  cuda_emulation::launch(1, 64, [&] {
    __shared__ int values[64];
    const unsigned lane = threadIdx.x % 32;
    ballots[threadIdx.x] = __ballot_sync(kFullWarp, threadIdx.x < 32 ? lane % 3 == 0 : lane == 31);
    counts[threadIdx.x] = __popc(ballots[threadIdx.x]);
    values[threadIdx.x] = static_cast<int>(threadIdx.x) * 7;
    __syncwarp();
    neighbour[threadIdx.x] = values[threadIdx.x - lane + (lane + 1) % 32];
  });
  for (unsigned t = 0; t < 64; ++t) {
    EXPECT_EQ(ballots[t], t < 32 ? 0x49249249u : 0x80000000u);
    EXPECT_EQ(counts[t], t < 32 ? 11 : 1);
    EXPECT_EQ(neighbour[t], static_cast<int>(t - t % 32 + (t % 32 + 1) % 32) * 7);
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

// The order each thread first runs in, as block * 1000 + thread.
std::vector<int> first_runs(uint64_t seed) {
  std::vector<int> order;
  cuda_emulation::set_schedule(seed);
  cuda_emulation::launch(4, 64, [&] { order.push_back(blockIdx.x * 1000 + threadIdx.x); });
  cuda_emulation::set_schedule(0);
  return order;
}

TEST(CudaEmulation, ASeededScheduleReordersBlocksAndThreads) {
  const std::vector<int> in_order = first_runs(0);
  for (size_t k = 0; k < in_order.size(); ++k) {
    EXPECT_EQ(in_order[k], static_cast<int>(k / 64 * 1000 + k % 64));
  }
  std::vector<int> shuffled = first_runs(7);
  EXPECT_NE(shuffled, in_order);
  EXPECT_EQ(shuffled, first_runs(7));  // a seed is one schedule
  std::sort(shuffled.begin(), shuffled.end());
  EXPECT_EQ(shuffled, in_order);  // every thread of every block, once
}

// A read of another thread's write with no barrier between them is a race:
// its result depends on the schedule, which the seeds vary.
TEST(CudaEmulation, ARaceShowsAsResultsThatDependOnTheSchedule) {
  std::vector<std::vector<int>> results;
  for (uint64_t seed : {0, 1, 2, 3}) {
    std::vector<int> written(64, -1), read(64);
    cuda_emulation::set_schedule(seed);
    cuda_emulation::launch(1, 64, [&] {
      written[threadIdx.x] = static_cast<int>(threadIdx.x);
      read[threadIdx.x] = written[(threadIdx.x + 1) % 64];
    });
    results.push_back(read);
  }
  cuda_emulation::set_schedule(0);
  EXPECT_TRUE(results[1] != results[0] || results[2] != results[0] || results[3] != results[0]);
}

TEST(CudaEmulation, ErrorsInAThreadReachTheLauncher) {
  EXPECT_THROW(cuda_emulation::launch(1, 32, [] {
                 if (threadIdx.x == 9) throw std::runtime_error("thread 9");
               }),
               std::runtime_error);
}

}  // namespace

// Tuning constants of the row-scan kernels, each with why it has its value,
// and the shared helpers every file of the family uses. The plan
// (../plan.cuh) sizes the grid from these and the shapes.
#pragma once

#include "common/block_split_sums.cuh"
#include "common/device_math.cuh"
#include "common/row_groups.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

using nsa_metadata::cuda::block_split_sums;
using nsa_metadata::cuda::group_end_of;
using nsa_metadata::cuda::group_of;
using nsa_metadata::cuda::inclusive_warp_scan;
using nsa_metadata::cuda::kFullWarp;
using nsa_metadata::cuda::kRowsPerGroup;
using nsa_metadata::cuda::kWarpSize;
using nsa_metadata::cuda::lane_id;
using nsa_metadata::cuda::last_at_most;
using nsa_metadata::cuda::max_of;
using nsa_metadata::cuda::min_of;
using nsa_metadata::cuda::Plus;
using nsa_metadata::cuda::RowBuffer;
using nsa_metadata::cuda::RowSpan;
using nsa_metadata::cuda::SplitSums;
using nsa_metadata::cuda::store_group;
using nsa_metadata::cuda::window_of;
using nsa_metadata::cuda::zero_rows_from;

// Threads per block, which is also the requests per tile. 128 rather than
// 256: at bs 1024-4096 twice the blocks share the staging and the stores,
// which took the worst GPU time at 1..8 tokens from 3.05 to 2.97 us, and at
// a million requests it is as fast.
constexpr int kThreads = 128;

// Blocks of expand_kernel kept resident on one multiprocessor (1024 threads),
// which holds ptxas to 64 registers a thread; the two-pass grid is sized to
// fill the GPU with them, so many tiles' loads and stores are in flight.
constexpr int kBlocksPerSM = 1024 / kThreads;

// The single-pass kernel, where every block reads the whole batch's extend
// lengths itself (one launch, nothing allocated), serves batches of up to
// kSinglePassMaxRequests requests: its cost grows with the square of the
// batch. The step operators, which allocate nothing, take it up to there;
// past it, the block kernel. On one H100 (docs/benchmarks.md) it took 4.3 to
// 16.6 us at 12288 to 32768 requests where the block kernel took 22.6-57.1.
constexpr int64_t kSinglePassMaxRequests = 32768;

// Where a workspace is allowed (fill_draft_extend_metadata), batches past
// this many requests take two passes instead, the second over a workspace
// of each block's token count: on that H100 one pass took 4.10 us at 12288
// requests against 4.60 for two, and 5.92 at 16384 against 4.77.
constexpr int64_t kSinglePassMaxRequestsWithWorkspace = 12288;
static_assert(kSinglePassMaxRequestsWithWorkspace <= kSinglePassMaxRequests,
              "a call that may take two passes takes one at most as far as any");

// Extend lengths each thread loads per round when a block reads the whole
// batch with scalar loads: up to kThreads * kLoadsInFlight requests cost one
// wait on memory.
constexpr int kLoadsInFlight = 16;

// The direct path's bound on every extend length: a thread writes its own
// request's rows one by one, and the block's sums fit in 32 bits.
constexpr int kDirectMaxTokens = 16;
static_assert(kSinglePassMaxRequests * kDirectMaxTokens < (int64_t{1} << 31),
              "the direct path's sums must fit in int32");

constexpr int kWarps = kThreads / kWarpSize;
static_assert(kThreads % kWarpSize == 0, "whole warps only");

// Vectors of four int32 lengths each thread loads per round: a batch of up to
// 4096 requests (4 * kThreads * kVectorsInFlight) costs one wait on memory.
constexpr int kVectorsInFlight = 1024 / kThreads;

// A direct-path block stores its rows straight from each request's thread
// (4 bytes at a time) only while both it and the batch have few rows; past
// that it stages them too. Measured on an H100 (docs/benchmarks.md): staging
// costs ~0.2 us at a few hundred rows, and saves 0.7-2 us once a block has
// more than ~1000 rows or several blocks write more than ~2000 between them.
constexpr int kDirectStoreMaxBlockRows = 1024;
constexpr int kDirectStoreMaxBatchRows = 2048;

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

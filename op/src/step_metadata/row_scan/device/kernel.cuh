// The engine's row-scan kernels (launched from ../../launch.cu), which write
// draft-extend row vectors alone; the other files of device/ hold their pieces.
//
// The grid splits the requests into contiguous chunks, one per block, and a
// block walks its chunk in tiles of kThreads requests, one request per
// thread. A tile needs the row where it starts and each request's first row
// (a block scan); the grid needs the batch total once (where the zeroed tail
// starts).
//   - Single pass (every serving batch; up to kSinglePassMaxRequests requests,
//     kSinglePassMaxRequestsWithWorkspace where the caller allows two
//     passes): a chunk is one tile, and each block reads the whole batch's
//     extend lengths itself. One block scan of (tokens before the chunk, the
//     thread's own request's tokens, tokens after the chunk) gives the tile's
//     start, every first row and the total at once. Every load is issued
//     before that scan, so the kernel waits on memory once. Blocks share no
//     memory: one launch, no allocation.
//     At these sizes the kernel is bound by the latency of its longest chain
//     of dependent instructions, not by memory (Nsight Compute: ~10 cycles
//     per instruction, almost no memory stalls). So when every extend length
//     the block reads is at most kDirectMaxTokens (draft steps: 1..8), the
//     block takes a short path: the scan in 32 bits with warp intrinsics,
//     each thread computing its own request's rows in 32 bits, and no search.
//     Otherwise it takes the general path below.
//   - Two passes (larger batches, where the caller allows a workspace):
//     chunk_tokens_kernel writes each chunk's token count to a small
//     workspace and expand_kernel's blocks reduce those instead of the
//     whole batch, so no byte is read more than twice however
//     large the batch. expand_kernel is launched as chunk_tokens_kernel's
//     dependent (common/dependent_launch.cuh): it loads its first requests
//     before it waits for the workspace. It walks its chunk two tiles at a
//     time, a request of each per thread, with both lengths packed into one
//     32-bit scan, which also says whether all the pair's requests are short
//     (then it takes the same 32-bit row arithmetic); only a pair with a
//     longer request pays for the 64-bit scan, one tile at a time. Two pairs'
//     loads are in flight while a pair is written. At a million requests the
//     kernel is bound by instruction issue (Nsight Compute: ~2 instructions a
//     cycle per multiprocessor, DRAM 60%), so each of these cuts instructions
//     per request (docs/benchmarks.md).
// Rows leave a block in aligned groups of 4 per thread (common/row_groups.cuh),
// one 16-byte store each, coalesced: either staged in shared memory by their
// requests' threads (short requests), or found by binary search in shared
// memory and a walk forward (the general path), which stays balanced however
// uneven the lengths are. Small direct-path batches store each request's rows
// from its thread instead. The zeroed tail is spread over the whole grid,
// which has a block per 2 * kThreads rows of capacity (../plan.cuh): a block
// drains stores slowly enough that the tail of a large buffer, left to a few
// blocks, used to cost more than the rows themselves.
#pragma once

#include "common/grid_dependency.cuh"
#include "step_metadata/row_scan/device/direct_path.cuh"
#include "step_metadata/row_scan/device/general_rows.cuh"
#include "step_metadata/row_scan/device/launch_params.cuh"
#include "step_metadata/row_scan/device/policy.cuh"
#include "step_metadata/row_scan/device/requests.cuh"
#include "step_metadata/row_scan/device/short_rows.cuh"
#include "step_metadata/row_scan/device/totals.cuh"
#include "step_metadata/row_scan/device/two_pass.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

// Launched with requests_per_block == kThreads: a chunk is one tile.
template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads)
    single_pass_kernel(const extend_t* __restrict__ extend_seq_lens,
                       const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                       const Launch launch) {
  __shared__ SharedState shared;
  __shared__ int4 warp_sums[kWarps];
  __shared__ StagedRows<kThreads> staged;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  const Request own =
      load_request(extend_seq_lens, seq_lens, launch, chunk_begin + threadIdx.x, chunk_end);
  const SmallAround small =
      small_tokens_around_chunk(extend_seq_lens, launch, chunk_begin, chunk_end);
  // Every block reads the whole batch, so all agree on the path.
  if (__syncthreads_and(small.most_tokens <= kDirectMaxTokens)) {
    const auto own_tokens = static_cast<int32_t>(own.tokens);
    const DirectScan scan = direct_scan(small.before, own_tokens, small.after, own_tokens,
                                        warp_sums);
    write_total(num_tokens, scan.total);
    if (scan.tile_rows <= kDirectStoreMaxBlockRows && scan.total <= kDirectStoreMaxBatchRows) {
      write_request_rows(launch, own, scan.before + scan.rows_before_request);
    } else {
      const int64_t tile_row = scan.before;
      stage_request_rows(staged, own, tile_row, scan.rows_before_request, selection_of(launch));
      __syncthreads();
      write_staged_tile(launch, staged, tile_row,
                        min_of(tile_row + scan.tile_rows, row_limit_of(launch)));
    }
    zero_tails(launch, scan.total);
    return;
  }

  // The general path reads the batch again, in 64 bits with saturation.
  BatchTokens tokens = tokens_around_chunk(extend_seq_lens, launch, chunk_begin, chunk_end);
  tokens.own = own.tokens;
  BatchTokens exclusive;
  BatchTokens batch;
  BatchScan(shared.cub.batch_scan)
      .ExclusiveScan(tokens, exclusive, BatchTokens{0, 0, 0}, AddBatchTokens(), batch);
  const int64_t tile_row = batch.before;
  const int64_t tile_end = saturating_add(batch.before, batch.own);
  const int64_t total = saturating_add(tile_end, batch.after);
  publish_request(shared, own, saturating_add(tile_row, exclusive.own), tile_end);
  write_total(num_tokens, total);
  __syncthreads();

  write_tile(launch, shared, static_cast<int>(chunk_end - chunk_begin), tile_row,
             min_of(tile_end, row_limit_of(launch)));
  zero_tails(launch, total);
}

template <typename extend_t>
__global__ void __launch_bounds__(kThreads)
    chunk_tokens_kernel(const extend_t* __restrict__ extend_seq_lens,
                        int64_t* __restrict__ chunk_tokens, const Launch launch) {
  __shared__ typename BlockReduce::TempStorage reduce;
  // expand_kernel is launched as this kernel's dependent: its blocks may load
  // their first requests while this grid's last blocks run.
  nsa_metadata::cuda::allow_dependent_launch();
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  int64_t tokens = 0;
#pragma unroll 8
  for (int64_t i = chunk_begin + threadIdx.x; i < chunk_end; i += kThreads) {
    tokens = saturating_add(tokens, tokens_of(extend_seq_lens[i * launch.extend_stride]));
  }
  const int64_t block_tokens = BlockReduce(reduce).Reduce(tokens, SaturatingSum());
  if (threadIdx.x == 0) {
    chunk_tokens[blockIdx.x] = block_tokens;
  }
}

template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads, kBlocksPerSM)
    expand_kernel(const extend_t* __restrict__ extend_seq_lens,
                  const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                  const int64_t* __restrict__ chunk_tokens, const Launch launch) {
  constexpr int kPairRequests = 2 * kThreads;
  __shared__ SharedState shared;
  __shared__ int4 warp_sums[kWarps];
  __shared__ StagedRows<kPairRequests> staged;
  const int64_t chunk_begin = chunk_begin_of(launch, blockIdx.x);
  const int64_t chunk_end = chunk_end_of(launch, chunk_begin);
  // Two pairs' loads are in flight at any time: this pair's and the next.
  LoadedPair<extend_t, seq_t> loaded =
      load_raw_pair(extend_seq_lens, seq_lens, launch, chunk_begin, chunk_end);
  LoadedPair<extend_t, seq_t> next =
      load_raw_pair(extend_seq_lens, seq_lens, launch, chunk_begin + kPairRequests, chunk_end);
  // Launched as chunk_tokens_kernel's dependent (../dispatch.cuh): the loads above
  // read only the inputs, which were final before that kernel started; from
  // here on the kernel reads chunk_tokens and writes the outputs.
  nsa_metadata::cuda::wait_for_prerequisite_grids();
  const SplitSums<int64_t> start = block_split_sums<kThreads>(
      ChunkTokens{chunk_tokens}, blockIdx.x, gridDim.x, SaturatingSum(), shared.cub.reduce,
      shared.start);
  write_total(num_tokens, start.total);

  const int64_t row_limit = row_limit_of(launch);
  int64_t pair_row = start.before;
  for (int64_t pair_begin = chunk_begin; pair_begin < chunk_end && pair_row < row_limit;
       pair_begin += kPairRequests) {
    // The 32-bit scan first: it also tells whether every request of the pair
    // is short, which is all the pairs of a draft step.
    const RequestPair pair = {to_request(loaded.low), to_request(loaded.high)};
    const PairScan scan = pair_scan(pair, warp_sums);
    int64_t pair_end;
    if (scan.short_requests) {
      pair_end = pair_row + scan.rows;
      const Selection selected = selection_of(launch);
      stage_request_rows(staged, pair.low, pair_row, scan.low_first, selected);
      stage_request_rows(staged, pair.high, pair_row, scan.high_first, selected);
    } else {
      pair_end = publish_long_tile(shared, pair.low, pair_row);
    }
    __syncthreads();
    // The pair after next is loaded before this one is written.
    loaded = next;
    next = load_raw_pair(extend_seq_lens, seq_lens, launch, pair_begin + 2 * kPairRequests,
                         chunk_end);
    if (scan.short_requests) {
      write_staged_tile(launch, staged, pair_row, min_of(pair_end, row_limit));
    } else {
      // One tile at a time; the high tile is published once every thread is
      // done with the low one.
      write_tile(launch, shared, tile_requests(pair_begin, chunk_end), pair_row,
                 min_of(pair_end, row_limit));
      __syncthreads();
      const int64_t high_row = pair_end;
      pair_end = publish_long_tile(shared, pair.high, high_row);
      __syncthreads();
      write_tile(launch, shared, tile_requests(pair_begin + kThreads, chunk_end), high_row,
                 min_of(pair_end, row_limit));
    }
    pair_row = pair_end;
    // No barrier here. The next pair's first shared write, its warp sums,
    // comes after the first barrier above, past which this pair's warp sums
    // are no longer read; its staged rows, published requests and scan
    // storage come after the barrier in its scan, which no thread passes
    // before every thread is done writing this pair.
  }
  zero_tails(launch, start.total);
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

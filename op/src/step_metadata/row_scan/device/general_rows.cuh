// The general path's rows, for tiles with a long request: each tile's
// requests published in shared memory, and each thread's aligned group of 4
// rows found by binary search and a walk forward.
#pragma once

#include "step_metadata/row_scan/device/requests.cuh"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

using BlockReduce = cub::BlockReduce<int64_t, kThreads>;
using TileScan = cub::BlockScan<int64_t, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;
using BatchScan = cub::BlockScan<BatchTokens, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;

struct SharedState {
  union {
    typename BlockReduce::TempStorage reduce;
    typename TileScan::TempStorage tile_scan;
    typename BatchScan::TempStorage batch_scan;
  } cub;
  // first_row[k] is the first row of the tile's request k; past the tile's
  // requests, and at [kThreads], the tile's end, which stops every walk.
  int64_t first_row[kThreads + 1];
  int64_t tokens[kThreads];
  int64_t seq_len[kThreads];
  SplitSums<int64_t> start;  // two passes: rows before this block's chunk, and the batch's
};

// Makes the thread's request, whose first row is `first_row`, visible to
// write_tile; `tile_end` is one past the tile's last row.
__device__ __forceinline__ void publish_request(SharedState& shared, const Request& request,
                                                int64_t first_row, int64_t tile_end) {
  shared.first_row[threadIdx.x] = first_row;
  shared.tokens[threadIdx.x] = request.tokens;
  shared.seq_len[threadIdx.x] = request.seq_len;
  if (threadIdx.x == 0) {
    shared.first_row[kThreads] = tile_end;
  }
}


// Writes rows [tile_row, tile_end) of the published tile, which holds
// `requests` requests; tile_end is already bounded by the row limit.
__device__ __forceinline__ void write_tile(const Launch& launch, const SharedState& shared,
                                           int requests, int64_t tile_row, int64_t tile_end) {
  if (tile_row >= tile_end) {
    return;
  }
  for (int64_t group = group_of(tile_row) + threadIdx.x; group < group_end_of(tile_end);
       group += kThreads) {
    const int64_t group_row = group * kRowsPerGroup;
    const int64_t row_begin = max_of(group_row, tile_row);
    const int64_t row_end = min_of(group_row + kRowsPerGroup, tile_end);
    int owner = last_at_most(shared.first_row, requests, row_begin);
    int64_t owner_first_row = shared.first_row[owner];
    int64_t next_first_row = shared.first_row[owner + 1];
    int32_t expanded[kRowsPerGroup];
    int32_t cached[kRowsPerGroup];
#pragma unroll
    for (int k = 0; k < kRowsPerGroup; ++k) {
      const int64_t row = group_row + k;
      expanded[k] = 0;
      if (row >= row_begin && row < row_end) {
        while (next_first_row <= row) {
          ++owner;
          owner_first_row = next_first_row;
          next_first_row = shared.first_row[owner + 1];
        }
        expanded[k] = expanded_seqlen(shared.seq_len[owner], shared.tokens[owner],
                                      row - owner_first_row);
      }
      cached[k] = nsa_cache_seqlen(expanded[k], launch.nsa_index_topk, launch.index_kpool);
    }
    store_group(launch.seqlens_expanded, group_row, row_begin, row_end, expanded);
    store_group(launch.nsa_cache_seqlens, group_row, row_begin, row_end, cached);
  }
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda

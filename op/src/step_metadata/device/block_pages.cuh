// The page blocks of the step-metadata kernel, for batches of more than a
// warp's requests: page_table_1, real_page_table and page_table_1_flattened,
// gathered from req_to_token one unit at a time (copy_unit.cuh).
//
// Every page block walks the batch in tiles of kPageTile requests: it loads
// the tile's shapes, scans the units and rows they need, then its warps take
// the tile's units in turn with every other page block's warps (unit u to
// warp u mod warps), so the copy is balanced however uneven the lengths,
// with no workspace and no communication between blocks. A unit finds its
// request by two votes of its warp over the tile (tile_request_of). Where the
// tile's units leave page warps idle, several warps share a unit's rows.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/device/copy_unit.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/request_math.h"

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::dealt_warp;

// Units, page rows and KV tokens, scanned together along a tile.
struct PageSums {
  int64_t units;
  int64_t rows;
  int64_t kv;
};

struct PageSumOp {
  __device__ __forceinline__ PageSums operator()(const PageSums& a, const PageSums& b) const {
    return {a.units + b.units, saturating_add(a.rows, b.rows), saturating_add(a.kv, b.kv)};
  }
};

// Requests of a tile between two of its unit marks (PageTile::unit_marks):
// a lane each, so that a warp finds a unit's request in two votes. The marks
// are a packed copy of every kRequestsPerMark-th first_unit: read in place,
// at that stride, the lanes' loads would all fall in one shared-memory bank.
constexpr int kRequestsPerMark = kPageTile / kWarpSize;
static_assert(kRequestsPerMark <= kWarpSize && kPageTile % kWarpSize == 0,
              "a tile's requests should be a warp's marks of at most a warp's requests each");

struct PageTile {
  cub::BlockScan<PageSums, kThreads>::TempStorage scan;
  int64_t first_unit[kPageTile];
  int64_t unit_marks[kWarpSize];  // first_unit of every kRequestsPerMark-th request
  int64_t first_row[kPageTile];
  int64_t kv_before[kPageTile];
  int64_t rows[kPageTile];
  int64_t top[kPageTile];
  const int32_t* source[kPageTile];
};

// Loads the tile's shapes into shared memory and scans them; returns the
// tile's totals. Requests whose pool index lies outside req_to_token get no
// units (their rows are left untouched). `start` sums the tiles before.
__device__ PageSums load_page_tile(const Launch& launch, PageTile& tile, int64_t tile_begin,
                                   const PageSums& start) {
  PageSums mine[kRequestsPerThread];
  PageSums thread_sums{0, 0, 0};
#pragma unroll
  for (int r = 0; r < kRequestsPerThread; ++r) {
    const int k = threadIdx.x * kRequestsPerThread + r;
    const int64_t i = tile_begin + k;
    RequestShape shape{0, 0};
    const int32_t* source = nullptr;
    if (i < launch.batch_size) {
      shape = page_shape(launch.model, i);
      source = source_row(launch, i);
    }
    const bool copies = source != nullptr && shape.rows > 0;
    mine[r] = {copies ? units_of<kVectorsPerLane>(launch, shape.top) : 0, shape.rows,
               clamped_len(shape.top)};
    tile.rows[k] = shape.rows;
    tile.top[k] = shape.top;
    tile.source[k] = source;
    thread_sums = PageSumOp()(thread_sums, mine[r]);
  }
  PageSums before;
  PageSums tile_sums;
  cub::BlockScan<PageSums, kThreads>(tile.scan)
      .ExclusiveScan(thread_sums, before, PageSums{0, 0, 0}, PageSumOp(), tile_sums);
#pragma unroll
  for (int r = 0; r < kRequestsPerThread; ++r) {
    const int k = threadIdx.x * kRequestsPerThread + r;
    tile.first_unit[k] = before.units;
    if (k % kRequestsPerMark == 0) {
      tile.unit_marks[k / kRequestsPerMark] = before.units;
    }
    tile.first_row[k] = saturating_add(start.rows, before.rows);
    tile.kv_before[k] = saturating_add(start.kv, before.kv);
    before = PageSumOp()(before, mine[r]);
  }
  __syncthreads();
  return tile_sums;
}

// The tile's request of unit u (the last k with first_unit[k] <= u; a unit
// lies in the tile, and first_unit[0] is 0), for the whole warp: one vote
// over the unit marks, then one over the requests after the last mark at or
// below u. The requests at or below u are a prefix of the tile, so each
// vote's count of them is the place of the last one. On the copy's chain a
// binary search would cost nine dependent shared loads a unit.
__device__ __forceinline__ int tile_request_of(const PageTile& tile, int64_t u) {
  const int lane = lane_id();
  const int mark = __popc(__ballot_sync(kFullWarp, tile.unit_marks[lane] <= u)) - 1;
  const int first = mark * kRequestsPerMark;
  const bool at_or_below = lane < kRequestsPerMark && tile.first_unit[first + lane] <= u;
  return first + __popc(__ballot_sync(kFullWarp, at_or_below)) - 1;
}

// The items of a tile a page warp copies. Without late page blocks (kLate
// false), item i goes to warp i mod warps. With them (extend: plan.cuh,
// plan_late_page_blocks), the first `lead` items go to the first page blocks'
// warps alone, item i to warp i mod warps, and the rest to every page warp,
// item i to warp i mod all_warps (the late blocks' warps numbered after the
// others). The rotation goes on from where the lead's ends: restarted at warp
// 0, a lead shorter than a round of the warps gives its warps a second item
// before the others have one (mixed extend batches at bs 128 and 256 took
// 1.7 us longer so, on an H100).
template <bool kLate>
struct ItemDeal {
  int64_t warp;
  int64_t warps;       // the first page blocks' warps
  int64_t all_warps;   // with the late blocks' warps
  int64_t lead;
  int64_t first_past;  // the warp's first item at or past the lead

  __device__ __forceinline__ ItemDeal(int64_t warp, int64_t warps, int64_t all_warps, int64_t lead)
      : warp(warp), warps(warps), all_warps(all_warps), lead(lead), first_past(0) {
    if constexpr (kLate) {
      // The lead's place among the warps in 64 bits (a library call, once a
      // tile), the rest in 32 bits: warps of one grid.
      const auto all = static_cast<uint32_t>(all_warps);
      const auto lead_place = static_cast<uint32_t>(static_cast<uint64_t>(lead) % all);
      first_past = lead + (static_cast<uint32_t>(warp) + all - lead_place) % all;
    }
  }
  __device__ __forceinline__ int64_t first() const {
    if constexpr (!kLate) {
      return warp;
    }
    return warp < lead && warp < warps ? warp : first_past;
  }
  __device__ __forceinline__ int64_t next(int64_t item) const {
    if constexpr (!kLate) {
      return item + warps;
    }
    if (item < lead) {
      return item + warps < lead ? item + warps : first_past;
    }
    return item + all_warps;
  }
};

// kLate: the grid ends in late page blocks (extend's instance for them).
template <bool kExtend, bool kLate>
__device__ void copy_page_tables(const Launch& launch, int64_t page_block, PageTile& tile) {
  const int64_t warps = launch.page_blocks * kWarps;
  const bool late = kLate && page_block >= launch.page_blocks;
  const int64_t warp = late ? warps + dealt_warp(page_block - launch.page_blocks,
                                                 launch.late_page_blocks)
                            : dealt_warp(page_block, launch.page_blocks);
  const int64_t all_warps = warps + launch.late_page_blocks * kWarps;
  int64_t lead_left = launch.lead_units;  // of the batch's units
  PageSums start{0, 0, 0};
  for (int64_t tile_begin = 0; tile_begin < launch.batch_size; tile_begin += kPageTile) {
    const PageSums tile_sums = load_page_tile(launch, tile, tile_begin, start);
    // A unit's rows in G = 2^shift groups: item u * G + g stores unit u into
    // the rows g, g + G, ... of its request (each group's warp loads the
    // unit itself).
    const int shift = row_group_shift(static_cast<uint64_t>(tile_sums.units),
                                      static_cast<uint64_t>(warps), launch.max_row_group_shift);
    const int64_t items = tile_sums.units << shift;
    const int64_t lead = min_of(tile_sums.units, lead_left) << shift;
    lead_left -= lead >> shift;
    const ItemDeal<kLate> deal(warp, warps, all_warps, lead);
    for (int64_t item = deal.first(); item < items; item = deal.next(item)) {
      const int64_t u = item >> shift;
      const int64_t group = item - (u << shift);
      const int k = tile_request_of(tile, u);
      if (group >= tile.rows[k]) {
        continue;
      }
      copy_unit<kVectorsPerLane, kExtend>(
          launch,
          {tile.source[k], tile.rows[k], tile.first_row[k], tile.top[k], tile.kv_before[k]},
          u - tile.first_unit[k], RowSlice{group, int64_t{1} << shift});
    }
    start = PageSumOp()(start, tile_sums);
    const Buffers& buffers = launch.buffers;
    if (start.rows >= buffers.page_row_limit() &&
        start.kv >= buffers.page_table_1_flattened.capacity) {
      return;  // Later requests' rows and slots do not fit the tables.
    }
    __syncthreads();  // The next tile overwrites the shared arrays.
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

// The step-metadata kernel for batches of at most kWarpBatch requests, where
// the cost of a call is the latency of its longest chain of dependent
// instructions, not memory traffic. No warp waits on another (no shared
// memory, no barrier), each keeps its chain short, and the kernel is compiled
// once per row shape (RowShape) so that a call runs no code for the others:
//
// - the first `vector_warps` warps each load the whole batch, one request
//   per lane, scan it with shuffles in 32 bits (the sums saturate at
//   INT32_MAX, as the int32 outputs do), and write the requests' outputs, the
//   rows and the draft-extend tail, 32 rows per warp at a time (decode's
//   vectors, one row per request, are the small-batch kernel's:
//   small_batch.cuh);
// - every later warp loads the batch's shapes once, one request per lane,
//   then copies work items: one unit (copy_unit.cuh) of one request into
//   some of its rows (and its flattened slots), the request's shape coming
//   from shuffles and, for variable row counts, the rows before it from one
//   warp reduction.
//
// The small-batch kernel's page warps copy as these do where its own copy
// does not apply. The launcher takes this kernel only when every row
// position fits kWarpBatchRowLimit, which keeps the 32-bit sums exact where
// they are used.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/buffers.h"
#include "step_metadata/device/copy_unit.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::ceil_div;
using nsa_metadata::cuda::lane_id;

// Rows, KV lengths and nsa_cache_seqlens summed, each saturating at
// INT32_MAX: non-negative, so adding stays associative.
struct NarrowSums {
  int32_t rows;
  int32_t kv;
  int32_t topk;
};

__device__ __forceinline__ int32_t saturating_add_32(int32_t a, int32_t b) {
  const uint32_t sum = static_cast<uint32_t>(a) + static_cast<uint32_t>(b);  // < 2^32
  return static_cast<int32_t>(sum < kInt32Max ? sum : kInt32Max);
}

// The inclusive sum of a warp's values (non-negative) along its lanes,
// saturating at INT32_MAX.
__device__ __forceinline__ int32_t inclusive_sum_32(int32_t value) {
  return inclusive_warp_scan(
      value, [](int32_t a, int32_t b) { return saturating_add_32(a, b); });
}

__device__ __forceinline__ NarrowSums add(const NarrowSums& a, const NarrowSums& b) {
  return {saturating_add_32(a.rows, b.rows), saturating_add_32(a.kv, b.kv),
          saturating_add_32(a.topk, b.topk)};
}

__device__ __forceinline__ NarrowSums shuffle_up(const NarrowSums& sums, unsigned delta) {
  return {__shfl_up_sync(kFullWarp, sums.rows, delta), __shfl_up_sync(kFullWarp, sums.kv, delta),
          __shfl_up_sync(kFullWarp, sums.topk, delta)};
}

__device__ __forceinline__ Sums widen(const NarrowSums& sums) {
  return {sums.rows, sums.kv, sums.topk};
}

// Request `lane`'s shape (lane < batch_size) for the row shape the kernel
// was compiled for: the model's request_shape without the branches of the
// others.
template <RowShape kRows>
__device__ __forceinline__ RequestShape lane_shape(const Model& model, int lane) {
  const int64_t seq_len = model.seq_lens[lane];
  if constexpr (kRows == RowShape::kOne) {
    return {1, seq_len};  // decode: no top offset (the launcher's condition)
  } else if constexpr (kRows == RowShape::kFixed) {
    return {model.rows_per_request, top_from(model, seq_len)};
  } else {
    return {rows_of(model.extend_seq_lens[lane]), top_from(model, seq_len)};
  }
}

// Lane k's request (none past the batch) and the sums before it and over
// the batch.
struct LaneRequest {
  RequestShape shape;
  NarrowSums before;
  NarrowSums total;
};

template <RowShape kRows>
__device__ LaneRequest load_lane_request(const Launch& launch) {
  const int lane = lane_id();
  LaneRequest request{{0, 0}, {0, 0, 0}, {0, 0, 0}};
  NarrowSums inclusive{0, 0, 0};
  if (lane < launch.batch_size) {
    request.shape = lane_shape<kRows>(launch.model, lane);
    const Sums mine = request_sums(launch.model, request.shape);
    inclusive = {narrow_count<int32_t>(mine.rows), narrow_count<int32_t>(mine.kv),
                 narrow_count<int32_t>(mine.topk)};
  }
  inclusive = inclusive_warp_scan(
      inclusive, [](const NarrowSums& a, const NarrowSums& b) { return add(a, b); });
  const NarrowSums lower = shuffle_up(inclusive, 1);
  request.before = lane > 0 ? lower : NarrowSums{0, 0, 0};
  request.total = {__shfl_sync(kFullWarp, inclusive.rows, kWarpSize - 1),
                   __shfl_sync(kFullWarp, inclusive.kv, kWarpSize - 1),
                   __shfl_sync(kFullWarp, inclusive.topk, kWarpSize - 1)};
  return request;
}

// A lane's count summed over the warp in 64 bits, for the counters (an
// int64 num_tokens receives the true total, past INT32_MAX).
__device__ int64_t warp_total(int64_t count) {
#pragma unroll
  for (int mask = kWarpSize / 2; mask > 0; mask /= 2) {
    count = saturating_add(count, __shfl_xor_sync(kFullWarp, count, mask));
  }
  return count;
}

// The lane whose request holds `row` (< the batch's rows): the last whose
// first row is at most `row` (empty requests lose the tie to the next).
__device__ __forceinline__ int owner_lane(int32_t first_row, int32_t row) {
  int owner = 0;
#pragma unroll
  for (int step = kWarpSize / 2; step > 0; step /= 2) {
    if (__shfl_sync(kFullWarp, first_row, owner + step) <= row) {
      owner += step;
    }
  }
  return owner;
}

template <RowShape kRows, bool kExtend>
__device__ void write_warp_batch_vectors(const Launch& launch, int64_t warp) {
  static_assert(kRows != RowShape::kOne, "one row per request: small_batch.cuh");
  const Buffers& buffers = launch.buffers;
  const int lane = lane_id();
  const LaneRequest request = load_lane_request<kRows>(launch);
  if (warp == 0) {
    if (lane < launch.batch_size) {
      write_request<kExtend>(buffers, lane, request.shape, widen(request.before));
    }
    const int64_t rows = buffers.num_tokens.data != nullptr ? warp_total(request.shape.rows) : 0;
    const int64_t kv = kExtend && buffers.num_kv_tokens.data != nullptr
                           ? warp_total(clamped_len(request.shape.top))
                           : 0;
    if (lane == 0) {
      write_heads<kExtend>(buffers, rows, kv);
    }
  }
  const auto limit = static_cast<int32_t>(buffers.vector_row_limit());
  const int32_t stride = launch.vector_warps * kWarpSize;
  for (int32_t base = warp * kWarpSize; base < limit; base += stride) {
    const int32_t row = base + lane;
    const int owner = owner_lane(request.before.rows, row);  // every lane: it shuffles
    const RequestShape shape{__shfl_sync(kFullWarp, request.shape.rows, owner),
                             __shfl_sync(kFullWarp, request.shape.top, owner)};
    const NarrowSums before{__shfl_sync(kFullWarp, request.before.rows, owner),
                            __shfl_sync(kFullWarp, request.before.kv, owner),
                            __shfl_sync(kFullWarp, request.before.topk, owner)};
    if (row >= limit) {
      continue;
    }
    if (row < request.total.rows) {
      write_row<kExtend>(buffers, launch.model, shape, owner, row - before.rows, row,
                         widen(before));
    } else {
      write_tail_position<kExtend>(buffers, row, widen(request.total));
    }
  }
}

// The page warps' view of the batch: lane k's request, loaded once, so that
// a work item's request comes from shuffles rather than from memory.
struct LanePages {
  RequestShape shape;     // page_shape
  const int32_t* source;  // source_row, or nullptr
  uint32_t units;         // units_of in short units, or 0 when the request copies nothing
  uint32_t clamped_rows;  // rows, at most kWarpBatchRowLimit
  int64_t kv_before;      // KV tokens before the request, with a flattened table
};

// One page row per request: decode, and extend (its page rows are its
// requests'); the launcher passes kExtend only for extend.
template <RowShape kRows, bool kExtend>
__device__ __forceinline__ bool one_page_row(const Model& model) {
  return kRows == RowShape::kOne || kExtend || model.page_row_per_request;
}

template <RowShape kRows, bool kExtend>
__device__ LanePages load_lane_pages(const Launch& launch) {
  const int lane = lane_id();
  LanePages pages{{0, 0}, nullptr, 0, 0, 0};
  if (lane < launch.batch_size) {
    pages.shape = lane_shape<kRows>(launch.model, lane);
    if (one_page_row<kRows, kExtend>(launch.model)) {
      pages.shape.rows = 1;
    }
    pages.source = source_row(launch, lane);
    if (pages.source != nullptr && pages.shape.rows > 0) {
      pages.units = static_cast<uint32_t>(units_of<kShortVectorsPerLane>(launch, pages.shape.top));
    }
    pages.clamped_rows = static_cast<uint32_t>(min_of(pages.shape.rows, kWarpBatchRowLimit));
  }
  if (kExtend && launch.buffers.page_table_1_flattened.present()) {
    const int64_t kv = lane < launch.batch_size ? clamped_len(pages.shape.top) : 0;
    // At most 32 lengths below 2^31: no overflow.
    pages.kv_before = inclusive_warp_scan(kv, Plus{}) - kv;
  }
  return pages;
}

// The page rows before request i. One per request: i. A fixed count:
// i * N. Extend lengths: the sum of the clamped counts below lane i (a count
// that large already puts request i past every table), exact in 32 bits for
// 32 lanes.
template <RowShape kRows, bool kExtend>
__device__ int64_t rows_before(const Launch& launch, const LanePages& pages, uint32_t i) {
  if (one_page_row<kRows, kExtend>(launch.model)) {
    return i;
  }
  if constexpr (kRows == RowShape::kFixed) {
    return fixed_rows_before(launch.model, i);
  }
  return __reduce_add_sync(kFullWarp, lane_id() < static_cast<int>(i) ? pages.clamped_rows : 0u);
}

// A count of short units (LanePages::units) in units of kVectors vectors a
// lane: whole units nest (kVectors is a multiple of the short count), so the
// rounded-up quotient is the count units_of<kVectors> gives.
template <int kVectors>
__device__ __forceinline__ uint32_t units_from_short(uint32_t short_units) {
  static_assert(kVectors % kShortVectorsPerLane == 0, "units of whole short units");
  return static_cast<uint32_t>(ceil_div(short_units, kVectors / kShortVectorsPerLane));
}

// Work items in unit-major order: item (u * batch_size + i) * G + g is row
// group g (G = 2^shift) of unit u of request i; the warp writes the rows
// j = g, g + G, ... of the request (several warps write the rows of a
// target-verify or draft-extend request side by side, each loading the unit
// itself, from L2 after the first). A warp's items only grow in unit, so it
// stops at the first past the batch's widest request: the grid is sized for
// the widest request the tables hold, most calls need far fewer units.
// The groups follow the units the batch needs (every warp finds the same
// count, row_group_shift): a row's stores are the longest chain of a small
// batch. `live_units` is the widest request's units of kVectors vectors a
// lane.
template <RowShape kRows, bool kExtend, int kVectors>
__device__ void copy_warp_batch_items(const Launch& launch, const LanePages& pages,
                                      int64_t page_warp, int64_t page_warps, uint32_t live_units) {
  const auto batch_size = static_cast<uint32_t>(launch.batch_size);
  const uint64_t live_items = uint64_t{batch_size} * live_units;
  const int shift = row_group_shift(live_items, static_cast<uint64_t>(page_warps),
                                    launch.max_row_group_shift);
  // Items stay below 2^32: the launcher bounds batch_size * units * G by
  // 2^31 (in short units), and so bounds the grid.
  for (auto item = static_cast<uint32_t>(page_warp);; item += static_cast<uint32_t>(page_warps)) {
    const uint32_t request_item = item >> shift;
    const uint32_t unit = launch.batch_size_divisor.divide(request_item);
    if (unit >= live_units) {
      return;
    }
    const uint32_t i = request_item - unit * batch_size;
    const uint32_t group = item - (request_item << shift);
    const RequestShape shape{one_page_row<kRows, kExtend>(launch.model)
                                 ? 1
                                 : __shfl_sync(kFullWarp, pages.shape.rows, i),
                             __shfl_sync(kFullWarp, pages.shape.top, i)};
    const auto* source = reinterpret_cast<const int32_t*>(
        __shfl_sync(kFullWarp, reinterpret_cast<uintptr_t>(pages.source), i));
    const int64_t first_row = rows_before<kRows, kExtend>(launch, pages, i);  // every lane
    const int64_t kv_before = kExtend ? __shfl_sync(kFullWarp, pages.kv_before, i) : 0;
    const uint32_t request_units =
        units_from_short<kVectors>(__shfl_sync(kFullWarp, pages.units, i));
    if (unit >= request_units || shape.rows <= group) {
      continue;
    }
    copy_unit<kVectors, kExtend>(launch, {source, shape.rows, first_row, shape.top, kv_before},
                                 unit, RowSlice{group, int64_t{1} << shift});
  }
}

// Short units where the batch's items fit one pass of the page warps (each
// warp's chain is then the call's time), else long ones (bytes in flight set
// the time): device/policy.cuh.
template <RowShape kRows, bool kExtend>
__device__ void copy_warp_batch_pages(const Launch& launch, int64_t page_warp,
                                      int64_t page_warps) {
  const LanePages pages = load_lane_pages<kRows, kExtend>(launch);
  const uint32_t live_units = __reduce_max_sync(kFullWarp, pages.units);
  if (live_units == 0) {
    return;  // Also an empty batch, which the items would divide by.
  }
  if (uint64_t{static_cast<uint32_t>(launch.batch_size)} * live_units <=
      static_cast<uint64_t>(page_warps)) {
    copy_warp_batch_items<kRows, kExtend, kShortVectorsPerLane>(launch, pages, page_warp,
                                                                page_warps, live_units);
  } else {
    copy_warp_batch_items<kRows, kExtend, kVectorsPerLane>(
        launch, pages, page_warp, page_warps, units_from_short<kVectorsPerLane>(live_units));
  }
}

}  // namespace nsa_metadata::step_metadata::cuda

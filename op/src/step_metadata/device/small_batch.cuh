// The step-metadata kernel for the smallest calls: decode, target-verify and
// draft-extend of at most kWarpBatch requests whose rows, row vectors and
// page tables hold at most kSmallBatchRows positions. Such a call's time is
// one warp's chain of dependent instructions, so each warp here runs the
// shortest one it can, reading only the packed parameters (SmallBatch,
// launch_params.cuh), and holds the batch a request a lane:
//
// - warp 0 writes the per-request vectors: lane k request k's, one scan of
//   the lanes giving cu_seqlens_k;
// - warp 1 writes the row vectors: each lane computes a few consecutive rows
//   side by side (a row's KV length is its request's first row's plus its
//   place in the request, the request being row / N with N rows each; with
//   per-request counts each lane writes its rows' lengths into a table in
//   shared memory first); one scan of the lanes' sums gives every row's
//   running sum of nsa_cache_seqlens (no closed-form sums, no search for a
//   row's request);
// - every later warp copies one work item, where the call's items fit one
//   pass of the page warps and its tables allow (SmallBatch::lean_pages):
//   where every item of the widest rows the tables hold has a warp
//   (SmallBatch::direct_pages), the unit and row its place names, loading
//   only its own request; else one unit of one row (its request found by
//   one vote of the lanes), or
//   where the rows' items do not fit, one unit of one request stored into
//   every second or fourth of its rows, or into each of them, as the pass
//   allows (one warp's chain then holds up to N rows' stores: on an H200
//   that way at every size, target-verify at bs 1 took 3.4 us of GPU time
//   against 2.3 with a row a warp); otherwise the page warps copy as the
//   warp-batch kernel's do (warp_batch.cuh), which bounds a warp's work by
//   bytes in flight rather than by its chain.
#pragma once

#include "common/device_math.cuh"
#include "common/length_math.h"
#include "step_metadata/buffers.h"
#include "step_metadata/device/copy_unit.cuh"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/device/warp_batch.cuh"

#include <cstdint>
#include <type_traits>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::load_global;
using nsa_metadata::cuda::load_global_if;

// How an instance of the kernel reads its index vectors: the lengths
// (seq_lens, and extend_seq_lens with per-request counts) and
// req_pool_indices, each as an IndexVector of either dtype or as a
// DenseIndexVector. The page warps' first step, from their start to the
// vote over the lengths, is most of a small call's time; on an H100, reading
// int32 lengths and int64 pool indices as dense vectors took 0.05-0.13 us
// off decode, target-verify and draft-extend at bs 1-8 (of 1.1-1.6 us over
// an empty kernel).
template <typename LengthsVector, typename PoolIndicesVector>
struct SmallBatchIndices {
  using Lengths = LengthsVector;
  using PoolIndices = PoolIndicesVector;
};
using AnyIndices = SmallBatchIndices<IndexVector, IndexVector>;
template <typename PoolIndex>
using DenseIndices = SmallBatchIndices<DenseIndexVector<int32_t>, DenseIndexVector<PoolIndex>>;

// Row KV lengths as a request holds them: its first row's plus kRowKvBias,
// in 32 unsigned bits, kept down to 0 rather than to the bias. Every row
// here is fewer than kSmallBatchRows rows after its request's first and sees
// one token more than the row before, so small_row_kv gets any row's with one
// addition, and a first row at or below -kRowKvBias leaves every row at 0,
// as the exact value does.
constexpr uint32_t kRowKvBias = static_cast<uint32_t>(kSmallBatchRows);

// A request's top (the KV tokens its last row sees, seq_len + top_offset,
// saturating) capped at kTopCap: with N <= kSmallBatchRows rows, every top
// at or past the cap gives each row INT32_MAX, as row_kv_len does, and a top
// at or below 0 gives none.
constexpr int64_t kTopCap = kInt32Max + kSmallBatchRows;

__device__ __forceinline__ uint32_t capped_top(const SmallBatch& small, int64_t seq_len) {
  const int64_t top = seq_len < kTopCap ? seq_len + small.top_offset : kTopCap;
  return static_cast<uint32_t>(clamp_to(top, 0, kTopCap));
}

// With N rows a request, from its capped top: its last row's KV length (the
// widest row's) and its first row's, biased (kRowKvBias).
__device__ __forceinline__ int32_t last_row_kv(uint32_t top) {
  return static_cast<int32_t>(top < kInt32Max ? top : kInt32Max);
}

__device__ __forceinline__ uint32_t first_row_kv(const SmallBatch& small, uint32_t top) {
  return top + kRowKvBias - (small.rows_per_request.divisor() - 1);
}

// row_kv_len(top, rows - 1 - j), the row j rows after its request's first
// (j < kSmallBatchRows), from that first row's biased length.
__device__ __forceinline__ int32_t small_row_kv(uint32_t first_kv, uint32_t j) {
  const uint32_t biased = first_kv + j;  // below 2^32: first_kv <= INT32_MAX + 2 * kRowKvBias
  const uint32_t kv = biased > kRowKvBias ? biased - kRowKvBias : 0;
  return static_cast<int32_t>(kv < kInt32Max ? kv : kInt32Max);
}

// Lane k's request (none past the batch).
struct SmallRequest {
  int64_t rows;      // its rows
  int32_t kv;        // its last row's KV length: cache_seqlens, and the widest row's
  uint32_t first_kv;  // its first row's, biased (kRowKvBias)
  // With counts from extend_seq_lens, its rows [row_start, row_end) with
  // each count at most kSmallBatchRows: exact below kSmallBatchRows, and a
  // count that large puts every later request past the tables.
  uint32_t row_start;
  uint32_t row_end;
};

// With its row count from extend_seq_lens (any count), a request's rows and
// its last and first rows' lengths (not its row range), from its top in 64
// bits.
__device__ __forceinline__ SmallRequest variable_request(const SmallBatch& small, int64_t seq_len,
                                                         int64_t extend_seq_len) {
  SmallRequest request{0, 0, 0, 0, 0};
  const int64_t top = saturating_offset(seq_len, small.top_offset);
  request.rows = rows_of(extend_seq_len);
  request.kv = clamped_len(top);
  if (top > 0 && request.rows > 0) {
    request.first_kv = static_cast<uint32_t>(
        clamp_to(top - (request.rows - 1), -int64_t{kRowKvBias}, kInt32Max) + kRowKvBias);
  }
  return request;
}

// With N rows a request, its lengths from the capped top in 32 bits; with
// counts from extend_seq_lens, variable_request's.
template <RowShape kRows, typename Indices>
__device__ SmallRequest load_small_request(const SmallBatch& small) {
  const int lane = lane_id();
  SmallRequest request{0, 0, 0, 0, 0};
  if (lane < small.batch_size) {
    const typename Indices::Lengths seq_lens(small.seq_lens());
    const auto seq_len = seq_lens.load(lane);
    if constexpr (kRows == RowShape::kVariable) {
      const typename Indices::Lengths extend_seq_lens(small.extend_seq_lens);
      const auto extend_seq_len = extend_seq_lens.load(lane);
      request = variable_request(small, seq_lens.value(seq_len),
                                 extend_seq_lens.value(extend_seq_len));
    } else {
      const uint32_t top = capped_top(small, seq_lens.value(seq_len));
      request.rows = small.rows_per_request.divisor();
      request.kv = last_row_kv(top);
      request.first_kv = first_row_kv(small, top);
    }
  }
  if constexpr (kRows == RowShape::kVariable) {
    // At most 32 counts of at most kSmallBatchRows: no overflow.
    const auto count = static_cast<uint32_t>(min_of(request.rows, kSmallBatchRows));
    const uint32_t row_end = inclusive_warp_scan(count, Plus{});
    request.row_end = row_end;
    request.row_start = row_end - count;
  }
  return request;
}

// The lane of row `row`'s request (for a row past the batch's, kVariable
// gives kWarpSize) and that request's first row; every lane calls them.
template <RowShape kRows>
__device__ __forceinline__ uint32_t owner_of_row(const SmallBatch& small,
                                                 const SmallRequest& request, uint32_t row) {
  if constexpr (kRows == RowShape::kOne) {
    return row;
  } else if constexpr (kRows == RowShape::kFixed) {
    return small.rows_per_request.divide(row);
  } else {
    return __popc(__ballot_sync(kFullWarp, request.row_end <= row));
  }
}

template <RowShape kRows>
__device__ __forceinline__ uint32_t first_row_of(const SmallBatch& small,
                                                 const SmallRequest& request, uint32_t owner) {
  if constexpr (kRows == RowShape::kVariable) {
    return __shfl_sync(kFullWarp, request.row_start, owner);
  } else {
    return owner * small.rows_per_request.divisor();
  }
}

// Lane k's request's KV length (its last row's, the widest), for
// cache_seqlens: load_small_request's, without the row counts.
template <typename Indices>
__device__ __forceinline__ int32_t load_small_request_kv(const SmallBatch& small) {
  const int lane = lane_id();
  const typename Indices::Lengths seq_lens(small.seq_lens());
  return lane < small.batch_size
             ? clamped_len(saturating_offset(seq_lens[lane], small.top_offset))
             : 0;
}

template <typename Indices>
__device__ void write_small_batch_requests(const SmallBatch& small) {
  const int lane = lane_id();
  const int32_t kv = load_small_request_kv<Indices>(small);
  const int32_t kv_through = small.cu_seqlens_k.present() ? inclusive_sum_32(kv) : 0;
  if (lane < small.batch_size) {
    // kv_through saturates at INT32_MAX, so adding kv back gives it again.
    write_request_kv(small.cache_seqlens, small.cu_seqlens_k, lane, kv, kv_through - kv);
    write_context_lens(small.paged_mqa_context_lens, lane, kv);
  }
  if (lane == 0) {
    write_step_heads(small.cu_seqlens_k, Vector{}, Counter{}, 0);
  }
}

template <RowShape kRows, typename Indices>
__device__ void write_small_batch_rows(const SmallBatch& small) {
  const int lane = lane_id();
  const SmallRequest request = load_small_request<kRows, Indices>(small);
  uint32_t row_count = small.vector_rows;
  int64_t total_rows = small.vector_rows;
  if constexpr (kRows == RowShape::kVariable) {
    row_count = __shfl_sync(kFullWarp, request.row_end, kWarpSize - 1);
    total_rows = small.num_tokens.data != nullptr ? warp_total(request.rows) : 0;
  }
  if (lane == 0) {
    write_step_heads(Vector{}, small.nsa_cu_seqlens_k, small.num_tokens, total_rows);
  }
  // With counts from extend_seq_lens, each lane puts its request's rows'
  // KV lengths in shared memory, where the lanes below read their rows'.
  __shared__ int32_t variable_row_kv[kRows == RowShape::kVariable ? kSmallBatchRows : 1];
  if constexpr (kRows == RowShape::kVariable) {
    const uint32_t row_end = static_cast<uint32_t>(min_of(request.row_end, kSmallBatchRows));
    for (uint32_t row = request.row_start; row < row_end; ++row) {
      variable_row_kv[row] = small_row_kv(request.first_kv, row - request.row_start);
    }
    __syncwarp();
  }
  // Lane l writes the rows_per_lane rows from l * rows_per_lane on, whose
  // KV lengths it computes side by side: one scan of its sums then serves
  // them all. Rows past the batch's are the tail: no tokens, so zeros, and
  // nsa_cu_seqlens_k repeats the total.
  const uint32_t first_row = lane * small.rows_per_lane;
  int32_t row_kv[kSmallBatchRowsPerLane] = {};
  int32_t selected[kSmallBatchRowsPerLane] = {};
  int32_t lane_topk = 0;
#pragma unroll
  for (uint32_t k = 0; k < kSmallBatchRowsPerLane; ++k) {
    // The same count for every lane: the warp stops at once, and a call of
    // up to 32 rows runs one round of the shuffles and lengths, not four.
    if (k >= small.rows_per_lane) {
      break;
    }
    const uint32_t row = first_row + k;
    const bool live = row < row_count;
    if constexpr (kRows == RowShape::kVariable) {
      row_kv[k] = live ? variable_row_kv[row] : 0;
    } else {
      const uint32_t owner = owner_of_row<kRows>(small, request, row);
      const uint32_t first_kv = __shfl_sync(kFullWarp, request.first_kv, owner % kWarpSize);
      const int32_t kv = small_row_kv(first_kv, row - first_row_of<kRows>(small, request, owner));
      row_kv[k] = live ? kv : 0;
    }
    selected[k] = pooled_topk_len(row_kv[k], small.nsa_index_topk, small.index_kpool);
    lane_topk = saturating_add_32(lane_topk, selected[k]);
  }
  const int32_t lanes_through = inclusive_sum_32(lane_topk);
  const int32_t lanes_before = __shfl_up_sync(kFullWarp, lanes_through, 1);
  int32_t topk_through = lane > 0 ? lanes_before : 0;
#pragma unroll
  for (uint32_t k = 0; k < kSmallBatchRowsPerLane; ++k) {
    if (k < small.rows_per_lane) {
      topk_through = saturating_add_32(topk_through, selected[k]);
      write_row_lengths(small.seqlens_expanded, small.nsa_cache_seqlens, small.nsa_cu_seqlens_k,
                        first_row + k, row_kv[k], selected[k], topk_through);
    }
  }
}

// The columns of a row of kv tokens (Column, as every KV length) in a table
// `width` columns wide, or in real_page_table: page_columns and
// real_columns_for in 32 bits.
__device__ __forceinline__ Column small_columns(Column kv, uint32_t width) {
  return kv < width ? kv : width;
}

__device__ __forceinline__ Column small_real_columns(const SmallBatch& small, Column kv) {
  return small_columns(small.page_size.divide_rounding_up(kv), small.real_page_table_columns);
}

// The req_to_token row of a pool index in_pool accepted (32-bit stride:
// SmallBatch::lean_pages).
__device__ __forceinline__ const int32_t* small_source_row(const SmallBatch& small,
                                                           int64_t pool_index) {
  return small.tokens + pool_index * small.token_stride;
}

// Units of a request's source its rows copy, from its last row's KV length:
// enough for the columns of page_table_1 that row writes and the sources of
// its real_page_table columns. Those columns are each below the KV length and
// below unit_span (the host's bound for any length), so units up to
// min(kv, unit_span) cover them. That is more than the exact count only where
// real_page_table's last source column lies units before the KV length, and
// those units' loads and stores are bounded by the exact columns
// (load_small_unit, store_small_unit): a few instructions on the page warps'
// chain instead of the exact count's division and 64-bit products.
__device__ __forceinline__ uint32_t small_batch_units(const SmallBatch& small, Column kv) {
  return static_cast<uint32_t>(
      ceil_div(small_columns(kv, small.unit_span), kSmallUnitColumns));
}

// How a page warp holds a unit of kSmallUnitColumns columns. Such a call's
// time is its chain, not its bytes. Where each page warp takes its item
// from its place (copy_direct_unit), 4-byte words with plain loads and
// stores, lane l holding columns first + 32 * t + l, took bs 1 0.93-0.98x of
// the time of the lean path's 16-byte vectors read through the read-only
// path and stored streaming (load_unit, store_unit; static draft-extend at
// long contexts 1.00x); on the lean paths of bs 8-32 they took 0.99-1.03x,
// so those keep the vectors (one H100).
enum class UnitForm { kWords, kVectors };

// A lane's words of a unit in UnitForm::kWords, columns first + lane + 32 * t
// below `end`: addressed from one pointer with constant offsets and bounded
// by one count, so that each load or store is one instruction and one
// compare rather than a 64-bit address of its own.
struct LaneWords {
  Column lane_first;  // the lane's first column
  Column left;        // its columns from there to `end` (0 past it)

  __device__ __forceinline__ LaneWords(Column first, Column end)
      : lane_first(first + static_cast<Column>(lane_id())),
        left(end > lane_first ? end - lane_first : 0) {}
  __device__ __forceinline__ bool holds(int t) const {
    return static_cast<Column>(kWarpSize * t) < left;
  }
  template <typename T>
  __device__ __forceinline__ T* of(T* row) const {
    return row + lane_first;
  }
};

// One unit of a request's source as a warp holds it: page_table_1's columns
// below the widest row it is stored into, and this lane's real_page_table
// column of the unit (one at most: kSmallBatchPageSize).
template <UnitForm kForm>
struct SmallUnit {
  std::conditional_t<kForm == UnitForm::kWords, int32_t[kSmallUnitWords],
                     int4[kShortVectorsPerLane]>
      values;
  Column first;
  Column real_column;
  Column real_unit_end;
  // That column's source token, loaded after the unit's words and divided by
  // the page size only when stored, after page_table_1's stores: they need
  // not wait for this later load.
  int32_t real_token;
};

// Loads unit `index` for rows of at most kv_widest tokens. The loads come
// first, the stores (store_small_unit) after them: one wait on memory.
template <UnitForm kForm>
__device__ __forceinline__ SmallUnit<kForm> load_small_unit(const SmallBatch& small,
                                                            const int32_t* source, uint32_t index,
                                                            Column kv_widest) {
  SmallUnit<kForm> unit;
  unit.first = static_cast<Column>(index * kSmallUnitColumns);
  const Column span = small_columns(kv_widest, small.page_table_1_columns);
  const int lane = lane_id();
  if constexpr (kForm == UnitForm::kWords) {
    const LaneWords words(unit.first, span);
    const int32_t* const lane_source = words.of(source);
#pragma unroll
    for (int t = 0; t < kSmallUnitWords; ++t) {
      unit.values[t] = load_global_if(words.holds(t), lane_source + kWarpSize * t);
    }
  } else if (unit.first < span) {
    load_unit(source, unit.first, span, unit.values);
  }
  const Divisor& page_size = small.page_size;
  unit.real_column = page_size.divide_rounding_up(unit.first) + lane;
  unit.real_unit_end =
      page_size.divide_rounding_up(static_cast<Column>(unit.first + kSmallUnitColumns));
  unit.real_token = 0;
  if (small.real_page_table != nullptr &&
      unit.real_column < min_of(unit.real_unit_end, small_real_columns(small, kv_widest))) {
    const int32_t* const real_source = source + unit.real_column * page_size.divisor();
    unit.real_token = kForm == UnitForm::kWords ? load_global(real_source) : __ldg(real_source);
  }
  return unit;
}

// Into row `row`, up to its kv tokens (nothing past a table's rows).
template <UnitForm kForm>
__device__ __forceinline__ void store_small_unit(const SmallBatch& small,
                                                 const SmallUnit<kForm>& unit, uint32_t row,
                                                 Column kv) {
  const Column columns =
      row < small.page_table_1_rows ? small_columns(kv, small.page_table_1_columns) : 0;
  int32_t* const destination = small.page_table_1 + uint64_t{row} * small.page_table_1_stride;
  if constexpr (kForm == UnitForm::kWords) {
    const LaneWords words(unit.first, columns);
    int32_t* const lane_destination = words.of(destination);
#pragma unroll
    for (int t = 0; t < kSmallUnitWords; ++t) {
      if (words.holds(t)) {
        lane_destination[kWarpSize * t] = unit.values[t];
      }
    }
  } else if (unit.first < columns) {
    store_unit(destination, unit.first, columns, unit.values);
  }
  if (small.real_page_table != nullptr && row < small.real_page_table_rows &&
      unit.real_column < min_of(unit.real_unit_end, small_real_columns(small, kv))) {
    small.real_page_table[uint64_t{row} * small.real_page_table_stride + unit.real_column] =
        small.page_size.floor(unit.real_token);
  }
}

// Unit `unit` of row `row` of the request whose pool index is `pool_index`
// and whose widest row sees kv_widest tokens, the row's own KV length from
// `row_kv()`: nothing where the pool index lies outside req_to_token or the
// unit past the request's. The row's own length is computed only past
// those exits, as the N-row path always did: computed ahead of them, it
// changed that path's machine code.
template <typename RowKv>
__device__ __forceinline__ void copy_direct_row_unit(const SmallBatch& small, int64_t pool_index,
                                                     uint32_t unit, int32_t kv_widest,
                                                     uint32_t row, const RowKv& row_kv) {
  if (!in_pool(pool_index, small.token_rows) || unit >= small_batch_units(small, kv_widest)) {
    return;
  }
  const int32_t kv = row_kv();
  const int32_t* source = small_source_row(small, pool_index);
  store_small_unit(small, load_small_unit<UnitForm::kWords>(small, source, unit, kv), row, kv);
}

// The page warp of item `item` = unit * rows + row where every item has a
// warp (SmallBatch::direct_pages): its row's request's lengths and pool
// index, loaded by the warp itself (no vote over the batch, no shuffles),
// then its unit. With N rows a request, row r is request r / N's; with
// counts from extend_seq_lens, the batch is one request, every row its.
template <RowShape kRows, typename Indices>
__device__ void copy_direct_unit(const SmallBatch& small, uint32_t item) {
  const uint32_t unit = small.rows_divisor.divide(item);
  const uint32_t row = item - unit * small.rows;
  if (row >= small.rows) {
    return;  // Past the batch's rows (and an empty batch).
  }
  const typename Indices::Lengths seq_lens(small.seq_lens());
  const typename Indices::PoolIndices req_pool_indices(small.req_pool_indices());
  if constexpr (kRows == RowShape::kVariable) {
    const typename Indices::Lengths extend_seq_lens(small.extend_seq_lens);
    const auto seq_len = seq_lens.load(0);
    const auto pool = req_pool_indices.load(0);
    const auto extend_seq_len = extend_seq_lens.load(0);
    const SmallRequest request =
        variable_request(small, seq_lens.value(seq_len), extend_seq_lens.value(extend_seq_len));
    if (row >= request.rows) {
      return;  // Past the request's rows.
    }
    copy_direct_row_unit(small, req_pool_indices.value(pool), unit, request.kv, row,
                         [&] { return small_row_kv(request.first_kv, row); });
  } else {
    const uint32_t i = kRows == RowShape::kOne ? row : small.rows_per_request.divide(row);
    const auto seq_len = seq_lens.load(i);
    const auto pool = req_pool_indices.load(i);
    const uint32_t top = capped_top(small, seq_lens.value(seq_len));
    copy_direct_row_unit(small, req_pool_indices.value(pool), unit, last_row_kv(top), row, [&] {
      const uint32_t first_row =
          kRows == RowShape::kOne ? row : i * small.rows_per_request.divisor();
      return small_row_kv(first_row_kv(small, top), row - first_row);
    });
  }
}

template <RowShape kRows, typename Indices>
__device__ void copy_small_batch_pages(const SmallBatch& small, const Launch& launch,
                                       int64_t page_warp, int64_t page_warps) {
  if (small.direct_pages) {
    copy_direct_unit<kRows, Indices>(small, static_cast<uint32_t>(page_warp));
    return;
  }
  // The batch's loads first: the lean path waits for them, and they need
  // only the parameters' first line.
  const int lane = lane_id();
  const bool has_request = lane < small.batch_size;
  const typename Indices::PoolIndices req_pool_indices(small.req_pool_indices());
  using PoolIndex = typename Indices::PoolIndices::Loaded;
  const PoolIndex pool = has_request ? req_pool_indices.load(lane) : PoolIndex{};
  const SmallRequest request = load_small_request<kRows, Indices>(small);
  if (!small.lean_pages) {
    // Here, after the batch's loads, rather than first: a call with a page
    // table never waits for the check.
    if (small.page_table_1 != nullptr || small.real_page_table != nullptr) {
      copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
    }
    return;
  }
  const int32_t* source = nullptr;
  uint32_t units = 0;
  const int64_t pool_index = has_request ? req_pool_indices.value(pool) : -1;
  if (in_pool(pool_index, small.token_rows) && request.rows > 0) {
    source = small_source_row(small, pool_index);
    units = small_batch_units(small, request.kv);
  }
  const uint32_t live_units = __reduce_max_sync(kFullWarp, units);
  const auto item = static_cast<uint32_t>(page_warp);
  const auto shuffled_source = [&](uint32_t i) {
    return reinterpret_cast<const int32_t*>(
        __shfl_sync(kFullWarp, reinterpret_cast<uintptr_t>(source), i));
  };
  const auto batch_size = static_cast<uint32_t>(small.batch_size);
  if (uint64_t{small.rows} * live_units <= static_cast<uint64_t>(page_warps)) {
    // A row a warp, unit-major: item = unit * rows + row.
    const uint32_t unit = small.rows_divisor.divide(item);
    if (unit >= live_units) {
      return;  // Also an empty batch.
    }
    const uint32_t row = item - unit * small.rows;
    const uint32_t owner = owner_of_row<kRows>(small, request, row);
    if (owner >= batch_size) {
      return;  // A row past the batch's.
    }
    const uint32_t first_row = first_row_of<kRows>(small, request, owner);
    const uint32_t first_kv = __shfl_sync(kFullWarp, request.first_kv, owner);
    const int32_t* request_source = shuffled_source(owner);
    if (unit >= __shfl_sync(kFullWarp, units, owner)) {
      return;  // Also a request whose pool index lies outside req_to_token.
    }
    const int32_t kv = small_row_kv(first_kv, row - first_row);
    const SmallUnit<UnitForm::kVectors> loaded =
        load_small_unit<UnitForm::kVectors>(small, request_source, unit, kv);
    store_small_unit(small, loaded, row, kv);
    return;
  }
  const uint64_t request_items = uint64_t{batch_size} * live_units;
  if (request_items <= static_cast<uint64_t>(page_warps)) {
    // A request's rows in G = 2^shift groups, unit-major: item =
    // (unit * batch_size + i) * G + g writes the rows g, g + G, ... of
    // request i (each group's warp loads the unit itself).
    const int shift = row_group_shift(request_items, static_cast<uint64_t>(page_warps),
                                      small.max_row_group_shift);
    const uint32_t request_item = item >> shift;
    const uint32_t unit = small.batch_size_divisor.divide(request_item);
    if (unit >= live_units) {
      return;
    }
    const uint32_t i = request_item - unit * batch_size;
    const uint32_t group = item - (request_item << shift);
    const uint32_t first_row = first_row_of<kRows>(small, request, i);
    const uint32_t row_end =
        kRows == RowShape::kVariable
            ? static_cast<uint32_t>(min_of(__shfl_sync(kFullWarp, request.row_end, i), small.rows))
            : first_row + small.rows_per_request.divisor();
    const uint32_t first_kv = __shfl_sync(kFullWarp, request.first_kv, i);
    const int32_t kv_widest = __shfl_sync(kFullWarp, request.kv, i);
    const int32_t* request_source = shuffled_source(i);
    if (unit >= __shfl_sync(kFullWarp, units, i) || first_row + group >= row_end) {
      return;
    }
    const SmallUnit<UnitForm::kVectors> loaded =
        load_small_unit<UnitForm::kVectors>(small, request_source, unit, kv_widest);
    for (uint32_t row = first_row + group; row < row_end; row += 1u << shift) {
      store_small_unit(small, loaded, row, small_row_kv(first_kv, row - first_row));
    }
    return;
  }
  copy_warp_batch_pages<kRows, false>(launch, page_warp, page_warps);
}

}  // namespace nsa_metadata::step_metadata::cuda

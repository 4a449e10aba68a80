// The engine's plan for one call, from shapes alone (never data): what its
// kernel knows (device/launch_params.cuh), which kernel, and its grid. Host
// code; the launcher (launch.cu) launches what it plans, and the CPU
// emulation of the kernels (tests/emulation) runs the same plan.
#pragma once

#include "step_metadata/buffers.h"
#include "step_metadata/device/launch_params.cuh"
#include "step_metadata/device/policy.cuh"
#include "step_metadata/request_math.h"
#include "step_metadata/row_scan/plan.cuh"

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace nsa_metadata::step_metadata {

struct Plan {
  cuda::Launch launch;
  cuda::SmallBatch small;  // the small-batch kernel's first parameter
  unsigned blocks;
  cuda::Kernel kernel;
  cuda::RowShape rows;  // the warp-batch or small-batch kernel's instance
  bool extend;          // the instances with fill_extend_metadata's outputs
  bool row_scan;        // instead, the row-scan kernels (row_scan/), as row_scan_plan plans them
  row_scan::Plan row_scan_plan;
};

namespace plan_detail {

using nsa_metadata::cuda::ceil_div;

// The columns a request's page-copy units span at most: the source columns
// the tables read (real_page_table's own columns where there is no
// page_table_1 to copy: units_span_pages).
inline int64_t spanned_columns_of(const Buffers& buffers, const TokenTable& tokens,
                                  int64_t page_size) {
  const int64_t copied_columns = buffers.page_table_1_flattened.present()
                                     ? tokens.columns
                                     : buffers.page_table_1.columns;
  return buffers.page_table_1.data != nullptr || buffers.page_table_1_flattened.present()
             ? std::max(copied_columns,
                        real_source_span(buffers.real_page_table.columns, page_size))
             : buffers.real_page_table.columns;
}

// Page-copy units of `unit_columns` columns of one request: enough for its
// widest row, from the tables' widths (shapes only, never data); 0 without a
// page table.
inline int64_t request_units_of(const Buffers& buffers, const TokenTable& tokens,
                                int64_t page_size, int64_t unit_columns) {
  if (!buffers.has_page_table()) {
    return 0;
  }
  return std::max<int64_t>(1,
                           ceil_div(spanned_columns_of(buffers, tokens, page_size), unit_columns));
}

// Row groups where a request has several page rows (every kernel's page
// warps: device/copy_unit.cuh, row_group_shift); a kernel takes as many as
// the units its batch needs allow.
inline int max_row_group_shift(const Model& model) {
  const bool rows_may_share = !model.page_row_per_request &&
                              (model.extend_seq_lens.data != nullptr || model.rows_per_request > 1);
  return rows_may_share ? cuda::kMaxRowGroupShift : 0;
}

// Block kernel: chunks of whole tiles of requests, at most kMaxChunks of
// them, each written by enough vector blocks for its share of the rows; page
// blocks, one warp per unit the tables can hold. The two kinds fit the GPU
// at once, so that the vectors' arithmetic and the pages' memory traffic
// overlap: with both at work, the vector blocks take at most half of what
// the GPU holds, the page blocks the rest.
inline void plan_block_kernel(cuda::Launch& launch, int64_t resident_warps) {
  const int64_t resident_blocks = resident_warps / cuda::kWarps;
  const int64_t tiles_per_chunk =
      ceil_div(ceil_div(launch.batch_size, cuda::kMaxChunks), cuda::kThreads);
  launch.requests_per_chunk = std::max<int64_t>(1, tiles_per_chunk) * cuda::kThreads;
  launch.chunks = std::max<int64_t>(1, ceil_div(launch.batch_size, launch.requests_per_chunk));
  const int64_t units = launch.batch_size * launch.request_units;
  const int64_t vector_share = units == 0 ? resident_blocks : resident_blocks / 2;
  launch.row_splits = std::clamp<int64_t>(
      ceil_div(launch.buffers.vector_row_limit(), launch.chunks * cuda::kRowsPerVectorBlock), 1,
      std::max<int64_t>(1, vector_share / launch.chunks));
  const int64_t vector_blocks = launch.vector_blocks();
  launch.page_blocks =
      units == 0 ? 0
                 : std::clamp<int64_t>(ceil_div(units, cuda::kWarps), 1,
                                       std::max<int64_t>(resident_blocks / 2,
                                                         resident_blocks - vector_blocks));
  launch.late_page_blocks = 0;
  launch.lead_units = 0;
}

// Extend calls with many token rows give up to half of the GPU to the vector
// blocks, which finish long before the page blocks beside them. The grid then
// holds as many page blocks again ("late" ones, last), which take the vector
// blocks' places as those finish: the page blocks before them copy a lead of
// units alone, about what they copy while the vector blocks write (the vectors'
// bytes and the units' at one rate a block), and all of them share the rest
// (device/block_pages.cuh). The vectors' bytes come from the buffers'
// capacities, at least the call's rows: a lead too long leaves the late blocks
// less to do, as if there were none. In three runs on one H100 this took
// chunked extend at bs 128 2-6% and at bs 256 3-8% faster (the lead at half or
// twice this estimate alike). Their code made calls without them slower (mixed
// batches at bs 128 and 256 by 0.3-0.5 us, 4-9%) while both ran one instance of
// the kernel, so those have their own (device/kernel.cuh). A late block starts
// only as a vector block ends and learns only from its first tile whether any
// unit is left for it: fewer than a quarter of the page blocks' number would
// add little copying, so there are none then. (Vector blocks that copy units
// themselves once their vectors are written did as well on chunked extend, but
// their two paths in one block took the kernel past 128 registers; held to 128
// it spilled, and prefill at bs 256 took 25% longer.)
inline void plan_late_page_blocks(cuda::Launch& launch, int64_t resident_blocks) {
  const Buffers& buffers = launch.buffers;
  const int64_t vector_blocks = launch.vector_blocks();
  const int64_t late_blocks =
      std::clamp<int64_t>(resident_blocks - launch.page_blocks, 0, vector_blocks);
  if (launch.page_blocks == 0 || late_blocks < launch.page_blocks / 4) {
    return;
  }
  launch.late_page_blocks = late_blocks;
  const double vector_bytes = static_cast<double>(sizeof(int32_t)) *
                              static_cast<double>(buffers.vector_row_limit()) *
                              buffers.row_vectors();
  const int copies = 1 + (buffers.page_table_1.data != nullptr) +
                     (buffers.page_table_1_flattened.present() ? 1 : 0);
  const double unit_bytes =
      static_cast<double>(sizeof(int32_t) * cuda::unit_columns<cuda::kVectorsPerLane> * copies);
  const double lead = std::ceil(vector_bytes * static_cast<double>(launch.page_blocks) /
                                (static_cast<double>(vector_blocks) * unit_bytes));
  // Past this, no batch has as many units: the page blocks copy them all.
  constexpr double kAllUnits = static_cast<double>(int64_t{1} << 62);
  launch.lead_units = static_cast<int64_t>(std::min(lead, kAllUnits));
}

// Warp-batch kernel, where its conditions hold (device/policy.cuh): a warp
// per 32 rows of the row vectors, then a warp per (request, unit) pair, each
// kind bounded by what the GPU holds at once; warps loop over what is left.
inline bool warp_batch_fits(const cuda::Launch& launch) {
  return launch.batch_size <= cuda::kWarpBatch &&
         launch.buffers.vector_row_limit() <= cuda::kWarpBatchRowLimit &&
         launch.buffers.page_row_limit() <= cuda::kWarpBatchRowLimit &&
         (launch.batch_size * launch.request_units << cuda::kMaxRowGroupShift) <=
             std::numeric_limits<int32_t>::max();
}

inline int64_t plan_warp_batch_kernel(cuda::Launch& launch, int64_t resident_warps) {
  launch.batch_size_divisor = Divisor::of(std::max<int64_t>(launch.batch_size, 1));
  launch.vector_warps = static_cast<int32_t>(std::clamp<int64_t>(
      ceil_div(launch.buffers.vector_row_limit(), cuda::kWarpSize), 1, resident_warps));
  const int64_t page_warps = std::min(
      launch.batch_size * launch.request_units << launch.max_row_group_shift, resident_warps);
  return ceil_div(launch.vector_warps + page_warps, cuda::kWarps);
}

// The row shape for the call's model. An empty batch's extend_seq_lens may
// have no data pointer: extend is told by its page rows.
inline cuda::RowShape row_shape_of(const Model& model, bool extend) {
  if (extend || model.page_row_per_request || model.extend_seq_lens.data != nullptr) {
    return cuda::RowShape::kVariable;
  }
  if (model.rows_per_request == 1 && model.top_offset == 0) {
    return cuda::RowShape::kOne;
  }
  return cuda::RowShape::kFixed;
}

// Small-batch kernel (device/small_batch.cuh), for a warp batch of decode,
// target-verify or draft-extend (not extend, whose page rows are its
// requests') whose rows, row vectors and page tables fit its vector warp:
// with N rows a request, the batch's rows (an empty static draft-extend
// batch may have no extend_seq_lens data, and a count of 0); with counts
// from extend_seq_lens, every row position the buffers hold.
inline bool small_batch_fits(const cuda::Launch& launch, cuda::RowShape rows, bool extend) {
  const Buffers& buffers = launch.buffers;
  const bool rows_fit =
      rows == cuda::RowShape::kVariable
          ? !extend && !launch.model.page_row_per_request &&
                buffers.page_row_limit() <= cuda::kSmallBatchRows
          : launch.model.rows_per_request >= 1 &&
                saturating_mul(launch.batch_size, launch.model.rows_per_request) <=
                    cuda::kSmallBatchRows;
  return rows_fit && buffers.vector_row_limit() <= cuda::kSmallBatchRows;
}

// Its packed parameters (device/launch_params.cuh) and its grid: one warp
// for the per-request vectors, one for the row vectors, then page warps for
// every (unit, row) item of the widest request the tables hold (at least as
// many as the warp-batch kernel's page warps, which its page warps fall back
// to), at most what the GPU holds at once.
inline int64_t plan_small_batch_kernel(cuda::Launch& launch, cuda::SmallBatch& small,
                                       cuda::RowShape rows, int64_t resident_warps) {
  const Buffers& buffers = launch.buffers;
  const Model& model = launch.model;
  small = cuda::SmallBatch{};
  small.set_index_vectors(model.seq_lens, launch.req_pool_indices);
  small.tokens = launch.tokens.data;
  small.page_table_1 = buffers.page_table_1.data;
  small.real_page_table = buffers.real_page_table.data;
  small.batch_size = static_cast<int32_t>(launch.batch_size);
  small.top_offset = static_cast<uint32_t>(model.top_offset);
  small.rows_per_request = Divisor::of(std::max<int64_t>(model.rows_per_request, 1));
  small.page_size = launch.page_size;
  const auto count_32 = [](int64_t count) {
    return static_cast<uint32_t>(std::min(count, kInt32Max));
  };
  small.page_table_1_columns = count_32(buffers.page_table_1.columns);
  small.real_page_table_columns = count_32(buffers.real_page_table.columns);
  small.token_rows = count_32(launch.tokens.rows);
  small.token_stride = count_32(launch.tokens.row_stride);
  small.rows = static_cast<uint32_t>(rows == cuda::RowShape::kVariable
                                         ? buffers.page_row_limit()
                                         : launch.batch_size * model.rows_per_request);
  const bool fits_32 = std::max({launch.tokens.rows, launch.tokens.row_stride,
                                 buffers.page_table_1.row_stride,
                                 buffers.real_page_table.row_stride}) <= kInt32Max;
  small.lean_pages =
      fits_32 && buffers.page_table_1.data != nullptr &&
      (buffers.real_page_table.data == nullptr ||
       launch.page_size.divisor() >= static_cast<uint32_t>(cuda::kSmallBatchPageSize));
  small.rows_divisor = Divisor::of(std::max<int64_t>(small.rows, 1));
  small.page_table_1_rows = count_32(buffers.page_table_1.rows);
  small.real_page_table_rows = count_32(buffers.real_page_table.rows);
  small.page_table_1_stride = count_32(buffers.page_table_1.row_stride);
  small.real_page_table_stride = count_32(buffers.real_page_table.row_stride);
  small.max_row_group_shift = launch.max_row_group_shift;
  small.batch_size_divisor = Divisor::of(std::max<int64_t>(launch.batch_size, 1));
  small.unit_span =
      count_32(spanned_columns_of(buffers, launch.tokens, launch.page_size.divisor()));
  small.extend_seq_lens = model.extend_seq_lens;
  small.num_tokens = buffers.num_tokens;
  small.rows_per_lane = static_cast<uint32_t>(
      std::max<int64_t>(1, ceil_div(buffers.vector_row_limit(), cuda::kWarpSize)));
  small.vector_rows = small.rows;
  small.nsa_index_topk = model.nsa_index_topk;
  small.index_kpool = model.index_kpool;
  small.seqlens_expanded = buffers.seqlens_expanded;
  small.nsa_cache_seqlens = buffers.nsa_cache_seqlens;
  small.nsa_cu_seqlens_k = buffers.nsa_cu_seqlens_k;
  small.cache_seqlens = buffers.cache_seqlens;
  small.cu_seqlens_k = buffers.cu_seqlens_k;
  small.paged_mqa_context_lens = buffers.paged_mqa_context_lens;
  // The warp-batch kernel's plan too: the page warps' copy falls back to its.
  plan_warp_batch_kernel(launch, resident_warps);
  const int64_t items_per_unit =
      std::max<int64_t>(small.rows, launch.batch_size << launch.max_row_group_shift);
  const int64_t page_warps = std::min(items_per_unit * launch.request_units,
                                      resident_warps - cuda::kSmallBatchVectorWarps);
  small.direct_pages = small.lean_pages &&
                       (rows != cuda::RowShape::kVariable || launch.batch_size == 1) &&
                       int64_t{small.rows} * launch.request_units <= page_warps;
  return ceil_div(cuda::kSmallBatchVectorWarps + page_warps, cuda::kWarps);
}

}  // namespace plan_detail

// The plan of one call on a GPU of `multiprocessors` multiprocessors, for a
// batch of req_pool_indices.size(0) requests:
//   - the small-batch kernel where it fits (up to 32 requests, at most
//     kSmallBatchRows rows and row-vector positions);
//   - else the warp-batch kernel where it fits (up to 32 requests);
//   - else, for a call that asks for draft-extend's row vectors alone, the
//     row-scan kernels, which are built for them (2.3-3.0 us against
//     3.6-11.3 at bs 64-4096 on an H200, docs/benchmarks.md), up to the
//     batches they write in one launch without a workspace (the engine
//     allocates nothing; fill_draft_extend_metadata, whose contract allows
//     one, plans them itself at every size: launch.h);
//   - else the block kernel.
inline Plan plan_engine(const Model& model, const at::Tensor& req_pool_indices,
                        const at::Tensor& req_to_token, int64_t page_size,
                        const Buffers& buffers, int64_t multiprocessors) {
  Plan plan{};
  cuda::Launch& launch = plan.launch;
  launch.model = model;
  launch.batch_size = req_pool_indices.size(0);
  launch.req_pool_indices = index_vector_of(req_pool_indices);
  launch.tokens = token_table_of(req_to_token);
  launch.page_size = Divisor::of(page_size);
  launch.buffers = buffers;
  // Each kernel copies units of its own size (device/policy.cuh).
  launch.request_units = plan_detail::request_units_of(
      buffers, launch.tokens, page_size, cuda::unit_columns<cuda::kShortVectorsPerLane>);
  launch.sum_kv = buffers.needs_kv_sums();
  launch.sum_topk = buffers.needs_topk_sums();
  launch.max_row_group_shift = plan_detail::max_row_group_shift(model);
  const int64_t resident_warps = cuda::kBlocksPerSM * cuda::kWarps * multiprocessors;
  const int64_t small_batch_resident_warps =
      cuda::kSmallBatchBlocksPerSM * cuda::kWarps * multiprocessors;
  plan.extend = launch.buffers.has_extend_outputs();
  plan.rows = plan_detail::row_shape_of(model, plan.extend);
  if (plan_detail::warp_batch_fits(launch) &&
      plan_detail::small_batch_fits(launch, plan.rows, plan.extend)) {
    plan.kernel = cuda::Kernel::kSmallBatch;
    plan.blocks = static_cast<unsigned>(plan_detail::plan_small_batch_kernel(
        launch, plan.small, plan.rows, small_batch_resident_warps));
  } else if (plan_detail::warp_batch_fits(launch)) {
    plan.kernel = cuda::Kernel::kWarpBatch;
    plan.blocks =
        static_cast<unsigned>(plan_detail::plan_warp_batch_kernel(launch, resident_warps));
    if (plan.rows == cuda::RowShape::kOne) {
      plan.rows = cuda::RowShape::kFixed;  // its instance for any fixed count
    }
  } else if (row_scan::serves(model, buffers) &&
             launch.batch_size <= row_scan::cuda::kSinglePassMaxRequests) {
    plan.row_scan = true;
    plan.row_scan_plan =
        row_scan::plan_launch(model, launch.batch_size, buffers, multiprocessors,
                              /*two_passes_allowed=*/false);
  } else {
    plan.kernel = cuda::Kernel::kBlock;
    launch.request_units = plan_detail::request_units_of(
        buffers, launch.tokens, page_size, cuda::unit_columns<cuda::kVectorsPerLane>);
    plan_detail::plan_block_kernel(launch, resident_warps);
    if (plan.extend) {
      plan_detail::plan_late_page_blocks(launch, resident_warps / cuda::kWarps);
    }
    plan.blocks = static_cast<unsigned>(launch.vector_blocks() + launch.page_blocks +
                                        launch.late_page_blocks);
  }
  return plan;
}

}  // namespace nsa_metadata::step_metadata

// What one launch of the step-metadata kernel knows: the model of the
// batch, the token table, the output buffers and the grid's plan; and the
// small-batch kernel's packed copy of what it reads.
#pragma once

#include "common/divisor.h"
#include "common/index_vector.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <cstddef>
#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

// The kernels a Launch runs (device/kernel.cuh).
enum class Kernel {
  kBlock,       // block_vectors.cuh, block_pages.cuh
  kWarpBatch,   // warp_batch.cuh
  kSmallBatch,  // small_batch.cuh
};

// The rows of every request of a call: the warp-batch and small-batch
// kernels are compiled once for each they serve.
enum class RowShape {
  kOne,       // one row, which sees the request's KV length (decode)
  kFixed,     // N rows (target-verify, static draft-extend)
  kVariable,  // extend_seq_lens[i] rows (draft-extend, extend)
};

// What the small-batch kernel (small_batch.cuh) reads: its first kernel
// parameter, in the order its warps first read it. A warp's first read of
// each 64-byte line of the parameters waits for a constant-cache miss, and a
// chain of such waits was a large part of a small call's time (on an H200, a
// kernel of 256-thread blocks reading one field from each of 8 lines in turn
// took 0.36-0.48 us longer at 80-264 blocks than one reading 8 fields of two
// lines). The parameters start 16 bytes into a line (offset 0x210 on sm_90),
// so the groups below fill lines: the page warps read the first three (and
// the fourth for extend_seq_lens), the request-vector warp the first and the
// last, the row-vector warp the first two, the fourth and the fifth.
struct SmallBatch {
  // Every warp (48 bytes): what a warp needs for its first loads (but
  // extend_seq_lens), so that they wait for this line alone: seq_lens and
  // req_pool_indices as IndexVectors (seq_lens() and req_pool_indices()
  // below) packed with the batch size. With the batch size on the next
  // line, its miss came first, and the page and vector warps took
  // 0.03-0.05 us longer at bs 1-8 (one H100).
  const void* seq_lens_data;
  const void* req_pool_indices_data;
  int64_t seq_lens_stride;
  int64_t req_pool_indices_stride;
  int32_t batch_size;
  bool seq_lens_is_int64;
  bool req_pool_indices_is_int64;
  uint32_t top_offset;  // N for target-verify, else 0
  // Whether every (unit, row) item of the widest rows the tables hold has a
  // page warp of its own (N rows a request, or a batch of one request):
  // each warp then takes its row and unit from its place, loading only its
  // own request (small_batch.cuh).
  bool direct_pages;
  bool first_line_padding[3];
  // Every warp (64 bytes):
  const int32_t* tokens;
  int32_t* page_table_1;
  int32_t* real_page_table;
  // The page warps' 32-bit counts and strides fit (else lean_pages is false
  // and they copy from the Launch).
  uint32_t token_rows;
  uint32_t token_stride;
  Divisor rows_per_request;
  Divisor page_size;
  // The tables' counts in 32 bits (at most INT32_MAX, which no row reaches):
  // 64-bit compares on a warp's chain cost it time.
  uint32_t page_table_1_columns;
  uint32_t real_page_table_columns;
  // The page warps (56 bytes, and 8 that keep the next group on a line of
  // its own):
  // The rows the page warps' items span (at most kSmallBatchRows): the
  // batch's, batch_size * N, with N rows a request; else the tables' rows,
  // the batch's being known only on the device.
  uint32_t rows;
  // Whether the page warps copy as small_batch.cuh describes (a
  // page_table_1, pages of at least kSmallBatchPageSize for a
  // real_page_table, 32-bit counts and strides), else as the warp-batch
  // kernel's.
  bool lean_pages;
  // Work items are unit-major, a row or a request each: divided by
  // max(rows, 1) or max(batch_size, 1).
  Divisor rows_divisor;
  uint32_t page_table_1_rows;
  uint32_t real_page_table_rows;
  uint32_t page_table_1_stride;
  uint32_t real_page_table_stride;
  int32_t max_row_group_shift;  // Launch::max_row_group_shift
  Divisor batch_size_divisor;
  // The source columns a request's units span at most, whatever its KV
  // length (small_batch.cuh, small_batch_units).
  uint32_t unit_span;
  uint32_t page_line_padding[2];
  // The row-vector warp (64 bytes):
  IndexVector extend_seq_lens;  // RowShape::kVariable's
  Counter num_tokens;
  // Buffers::vector_row_limit (at most kSmallBatchRows) over 32, rounded up,
  // at least 1.
  uint32_t rows_per_lane;
  uint32_t vector_rows;  // rows, for the row-vector warp
  int64_t nsa_index_topk;
  int64_t index_kpool;
  // The row-vector warp (48 bytes, and 16 that keep the next group on a
  // line of its own):
  Vector seqlens_expanded;
  Vector nsa_cache_seqlens;
  Vector nsa_cu_seqlens_k;
  int64_t vector_line_padding[2];
  // The request-vector warp (64 bytes):
  Vector cache_seqlens;
  Vector cu_seqlens_k;
  Table paged_mqa_context_lens;

  NSA_HOST_DEVICE IndexVector seq_lens() const {
    return {seq_lens_data, seq_lens_stride, seq_lens_is_int64};
  }
  NSA_HOST_DEVICE IndexVector req_pool_indices() const {
    return {req_pool_indices_data, req_pool_indices_stride, req_pool_indices_is_int64};
  }
  void set_index_vectors(const IndexVector& seq_lens, const IndexVector& req_pool_indices) {
    seq_lens_data = seq_lens.data;
    seq_lens_stride = seq_lens.stride;
    seq_lens_is_int64 = seq_lens.is_int64;
    req_pool_indices_data = req_pool_indices.data;
    req_pool_indices_stride = req_pool_indices.stride;
    req_pool_indices_is_int64 = req_pool_indices.is_int64;
  }
};
// The groups' first offsets: a line's first, less the 16 bytes before the
// parameters.
static_assert(offsetof(SmallBatch, tokens) == 48 && offsetof(SmallBatch, rows) == 112 &&
                  offsetof(SmallBatch, extend_seq_lens) == 176 &&
                  offsetof(SmallBatch, seqlens_expanded) == 240 &&
                  offsetof(SmallBatch, cache_seqlens) == 304 && sizeof(SmallBatch) == 368,
              "SmallBatch's groups should each fill 64-byte lines of the parameters");

struct Launch {
  Model model;
  int64_t batch_size;
  IndexVector req_pool_indices;
  TokenTable tokens;
  Divisor page_size;
  Buffers buffers;
  int64_t request_units;  // page-copy units of one request's widest row, from the widths
  // Whether the outputs read the running sums of the KV lengths and of
  // nsa_cache_seqlens (Buffers::needs_kv_sums, needs_topk_sums): the vector
  // blocks compute only those.
  bool sum_kv;
  bool sum_topk;
  // The rows of a request are shared by up to 2^max_row_group_shift page
  // warps (every kernel's).
  int32_t max_row_group_shift;
  // The warp-batch kernel's plan: its first warps write the vectors; its
  // work items are divided by the batch size.
  Divisor batch_size_divisor;
  int32_t vector_warps;
  // The block kernel's plan:
  int64_t requests_per_chunk;
  int64_t chunks;       // runs of requests, each written by row_splits vector blocks
  int64_t row_splits;   // the vector blocks (chunks * row_splits) come first in the grid
  int64_t page_blocks;  // page-copy blocks, after them
  // Extend's late page blocks, after those (plan.cuh, plan_late_page_blocks),
  // and the units the page blocks before them copy alone.
  int64_t late_page_blocks;
  int64_t lead_units;

  NSA_HOST_DEVICE int64_t vector_blocks() const { return chunks * row_splits; }
};

}  // namespace nsa_metadata::step_metadata::cuda

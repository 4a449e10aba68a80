// The outputs as raw pointers and capacities, and what one request, one row
// or one tail position writes into them: shared by the CPU and CUDA kernels,
// which differ only in how they spread this work over threads.
#pragma once

#include "common/divisor.h"
#include "common/length_math.h"
#include "step_metadata/arguments.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata {

// A 2-D int32 table with unit column stride; data == nullptr when absent.
struct Table {
  int32_t* data = nullptr;
  int64_t rows = 0;
  int64_t columns = 0;
  int64_t row_stride = 0;
};

struct TokenTable {
  const int32_t* data;
  int64_t rows;
  int64_t columns;
  int64_t row_stride;
};

// A 1-D int32 output of some capacity; what lies past it is not written.
struct Vector {
  int32_t* data = nullptr;
  int64_t capacity = 0;

  NSA_HOST_DEVICE bool present() const { return data != nullptr; }
  NSA_HOST_DEVICE void set(int64_t position, int32_t value) const {
    if (position < capacity) {
      data[position] = value;
    }
  }
};

// A one-element count, int32 (saturating) or int64.
struct Counter {
  void* data = nullptr;
  bool is_int64 = false;

  NSA_HOST_DEVICE void set(int64_t count) const {
    if (data == nullptr) {
      return;
    }
    if (is_int64) {
      *static_cast<int64_t*>(data) = count;
    } else {
      *static_cast<int32_t*>(data) = narrow_count<int32_t>(count);
    }
  }
};

// The largest of some capacities, and one value into several vectors: by
// reference, unrolled, so that device code never takes a kernel parameter's
// address (which would copy the parameters to local memory).
template <typename... Vectors>
NSA_HOST_DEVICE int64_t largest_capacity(const Vectors&... vectors) {
  int64_t most = 0;
  ((most = vectors.capacity > most ? vectors.capacity : most), ...);
  return most;
}

template <typename... Vectors>
NSA_HOST_DEVICE void set_each(int64_t position, int32_t value, const Vectors&... vectors) {
  (vectors.set(position, value), ...);
}

// Every output any mode writes; absent ones have a null pointer and no
// capacity. Per-request vectors hold the batch (cu_* one more), per-row
// vectors have any capacity.
struct Buffers {
  Vector cache_seqlens;
  Vector cu_seqlens_k;
  Vector cu_seqlens_q;             // extend
  Vector seqlens_expanded;
  Vector nsa_cache_seqlens;
  Vector nsa_cu_seqlens_k;         // rows + 1
  Vector token_to_batch_idx;       // extend
  Vector indexer_k_start;          // extend
  Vector indexer_k_end;            // extend
  Table paged_mqa_context_lens;    // target-verify: [batch, N], cache_seqlens in every column
  Table page_table_1;
  Table real_page_table;
  Vector page_table_1_flattened;   // extend: request i's slots from the KV tokens before it
  Counter num_tokens;
  Counter num_kv_tokens;           // extend

  // The row vectors with a slot a row, to a visitor: every question about
  // them (nsa_cu_seqlens_k, a row longer, apart) asks of this one list.
  template <typename Visit>
  NSA_HOST_DEVICE auto visit_row_vectors(Visit visit) const {
    return visit(seqlens_expanded, nsa_cache_seqlens, token_to_batch_idx, indexer_k_start,
                 indexer_k_end);
  }
  // Rows past this are written to no row vector.
  NSA_HOST_DEVICE int64_t vector_row_limit() const {
    const int64_t cu_rows = nsa_cu_seqlens_k.capacity > 0 ? nsa_cu_seqlens_k.capacity - 1 : 0;
    const int64_t most =
        visit_row_vectors([](const auto&... vectors) { return largest_capacity(vectors...); });
    return most > cu_rows ? most : cu_rows;
  }
  // The row vectors present: what a row costs the vector blocks.
  int row_vectors() const {
    return nsa_cu_seqlens_k.present() +
           visit_row_vectors([](const auto&... vectors) { return (0 + ... + vectors.present()); });
  }
  NSA_HOST_DEVICE int64_t page_row_limit() const {
    return page_table_1.rows > real_page_table.rows ? page_table_1.rows : real_page_table.rows;
  }
  NSA_HOST_DEVICE bool has_page_table() const {
    return page_row_limit() > 0 || page_table_1_flattened.capacity > 0;
  }
  // Whether an output needs the running sum of the KV lengths, or the one of
  // nsa_cache_seqlens: without them a kernel need not compute those sums.
  NSA_HOST_DEVICE bool needs_kv_sums() const {
    return cu_seqlens_k.present() || indexer_k_start.present() || indexer_k_end.present() ||
           num_kv_tokens.data != nullptr;
  }
  NSA_HOST_DEVICE bool needs_topk_sums() const { return nsa_cu_seqlens_k.present(); }
  // Whether the call asks for draft-extend's row vectors and nothing else
  // (seqlens_expanded, nsa_cache_seqlens, num_tokens; any of them): what the
  // row-scan kernels write (row_scan/plan.cuh).
  bool only_row_outputs() const {
    return !cache_seqlens.present() && !cu_seqlens_k.present() && !nsa_cu_seqlens_k.present() &&
           paged_mqa_context_lens.data == nullptr && page_table_1.data == nullptr &&
           real_page_table.data == nullptr && !has_extend_outputs();
  }
  // Whether any output only extend fills is present (see write_request).
  bool has_extend_outputs() const {
    return cu_seqlens_q.present() || token_to_batch_idx.present() ||
           indexer_k_start.present() || indexer_k_end.present() ||
           page_table_1_flattened.present() || num_kv_tokens.data != nullptr;
  }
};

Buffers buffers_of(const Outputs& outputs);
Vector vector_of(const std::optional<at::Tensor>& vector);  // absent: data == nullptr
Table table_of(const std::optional<at::Tensor>& table);     // absent: data == nullptr
Counter counter_of(const std::optional<at::Tensor>& counter);
TokenTable token_table_of(const at::Tensor& req_to_token);

// The writers below take kExtend = false where the call has none of the
// outputs only extend fills (cu_seqlens_q, token_to_batch_idx,
// indexer_k_start, indexer_k_end, num_kv_tokens, page_table_1_flattened), so
// that the other operators' kernels carry no code for them; the default
// writes every output present.

// Request i's KV length (cache_seqlens) and cu_seqlens_k through it, from
// the KV lengths before it (kv_before): what every mode writes of a request,
// from any kernel's sums (target-verify adds write_context_lens).
NSA_HOST_DEVICE void write_request_kv(const Vector& cache_seqlens, const Vector& cu_seqlens_k,
                                      int64_t i, int32_t kv, int64_t kv_before) {
  if (cache_seqlens.present()) {
    cache_seqlens.data[i] = kv;
  }
  if (cu_seqlens_k.present()) {
    cu_seqlens_k.data[i + 1] = narrow_count<int32_t>(saturating_add(kv_before, kv));
  }
}

NSA_HOST_DEVICE void write_context_lens(const Table& context_lens, int64_t i, int32_t kv) {
  if (context_lens.data != nullptr) {
    for (int64_t column = 0; column < context_lens.columns; ++column) {
      context_lens.data[i * context_lens.row_stride + column] = kv;
    }
  }
}

// Request i's own outputs; `before` sums the requests before it.
template <bool kExtend = true>
NSA_HOST_DEVICE void write_request(const Buffers& buffers, int64_t i, const RequestShape& shape,
                                   const Sums& before) {
  const int32_t kv = clamped_len(shape.top);
  write_request_kv(buffers.cache_seqlens, buffers.cu_seqlens_k, i, kv, before.kv);
  write_context_lens(buffers.paged_mqa_context_lens, i, kv);
  if (kExtend && buffers.cu_seqlens_q.present()) {
    buffers.cu_seqlens_q.data[i + 1] =
        narrow_count<int32_t>(saturating_add(before.rows, shape.rows));
  }
}

// Row `row`'s KV length, its nsa_cache_seqlens (selected) and
// nsa_cu_seqlens_k through it (topk_through); a tail position writes zeros
// and the total.
NSA_HOST_DEVICE void write_row_lengths(const Vector& seqlens_expanded,
                                       const Vector& nsa_cache_seqlens,
                                       const Vector& nsa_cu_seqlens_k, int64_t row, int32_t kv,
                                       int32_t selected, int32_t topk_through) {
  seqlens_expanded.set(row, kv);
  nsa_cache_seqlens.set(row, selected);
  nsa_cu_seqlens_k.set(row + 1, topk_through);
}

// Row `row`, of request i, which sees kv tokens; `kv_before` sums the KV
// lengths of the requests before it, `topk_before_row` nsa_cache_seqlens
// along the batch up to this row. Returns that sum through this row, so that
// a caller walking a request's rows keeps it running.
template <bool kExtend = true>
NSA_HOST_DEVICE int64_t write_row_values(const Buffers& buffers, const Model& model, int64_t i,
                                         int64_t row, int32_t kv, int64_t kv_before,
                                         int64_t topk_before_row) {
  const int32_t selected = selected_len(model, kv);
  const int64_t topk_through = saturating_add(topk_before_row, selected);
  write_row_lengths(buffers.seqlens_expanded, buffers.nsa_cache_seqlens, buffers.nsa_cu_seqlens_k,
                    row, kv, selected, narrow_count<int32_t>(topk_through));
  if (kExtend) {
    buffers.token_to_batch_idx.set(row, static_cast<int32_t>(i));
    buffers.indexer_k_start.set(row, narrow_count<int32_t>(kv_before));
    buffers.indexer_k_end.set(row, narrow_count<int32_t>(saturating_add(kv_before, kv)));
  }
  return topk_through;
}

// Row j of request i, whose first row is `row - j`; `before` sums the
// requests before it. The sum of nsa_cache_seqlens up to the row comes in
// closed form, so that any row can be written on its own.
template <bool kExtend = true>
NSA_HOST_DEVICE void write_row(const Buffers& buffers, const Model& model,
                               const RequestShape& shape, int64_t i, int64_t j, int64_t row,
                               const Sums& before) {
  write_row_values<kExtend>(buffers, model, i, row, row_kv_len(shape.top, shape.rows - 1 - j),
                            before.kv,
                            saturating_add(before.topk, topk_len_through(model, shape, j - 1)));
}

// Everything not tied to a request or row: the leading zeros of the
// cumulative sums and the counters; and, for position p of the tail of the
// row vectors, p >= rows: zero rows and nsa_cu_seqlens_k repeating its last
// value.
NSA_HOST_DEVICE void write_step_heads(const Vector& cu_seqlens_k, const Vector& nsa_cu_seqlens_k,
                                      const Counter& num_tokens, int64_t total_rows) {
  // Present cumulative sums hold at least one element.
  set_each(0, 0, cu_seqlens_k, nsa_cu_seqlens_k);
  num_tokens.set(total_rows);
}

template <bool kExtend = true>
NSA_HOST_DEVICE void write_heads(const Buffers& buffers, int64_t total_rows, int64_t total_kv) {
  write_step_heads(buffers.cu_seqlens_k, buffers.nsa_cu_seqlens_k, buffers.num_tokens, total_rows);
  if (kExtend) {
    buffers.cu_seqlens_q.set(0, 0);
    buffers.num_kv_tokens.set(total_kv);
  }
}

template <bool kExtend = true>
NSA_HOST_DEVICE void write_tail_position(const Buffers& buffers, int64_t position,
                                         const Sums& total) {
  write_row_lengths(buffers.seqlens_expanded, buffers.nsa_cache_seqlens, buffers.nsa_cu_seqlens_k,
                    position, 0, 0, narrow_count<int32_t>(total.topk));
  if (kExtend) {
    set_each(position, 0, buffers.token_to_batch_idx, buffers.indexer_k_start,
             buffers.indexer_k_end);
  }
}

// Page-table columns a row writes: page_table_1 up to its KV length,
// real_page_table for c * page_size below it, both within the table's width;
// none for a row past the table's rows.
NSA_HOST_DEVICE int64_t page_columns(const Table& table, int64_t row, int32_t kv) {
  if (row >= table.rows) {
    return 0;
  }
  return kv < table.columns ? kv : table.columns;
}

// The source columns the first `real_columns` columns of real_page_table read
// (column c reads source column c * page_size).
NSA_HOST_DEVICE int64_t real_source_span(int64_t real_columns, int64_t page_size) {
  return real_columns > 0 ? (real_columns - 1) * page_size + 1 : 0;
}

// The real_page_table columns of a row of kv tokens, within the table's width.
NSA_HOST_DEVICE int64_t real_columns_for(const Table& table, int32_t kv, const Divisor& page_size) {
  // kv and page_size (checked on the host) are below 2^31.
  const int64_t pages = page_size.divide_rounding_up(static_cast<uint32_t>(kv));
  return pages < table.columns ? pages : table.columns;
}

NSA_HOST_DEVICE int64_t real_page_columns(const Table& table, int64_t row, int32_t kv,
                                          const Divisor& page_size) {
  return row < table.rows ? real_columns_for(table, kv, page_size) : 0;
}

// page_table_1_flattened's columns of a request whose KV tokens start at
// position kv_before: its KV length, within req_to_token's width and the
// buffer's capacity.
NSA_HOST_DEVICE int64_t flattened_columns(const Vector& flattened, const TokenTable& tokens,
                                          int64_t kv_before, int64_t top) {
  if (kv_before >= flattened.capacity) {
    return 0;
  }
  const int64_t room = flattened.capacity - kv_before;
  const int64_t kv = row_kv_len(top, 0);
  const int64_t columns = kv < tokens.columns ? kv : tokens.columns;
  return columns < room ? columns : room;
}

}  // namespace nsa_metadata::step_metadata

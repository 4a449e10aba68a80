// The outputs as raw pointers and capacities, and what one request, one row
// or one tail position writes into them: shared by the CPU and CUDA kernels,
// which differ only in how they spread this work over threads.
#pragma once

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

// Absent outputs have a null pointer and no capacity.
struct Buffers {
  int32_t* cache_seqlens;  // batch_size elements
  int32_t* cu_seqlens_k;   // batch_size + 1 elements
  int32_t* seqlens_expanded;
  int64_t expanded_capacity;
  int32_t* nsa_cache_seqlens;
  int64_t nsa_cache_capacity;
  int32_t* nsa_cu_seqlens_k;
  int64_t nsa_cu_capacity;  // elements: rows + 1
  Table page_table_1;
  Table real_page_table;
  void* num_tokens;
  bool num_tokens_is_int64;

  // Rows past this are written to no vector output.
  NSA_HOST_DEVICE int64_t vector_row_limit() const {
    const int64_t cu_rows = nsa_cu_capacity > 0 ? nsa_cu_capacity - 1 : 0;
    const int64_t most = expanded_capacity > nsa_cache_capacity ? expanded_capacity
                                                                : nsa_cache_capacity;
    return most > cu_rows ? most : cu_rows;
  }
  NSA_HOST_DEVICE int64_t page_row_limit() const {
    return page_table_1.rows > real_page_table.rows ? page_table_1.rows : real_page_table.rows;
  }
  NSA_HOST_DEVICE bool has_page_table() const { return page_row_limit() > 0; }
};

Buffers buffers_of(const Outputs& outputs);
Table table_of(const std::optional<at::Tensor>& table);  // absent: data == nullptr
TokenTable token_table_of(const at::Tensor& req_to_token);

// Request i's own outputs; `before` sums the requests before it.
NSA_HOST_DEVICE void write_request(const Buffers& buffers, int64_t i, const RequestShape& shape,
                                   const Sums& before) {
  const int32_t kv = clamped_len(shape.top);
  if (buffers.cache_seqlens != nullptr) {
    buffers.cache_seqlens[i] = kv;
  }
  if (buffers.cu_seqlens_k != nullptr) {
    buffers.cu_seqlens_k[i + 1] = narrow_count<int32_t>(saturating_add(before.kv, kv));
  }
}

// Row j of a request whose first row is `row - j`; `topk_before` sums
// nsa_cache_seqlens over the rows before the request.
NSA_HOST_DEVICE void write_row(const Buffers& buffers, const RequestShape& shape, int64_t j,
                               int64_t row, int64_t topk_before, int64_t nsa_index_topk) {
  const int32_t kv = row_kv_len(shape.top, shape.rows - 1 - j);
  if (row < buffers.expanded_capacity) {
    buffers.seqlens_expanded[row] = kv;
  }
  if (row < buffers.nsa_cache_capacity) {
    buffers.nsa_cache_seqlens[row] = topk_len(kv, nsa_index_topk);
  }
  if (row + 1 < buffers.nsa_cu_capacity) {
    buffers.nsa_cu_seqlens_k[row + 1] = narrow_count<int32_t>(
        saturating_add(topk_before, topk_len_through(shape, j, nsa_index_topk)));
  }
}

// Everything not tied to a request or row: the leading zeros of both
// cumulative sums, num_tokens, and, for position p of the draft-extend tail,
// p >= rows: zero rows and nsa_cu_seqlens_k repeating its last value.
NSA_HOST_DEVICE void write_heads(const Buffers& buffers, int64_t total_rows) {
  if (buffers.cu_seqlens_k != nullptr) {
    buffers.cu_seqlens_k[0] = 0;
  }
  if (buffers.nsa_cu_seqlens_k != nullptr) {
    buffers.nsa_cu_seqlens_k[0] = 0;
  }
  if (buffers.num_tokens != nullptr) {
    if (buffers.num_tokens_is_int64) {
      *static_cast<int64_t*>(buffers.num_tokens) = total_rows;
    } else {
      *static_cast<int32_t*>(buffers.num_tokens) = narrow_count<int32_t>(total_rows);
    }
  }
}

NSA_HOST_DEVICE void write_tail_position(const Buffers& buffers, int64_t position,
                                         const Sums& total) {
  if (position < buffers.expanded_capacity) {
    buffers.seqlens_expanded[position] = 0;
  }
  if (position < buffers.nsa_cache_capacity) {
    buffers.nsa_cache_seqlens[position] = 0;
  }
  if (position + 1 < buffers.nsa_cu_capacity) {
    buffers.nsa_cu_seqlens_k[position + 1] = narrow_count<int32_t>(total.topk);
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

NSA_HOST_DEVICE int64_t real_page_columns(const Table& table, int64_t row, int32_t kv,
                                          int64_t page_size) {
  if (row >= table.rows) {
    return 0;
  }
  // In 32 bits (a 64-bit division is a long library call on the GPU):
  // kv and page_size (checked on the host) are below 2^31, so is their sum
  // below 2^32.
  const auto divisor = static_cast<uint32_t>(page_size);
  const int64_t pages = divide(static_cast<uint32_t>(kv) + divisor - 1, divisor);
  return pages < table.columns ? pages : table.columns;
}

}  // namespace nsa_metadata::step_metadata

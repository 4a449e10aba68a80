// Per-request quantities of the step-metadata model (arguments.h), shared by
// the CPU and CUDA kernels.
#pragma once

#include "common/index_vector.h"
#include "common/length_math.h"
#include "step_metadata/arguments.h"

#include <cstdint>

namespace nsa_metadata::step_metadata {

// What the kernels need to know about every request.
struct Model {
  IndexVector seq_lens;
  IndexVector extend_seq_lens;  // data == nullptr: every request has rows_per_request rows
  int64_t rows_per_request;
  int64_t top_offset;
  int64_t nsa_index_topk;
  int64_t index_kpool;  // 1: nsa_cache_seqlens = min(kv, topk); see pooled_topk_len
  // Extend: one page-table row per request, its KV length wide, instead of
  // one per query row.
  bool page_row_per_request;
};

Model model_of(const Arguments& arguments);

// The model of request i having extend_seq_lens[i] rows, the last of which
// sees seq_lens[i] tokens: fill_draft_extend_metadata's rows and
// fill_extend_metadata's tokens (whose page rows are its requests').
Model counted_rows_model(const at::Tensor& seq_lens, const at::Tensor& extend_seq_lens,
                         int64_t nsa_index_topk, int64_t index_kpool,
                         bool page_row_per_request);

struct RequestShape {
  int64_t rows;  // query rows of the request (>= 0)
  int64_t top;   // KV tokens its last row sees (any value; clamped where used)
};

// A request's shape from its lengths, as read (extend_seq_len is read only
// where the model has variable row counts): for kernels that load ahead.
NSA_HOST_DEVICE int64_t rows_from(const Model& model, int64_t extend_seq_len) {
  return model.extend_seq_lens.data != nullptr ? rows_of(extend_seq_len) : model.rows_per_request;
}

NSA_HOST_DEVICE int64_t top_from(const Model& model, int64_t seq_len) {
  return saturating_offset(seq_len, model.top_offset);
}

// The rows before request i where every request has rows_per_request rows.
NSA_HOST_DEVICE int64_t fixed_rows_before(const Model& model, int64_t i) {
  return saturating_mul(i, model.rows_per_request);
}

NSA_HOST_DEVICE RequestShape request_shape(const Model& model, int64_t i) {
  const int64_t extend_seq_len = model.extend_seq_lens.data != nullptr ? model.extend_seq_lens[i] : 0;
  return {rows_from(model, extend_seq_len), top_from(model, model.seq_lens[i])};
}

// The page-table rows of request i: its query rows, or one row of its KV
// length.
NSA_HOST_DEVICE RequestShape page_shape(const Model& model, int64_t i) {
  const RequestShape shape = request_shape(model, i);
  return model.page_row_per_request ? RequestShape{1, shape.top} : shape;
}

// nsa_cache_seqlens of a row that sees kv tokens.
NSA_HOST_DEVICE int32_t selected_len(const Model& model, int32_t kv) {
  return pooled_topk_len(kv, model.nsa_index_topk, model.index_kpool);
}

// Running sums along the batch: rows, cache_seqlens (for cu_seqlens_k) and
// nsa_cache_seqlens (for nsa_cu_seqlens_k). Every field is non-negative and
// saturates, so adding is associative, as a scan needs.
struct Sums {
  int64_t rows;
  int64_t kv;
  int64_t topk;
};

NSA_HOST_DEVICE Sums add(const Sums& a, const Sums& b) {
  return {saturating_add(a.rows, b.rows), saturating_add(a.kv, b.kv),
          saturating_add(a.topk, b.topk)};
}

NSA_HOST_DEVICE Sums request_sums(const Model& model, const RequestShape& shape) {
  return {shape.rows, clamped_len(shape.top),
          pooled_topk_len_sum(shape.top, 0, shape.rows, model.nsa_index_topk, model.index_kpool)};
}

// nsa_cache_seqlens summed over the request's rows up to and including row
// j (none for j = -1); the rows after j are the ones with later in
// [0, rows - 1 - j).
NSA_HOST_DEVICE int64_t topk_len_through(const Model& model, const RequestShape& shape,
                                         int64_t j) {
  return pooled_topk_len_sum(shape.top, shape.rows - 1 - j, shape.rows, model.nsa_index_topk,
                             model.index_kpool);
}

}  // namespace nsa_metadata::step_metadata

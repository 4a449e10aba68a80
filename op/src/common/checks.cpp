#include "common/checks.h"

#include "common/length_math.h"
#include "common/size_relations.h"

#include <ATen/MemoryOverlap.h>
#include <c10/util/Exception.h>
#include <c10/util/SmallVector.h>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace nsa_metadata::checks {

void check_index_vector(const at::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.dim() == 1, name, " should be a 1-D tensor, got ", tensor.dim(), "-D");
  const auto dtype = tensor.scalar_type();
  TORCH_CHECK(dtype == at::kInt || dtype == at::kLong, name,
              " should have dtype int32 or int64, got ", dtype);
}

void check_same_device(const at::Tensor& tensor, const char* name,
                       const at::Tensor& reference, const char* reference_name) {
  TORCH_CHECK(tensor.device() == reference.device(), name,
              " should be on the same device as ", reference_name, " (",
              reference.device(), "), got ", tensor.device());
}

void check_same_length(const at::Tensor& tensor, const char* name,
                       const at::Tensor& reference, const char* reference_name) {
  TORCH_CHECK(sizes::equal(tensor.sym_size(0), reference.sym_size(0)), name,
              " should have the same length as ", reference_name, " (",
              reference.sym_size(0), "), got ", tensor.sym_size(0));
}

void check_companion_vector(const at::Tensor& tensor, const char* name,
                            const at::Tensor& reference, const char* reference_name) {
  check_index_vector(tensor, name);
  check_same_device(tensor, name, reference, reference_name);
  check_same_length(tensor, name, reference, reference_name);
}

void check_int32_buffer(const at::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.dim() == 1, name, " should be a 1-D tensor, got ", tensor.dim(), "-D");
  TORCH_CHECK(tensor.scalar_type() == at::kInt, name, " should have dtype int32, got ",
              tensor.scalar_type());
  TORCH_CHECK(tensor.is_contiguous(), name,
              " should be contiguous, got a tensor with stride ", tensor.sym_stride(0));
}

void check_cumsum_buffer(const at::Tensor& tensor, const char* name) {
  check_int32_buffer(tensor, name);
  TORCH_CHECK(sizes::at_least(tensor.sym_size(0), 1), name,
              " should have at least 1 element, got 0");
}

void check_buffer_length(const at::Tensor& tensor, const char* name, const c10::SymInt& length,
                         const char* meaning) {
  check_int32_buffer(tensor, name);
  TORCH_CHECK(sizes::equal(tensor.sym_size(0), length), name, " should have ", length,
              " elements (", meaning, "), got ", tensor.sym_size(0));
}

void check_int32_table(const at::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.dim() == 2, name, " should be a 2-D tensor, got ", tensor.dim(), "-D");
  TORCH_CHECK(tensor.scalar_type() == at::kInt, name, " should have dtype int32, got ",
              tensor.scalar_type());
  TORCH_CHECK(sizes::at_most(tensor.sym_size(1), 1) || sizes::equal(tensor.sym_stride(1), 1),
              name, " should have stride 1 along dim 1, got stride ", tensor.sym_stride(1));
}

void check_table_rows(const at::Tensor& table, const char* name, const c10::SymInt& rows,
                      const char* meaning) {
  check_int32_table(table, name);
  TORCH_CHECK(sizes::equal(table.sym_size(0), rows), name, " should have ", rows, " rows (",
              meaning, "), got ", table.sym_size(0));
}

void check_token_table(const at::Tensor& req_to_token, const at::Tensor& seq_lens) {
  check_int32_table(req_to_token, "req_to_token");
  check_same_device(req_to_token, "req_to_token", seq_lens, "seq_lens");
}

void check_request_buffer(const std::optional<at::Tensor>& buffer, const char* name,
                          const c10::SymInt& batch_size) {
  if (buffer.has_value()) {
    check_buffer_length(*buffer, name, batch_size, "batch size");
  }
}

void check_request_cumsum(const std::optional<at::Tensor>& cumsum, const char* name,
                          const c10::SymInt& batch_size) {
  if (cumsum.has_value()) {
    check_buffer_length(*cumsum, name, sizes::plus(batch_size, 1), "batch size + 1");
  }
}

void check_table_width(const at::Tensor& table, const char* name,
                       const at::Tensor& req_to_token, int64_t column_stride) {
  const c10::SymInt token_columns = req_to_token.sym_size(1);
  const c10::SymInt most_columns = sizes::ceil_div(token_columns, column_stride);
  TORCH_CHECK(sizes::at_most(table.sym_size(1), most_columns), name, " should have at most ",
              most_columns,
              " columns (req_to_token has ", token_columns, "), got ", table.sym_size(1));
}

void check_selection(int64_t nsa_index_topk, int64_t index_kpool) {
  TORCH_CHECK(nsa_index_topk >= 1, "nsa_index_topk should be >= 1, got ", nsa_index_topk);
  TORCH_CHECK(index_kpool >= 1, "index_kpool should be >= 1, got ", index_kpool);
}

void check_page_size(int64_t page_size) {
  TORCH_CHECK(page_size >= 1 && page_size <= kInt32Max, "page_size should be in [1, ", kInt32Max,
              "], got ", page_size);
}

void check_counter(const at::Tensor& tensor, const char* name) {
  const auto dtype = tensor.scalar_type();
  TORCH_CHECK(dtype == at::kInt || dtype == at::kLong, name,
              " should have dtype int32 or int64, got ", dtype);
  TORCH_CHECK(sizes::equal(tensor.sym_numel(), 1), name, " should have exactly 1 element, got ",
              tensor.sym_numel());
}

void check_no_overlap(const at::Tensor& written, const char* written_name,
                      const at::Tensor& other, const char* other_name) {
  // Tensors of different storages cannot overlap: decided by one pointer
  // comparison, which spares get_overlap_status's layout checks for the
  // dozens of pairs a call with every output has.
  const c10::Storage& written_storage = written.unsafeGetTensorImpl()->unsafe_storage();
  if (!written_storage || !written_storage.is_alias_of(other.unsafeGetTensorImpl()->unsafe_storage())) {
    return;
  }
  // TooHard (a strided input) is let through: it cannot be proven either way
  // cheaply, and strided inputs come from slicing, not from our outputs.
  const auto status = at::get_overlap_status(written, other);
  TORCH_CHECK(status != at::MemOverlapStatus::Full && status != at::MemOverlapStatus::Partial,
              written_name,
              " should not share memory with ", other_name,
              ", got tensors that overlap");
}

void check_request_lengths(int64_t i, int64_t seq_len, const int64_t* extend_seq_len,
                           int64_t top, bool top_adds_draft_tokens) {
  TORCH_CHECK(seq_len >= 0, "seq_lens[", i, "] should be >= 0, got ", seq_len);
  if (extend_seq_len != nullptr) {
    TORCH_CHECK(*extend_seq_len >= 0, "extend_seq_lens[", i, "] should be >= 0, got ",
                *extend_seq_len);
  }
  TORCH_CHECK(top <= kInt32Max, "the KV length of request ", i, " (seq_lens[", i, "] = ", seq_len,
              top_adds_draft_tokens ? " + num_draft_tokens" : "", ") should fit int32, got ",
              top);
}

NamedTensors present(std::initializer_list<NamedOptional> outputs) {
  NamedTensors given;
  for (const auto& [output, name] : outputs) {
    if (output->has_value()) {
      given.emplace_back(&output->value(), name);
    }
  }
  return given;
}

namespace {

// The bytes of a tensor's storage. Tensors whose storages span disjoint bytes
// share no memory, which comparisons of addresses decide without a call into
// c10 for each pair.
struct StorageSpan {
  uintptr_t begin = 0;
  uintptr_t end = UINTPTR_MAX;  // unknown: may meet any other span
};

StorageSpan storage_span(const at::Tensor& tensor) {
  const c10::Storage& storage = tensor.unsafeGetTensorImpl()->unsafe_storage();
  if (!storage) {
    return {0, 0};
  }
  const std::optional<int64_t> bytes = storage.sym_nbytes().maybe_as_int();
  if (!bytes.has_value()) {
    return {};
  }
  const auto begin = reinterpret_cast<uintptr_t>(storage.data_ptr().get());
  return {begin, begin + static_cast<uintptr_t>(*bytes)};
}

bool may_meet(const StorageSpan& a, const StorageSpan& b) {
  return a.begin < b.end && b.begin < a.end;
}

using StorageSpans = c10::SmallVector<StorageSpan, 24>;

// Whether any two of the spans may meet, in one sort and one sweep instead
// of a test per pair (an extend call with every output has 14 outputs and 4
// inputs): in order of their first byte, a span meets an earlier one only if
// it starts before the furthest end so far.
bool any_may_meet(StorageSpans spans) {
  std::sort(spans.begin(), spans.end(),
            [](const StorageSpan& a, const StorageSpan& b) { return a.begin < b.begin; });
  uintptr_t furthest_end = 0;
  for (const StorageSpan& span : spans) {
    if (span.begin < furthest_end) {
      return true;
    }
    furthest_end = std::max(furthest_end, span.end);
  }
  return false;
}

}  // namespace

void check_no_overlaps(c10::ArrayRef<NamedTensor> outputs, c10::ArrayRef<NamedTensor> inputs) {
  StorageSpans spans;
  for (const auto& [tensor, name] : outputs) {
    spans.push_back(storage_span(*tensor));
  }
  for (const auto& [tensor, name] : inputs) {
    spans.push_back(storage_span(*tensor));
  }
  if (!any_may_meet(spans)) {
    return;  // the usual call: every tensor in memory of its own
  }
  const size_t output_count = outputs.size();
  for (size_t a = 0; a < output_count; ++a) {
    const auto& [output, name] = outputs[a];
    for (size_t b = a + 1; b < spans.size(); ++b) {
      if (may_meet(spans[a], spans[b])) {
        const NamedTensor& other = b < output_count ? outputs[b] : inputs[b - output_count];
        check_no_overlap(*output, name, *other.first, other.second);
      }
    }
  }
}

void check_pool_index(int64_t i, int64_t pool_index, int64_t pool_rows) {
  TORCH_CHECK(pool_index >= 0 && pool_index < pool_rows, "req_pool_indices[", i,
              "] should be in [0, ", pool_rows, ") (the rows of req_to_token), got ", pool_index);
}

void check_sum_fits_int32(const char* name, const char* what, int64_t sum) {
  TORCH_CHECK(sum <= kInt32Max, name, "'s last element, ", what, ", should fit int32, got ", sum);
}

void check_holds_rows(int64_t capacity, const char* name, int64_t rows, int64_t extra) {
  TORCH_CHECK(capacity - extra >= rows, name, " should hold the ", rows, " rows of the batch",
              extra == 1 ? " plus one" : "", ", got ", capacity, " elements");
}

}  // namespace nsa_metadata::checks

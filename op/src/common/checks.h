// Host-side argument checks shared by every operator of the library. Each one
// raises a c10::Error whose message names the argument, what was expected and
// what came, in the style of torchvision's checks.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/SmallVector.h>

#include <initializer_list>
#include <optional>
#include <utility>

namespace nsa_metadata::checks {

// A 1-D tensor of request lengths or indices: int32 or int64, any stride.
void check_index_vector(const at::Tensor& tensor, const char* name);

// `tensor` lives on the same device as `reference` (named `reference_name`).
void check_same_device(const at::Tensor& tensor, const char* name,
                       const at::Tensor& reference, const char* reference_name);

// `tensor` has as many elements along dim 0 as `reference`.
void check_same_length(const at::Tensor& tensor, const char* name,
                       const at::Tensor& reference, const char* reference_name);

// An index vector (check_index_vector) that goes with `reference` (named
// `reference_name`): on its device, with its length.
void check_companion_vector(const at::Tensor& tensor, const char* name,
                            const at::Tensor& reference, const char* reference_name);

// A preallocated output row buffer: 1-D, contiguous, int32.
void check_int32_buffer(const at::Tensor& tensor, const char* name);

// A preallocated cumulative sum of a capacity the device fills
// (check_int32_buffer): at least its leading zero's element.
void check_cumsum_buffer(const at::Tensor& tensor, const char* name);

// A preallocated 1-D int32 buffer of exactly `length` elements; `meaning`
// says where the length comes from, e.g. "batch size + 1".
void check_buffer_length(const at::Tensor& tensor, const char* name, const c10::SymInt& length,
                         const char* meaning);

// A preallocated 2-D int32 table whose rows are read or written as runs of
// columns: unit stride along dim 1, any row stride.
void check_int32_table(const at::Tensor& tensor, const char* name);

// A preallocated 2-D int32 table (check_int32_table) of exactly `rows` rows;
// `meaning` says where the count comes from, e.g. "one per request".
void check_table_rows(const at::Tensor& table, const char* name, const c10::SymInt& rows,
                      const char* meaning);

// A page table whose column c is copied from req_to_token's column
// c * column_stride (1 for page_table_1, page_size for real_page_table): no
// wider than req_to_token allows, or it would read past it.
void check_table_width(const at::Tensor& table, const char* name,
                       const at::Tensor& req_to_token, int64_t column_stride);

// req_to_token: a 2-D int32 table of unit column stride
// (check_int32_table) on seq_lens' device.
void check_token_table(const at::Tensor& req_to_token, const at::Tensor& seq_lens);

// The per-request buffers of the paged operators, where given: `buffer`
// (e.g. cache_seqlens) of exactly `batch_size` elements, or `cumsum` (e.g.
// cu_seqlens_k) of batch_size + 1.
void check_request_buffer(const std::optional<at::Tensor>& buffer, const char* name,
                          const c10::SymInt& batch_size);
void check_request_cumsum(const std::optional<at::Tensor>& cumsum, const char* name,
                          const c10::SymInt& batch_size);

// What nsa_cache_seqlens is made of: nsa_index_topk >= 1, index_kpool >= 1.
void check_selection(int64_t nsa_index_topk, int64_t index_kpool);

// page_size in [1, INT32_MAX].
void check_page_size(int64_t page_size);

// A one-element int32 or int64 counter written by the device.
void check_counter(const at::Tensor& tensor, const char* name);

// Outputs must not share memory with each other or with the inputs: the
// kernels read inputs while they write outputs, and a partial overlap would
// make the result depend on thread scheduling. Only meaningful for tensors
// with real storage, so the Meta kernels do not call it.
void check_no_overlap(const at::Tensor& written, const char* written_name,
                      const at::Tensor& other, const char* other_name);

using NamedTensor = std::pair<const at::Tensor*, const char*>;
using NamedOptional = std::pair<const std::optional<at::Tensor>*, const char*>;
// Room for every operator's outputs (at most 14) without a heap allocation:
// a call's host checks run on every step.
using NamedTensors = c10::SmallVector<NamedTensor, 16>;

// The outputs a call was given, named.
NamedTensors present(std::initializer_list<NamedOptional> outputs);

// check_no_overlap for every pair of outputs and every output with every input.
void check_no_overlaps(c10::ArrayRef<NamedTensor> outputs, c10::ArrayRef<NamedTensor> inputs);

// Data checks, run on the host where the data are visible: by the CPU
// kernels before their first write, and by checked mode after a CUDA launch.

// Request i's lengths: seq_lens[i] >= 0; extend_seq_lens[i] >= 0 when its
// rows come from it (extend_seq_len not null); the KV length its last row
// sees (`top`: seq_lens[i], plus num_draft_tokens for target-verify) within
// int32.
void check_request_lengths(int64_t i, int64_t seq_len, const int64_t* extend_seq_len,
                           int64_t top, bool top_adds_draft_tokens);

// An int32 cumulative sum's last element, `what`, fits int32.
void check_sum_fits_int32(const char* name, const char* what, int64_t sum);

// Request i's pool index names a row of req_to_token (`pool_rows` rows).
void check_pool_index(int64_t i, int64_t pool_index, int64_t pool_rows);

// A row buffer of `capacity` elements holds the batch's `rows` rows plus
// `extra` (nsa_cu_seqlens_k's leading zero).
void check_holds_rows(int64_t capacity, const char* name, int64_t rows, int64_t extra);

}  // namespace nsa_metadata::checks

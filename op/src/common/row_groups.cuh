// Writing int32 rows in groups of kRowsPerGroup consecutive rows per thread,
// so that a thread stores a whole group with two 16-byte stores and a warp
// stores 1 KB of contiguous memory per buffer. Groups are aligned to absolute
// row indices (group g holds rows [8g, 8g + 8)), so the 16-byte stores line up
// whenever the buffer's base address does; a group cut by a range edge, a
// capacity or an unaligned base falls back to predicated 4-byte stores.
#pragma once

#include <cstdint>

namespace nsa_metadata::cuda {

constexpr int kRowsPerGroup = 8;

struct RowBuffer {
  int32_t* data;
  int64_t capacity;
  bool aligned;  // data is 16-byte aligned: whole groups take vector stores
};

__device__ __forceinline__ int64_t group_of(int64_t row) { return row / kRowsPerGroup; }

// One past the last group touching [.., row_end); row_end <= a buffer's
// numel, so the addition cannot overflow.
__device__ __forceinline__ int64_t group_end_of(int64_t row_end) {
  return (row_end + kRowsPerGroup - 1) / kRowsPerGroup;
}

// Writes values[k] to row group_row + k for the rows in [row_begin, row_end)
// that are inside the buffer. Nothing outside [0, capacity) is ever written.
__device__ __forceinline__ void store_group(const RowBuffer& buffer, int64_t group_row,
                                            int64_t row_begin, int64_t row_end,
                                            const int32_t (&values)[kRowsPerGroup]) {
  const int64_t end = row_end < buffer.capacity ? row_end : buffer.capacity;
  if (buffer.aligned && row_begin == group_row && end == group_row + kRowsPerGroup) {
    int4* out = reinterpret_cast<int4*>(buffer.data + group_row);
    out[0] = make_int4(values[0], values[1], values[2], values[3]);
    out[1] = make_int4(values[4], values[5], values[6], values[7]);
    return;
  }
#pragma unroll
  for (int k = 0; k < kRowsPerGroup; ++k) {
    const int64_t row = group_row + k;
    if (row >= row_begin && row < end) {
      buffer.data[row] = values[k];
    }
  }
}

// Zeroes rows [first_row, capacity), the groups spread over every thread of
// the grid.
__device__ __forceinline__ void zero_rows_from(const RowBuffer& buffer, int64_t first_row) {
  if (first_row >= buffer.capacity) {
    return;
  }
  const int32_t zeros[kRowsPerGroup] = {};
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t group = group_of(first_row) + static_cast<int64_t>(blockIdx.x) * blockDim.x +
                       threadIdx.x;
       group < group_end_of(buffer.capacity); group += threads) {
    const int64_t group_row = group * kRowsPerGroup;
    store_group(buffer, group_row, first_row > group_row ? first_row : group_row,
                buffer.capacity, zeros);
  }
}

}  // namespace nsa_metadata::cuda

// CUDA kernel of fill_draft_extend_metadata.
//
// Contract (see docs/draft_extend.md): one launch on the current stream, no
// host synchronization, no allocation, so the call can be captured in a CUDA
// graph and replayed with new input values. Whatever the device data say, no
// write lands outside [0, capacity) of either buffer.
//
// Design: the grid splits the requests into contiguous chunks, one per block.
// A block needs the number of tokens before its chunk (where its rows start)
// and the batch total (where the zeroed tail starts); it computes both by
// reducing the extend lengths itself, which needs no scratch memory shared
// between blocks and so no allocation and no second launch. It then walks its
// chunk in tiles of kThreads requests: a block scan gives each request's first
// row, and the threads write the tile's rows together, each finding its
// request by binary search in shared memory, so the stores are coalesced and
// balanced however uneven the extend lengths are.
#include "common/checked_mode.h"
#include "common/dispatch.h"
#include "draft_extend/checks.h"
#include "draft_extend/token_math.h"

// Only c10's CUDA headers: ATen/cuda/CUDAContext.h would pull in cuBLAS and
// cuSPARSE headers, which a minimal CUDA toolkit (nvcc and cudart) lacks.
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <algorithm>

namespace nsa_metadata::draft_extend {
namespace {

constexpr int kThreads = 256;
// Requests and rows one block takes on before the grid grows by a block.
// Every block reads the whole extend_seq_lens, so the grid stays small while
// the batch is small; the tail of the buffers is what needs many blocks.
constexpr int64_t kRequestsPerBlock = 2048;
constexpr int64_t kRowsPerBlock = 16 * 1024;
constexpr int64_t kBlocksPerSM = 2;

__device__ __forceinline__ int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }

struct SaturatingSum {
  __device__ __forceinline__ int64_t operator()(int64_t a, int64_t b) const {
    return saturating_add(a, b);
  }
};

struct KernelArgs {
  int64_t batch_size;
  int64_t extend_stride;
  int64_t seq_stride;
  int64_t requests_per_block;
  int64_t nsa_index_topk;
  int32_t* seqlens_expanded;
  int64_t expanded_capacity;
  int32_t* nsa_cache_seqlens;
  int64_t cache_capacity;
};

template <typename extend_t, typename seq_t, typename count_t>
__global__ void __launch_bounds__(kThreads)
    fill_draft_extend_kernel(const extend_t* __restrict__ extend_seq_lens,
                             const seq_t* __restrict__ seq_lens, count_t* __restrict__ num_tokens,
                             const KernelArgs args) {
  using BlockReduce = cub::BlockReduce<int64_t, kThreads>;
  using BlockScan = cub::BlockScan<int64_t, kThreads>;
  __shared__ union {
    typename BlockReduce::TempStorage reduce;
    typename BlockScan::TempStorage scan;
  } cub_storage;
  __shared__ int64_t tile_first_row[kThreads];
  __shared__ int64_t tile_extend[kThreads];
  __shared__ int64_t tile_seq[kThreads];
  __shared__ int64_t block_rows_before;
  __shared__ int64_t batch_total;

  const int64_t chunk_begin =
      min_of(static_cast<int64_t>(blockIdx.x) * args.requests_per_block, args.batch_size);
  const int64_t chunk_end = min_of(chunk_begin + args.requests_per_block, args.batch_size);

  // 1. Rows before this block's chunk, and the batch total.
  int64_t rows_before = 0;
  int64_t rows_from_chunk = 0;
  for (int64_t i = threadIdx.x; i < args.batch_size; i += kThreads) {
    const int64_t tokens = tokens_of(extend_seq_lens[i * args.extend_stride]);
    if (i < chunk_begin) {
      rows_before = saturating_add(rows_before, tokens);
    } else {
      rows_from_chunk = saturating_add(rows_from_chunk, tokens);
    }
  }
  const int64_t reduced_before = BlockReduce(cub_storage.reduce).Reduce(rows_before, SaturatingSum());
  __syncthreads();
  const int64_t reduced_rest = BlockReduce(cub_storage.reduce).Reduce(rows_from_chunk, SaturatingSum());
  if (threadIdx.x == 0) {
    block_rows_before = reduced_before;
    batch_total = saturating_add(reduced_before, reduced_rest);
  }
  __syncthreads();
  const int64_t total = batch_total;
  if (num_tokens != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
    *num_tokens = narrow_total<count_t>(total);
  }

  // 2. The chunk's rows, tile by tile. Rows at or past both capacities are
  // never written, which also bounds the work when a length is huge.
  const int64_t row_limit = max_of(args.expanded_capacity, args.cache_capacity);
  int64_t tile_row = block_rows_before;
  for (int64_t tile_begin = chunk_begin; tile_begin < chunk_end && tile_row < row_limit;
       tile_begin += kThreads) {
    const int64_t i = tile_begin + threadIdx.x;
    const bool in_chunk = i < chunk_end;
    const int64_t tokens = in_chunk ? tokens_of(extend_seq_lens[i * args.extend_stride]) : 0;
    int64_t rows_before_request;
    int64_t tile_rows;
    BlockScan(cub_storage.scan)
        .ExclusiveScan(tokens, rows_before_request, int64_t{0}, SaturatingSum(), tile_rows);
    tile_first_row[threadIdx.x] = saturating_add(tile_row, rows_before_request);
    tile_extend[threadIdx.x] = tokens;
    tile_seq[threadIdx.x] = in_chunk ? static_cast<int64_t>(seq_lens[i * args.seq_stride]) : 0;
    __syncthreads();

    const int64_t tile_end = min_of(saturating_add(tile_row, tile_rows), row_limit);
    for (int64_t row = tile_row + threadIdx.x; row < tile_end; row += kThreads) {
      // The last request whose first row is <= row owns it: requests with no
      // tokens share their first row with the next request and lose the tie.
      int lo = 0;
      int hi = kThreads - 1;
      while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (tile_first_row[mid] <= row) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      const int64_t j = row - tile_first_row[lo];
      const int32_t expanded = expanded_seqlen(tile_seq[lo], tile_extend[lo], j);
      if (row < args.expanded_capacity) {
        args.seqlens_expanded[row] = expanded;
      }
      if (row < args.cache_capacity) {
        args.nsa_cache_seqlens[row] = nsa_cache_seqlen(expanded, args.nsa_index_topk);
      }
    }
    tile_row = saturating_add(tile_row, tile_rows);
    __syncthreads();  // The next tile overwrites the shared arrays.
  }

  // 3. The zeroed tail, [total, capacity), spread over the whole grid.
  const int64_t grid_stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (total < args.expanded_capacity) {
    for (int64_t row = total + first; row < args.expanded_capacity; row += grid_stride) {
      args.seqlens_expanded[row] = 0;
    }
  }
  if (total < args.cache_capacity) {
    for (int64_t row = total + first; row < args.cache_capacity; row += grid_stride) {
      args.nsa_cache_seqlens[row] = 0;
    }
  }
}

int multiprocessor_count(c10::DeviceIndex device) {
  int count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

int64_t grid_size(int64_t batch_size, int64_t row_limit, c10::DeviceIndex device) {
  const int64_t for_requests = (batch_size + kRequestsPerBlock - 1) / kRequestsPerBlock;
  const int64_t for_rows = (row_limit + kRowsPerBlock - 1) / kRowsPerBlock;
  const int64_t most = kBlocksPerSM * multiprocessor_count(device);
  return std::clamp<int64_t>(std::max(for_requests, for_rows), 1, most);
}

// Checked mode's second half: once the kernel has run, the same data checks
// as the CPU kernel, raising the same error.
void check_values_on_host(const at::Tensor& extend_seq_lens, int64_t expanded_capacity,
                          int64_t cache_capacity, cudaStream_t stream) {
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  checked_token_total(extend_seq_lens.cpu(), expanded_capacity, cache_capacity);
}

void fill_draft_extend_metadata_cuda(const at::Tensor& extend_seq_lens,
                                     const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                     const at::Tensor& seqlens_expanded,
                                     const at::Tensor& nsa_cache_seqlens,
                                     const std::optional<at::Tensor>& num_tokens) {
  check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                  nsa_cache_seqlens, num_tokens);
  check_no_aliasing(extend_seq_lens, seq_lens, seqlens_expanded, nsa_cache_seqlens,
                    num_tokens);
  const c10::cuda::CUDAGuard device_guard(extend_seq_lens.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool checked = checked_mode_enabled();
  // Refused before the launch, so that a capture is never left half-recorded.
  TORCH_CHECK(!checked || c10::cuda::currentStreamCaptureStatusMayInitCtx() ==
                              c10::cuda::CaptureStatus::None,
              "NSA_METADATA_CHECKED is set, but checked mode synchronizes and cannot be "
              "used during CUDA graph capture; unset it to capture");

  KernelArgs args{};
  args.batch_size = extend_seq_lens.size(0);
  args.extend_stride = extend_seq_lens.stride(0);
  args.seq_stride = seq_lens.stride(0);
  args.nsa_index_topk = nsa_index_topk;
  args.seqlens_expanded = seqlens_expanded.mutable_data_ptr<int32_t>();
  args.expanded_capacity = seqlens_expanded.numel();
  args.nsa_cache_seqlens = nsa_cache_seqlens.mutable_data_ptr<int32_t>();
  args.cache_capacity = nsa_cache_seqlens.numel();
  const int64_t blocks =
      grid_size(args.batch_size, std::max(args.expanded_capacity, args.cache_capacity),
                extend_seq_lens.device().index());
  args.requests_per_block = (args.batch_size + blocks - 1) / blocks;

  const at::ScalarType count_dtype =
      num_tokens.has_value() ? num_tokens->scalar_type() : at::kLong;
  dispatch_index_type(extend_seq_lens.scalar_type(), [&](auto extend_tag) {
    using extend_t = decltype(extend_tag);
    dispatch_index_type(seq_lens.scalar_type(), [&](auto seq_tag) {
      using seq_t = decltype(seq_tag);
      dispatch_index_type(count_dtype, [&](auto count_tag) {
        using count_t = decltype(count_tag);
        count_t* counter =
            num_tokens.has_value() ? num_tokens->mutable_data_ptr<count_t>() : nullptr;
        fill_draft_extend_kernel<extend_t, seq_t, count_t>
            <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
                extend_seq_lens.const_data_ptr<extend_t>(), seq_lens.const_data_ptr<seq_t>(),
                counter, args);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });

  if (checked) {
    check_values_on_host(extend_seq_lens, args.expanded_capacity,
                                     args.cache_capacity, stream);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CUDA, m) {
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_cuda);
}

}  // namespace nsa_metadata::draft_extend

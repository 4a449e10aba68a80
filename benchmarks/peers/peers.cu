// Benchmark-only operators, registered exactly like nsa_metadata's (same
// schema, TORCH_LIBRARY, a CUDA kernel behind a device guard on the current
// stream), in their own namespace and library so nothing ships with them.
//
//   nsa_metadata_bench::floor_fill       launches an empty kernel: the floor
//                                        any one-launch op can reach.
//   nsa_metadata_bench::floor_<op>       for each step-metadata op and
//                                        fill_extend_metadata, an op of
//                                        the same schema (the benchmark
//                                        defines it from ours) whose kernel
//                                        is empty: the floor with the same
//                                        argument parsing as the op.
//   nsa_metadata_bench::one_sync_fill    the earlier CUDA approach engines
//                                        tried: cumsum, one host sync for the
//                                        total, then a thread per request.
//   nsa_metadata_bench::copy_fan_out     reads a buffer once and writes it
//                                        over a destination of any length,
//                                        again and again: the page tables'
//                                        mix of reads and writes with nothing
//                                        to gather, what the GPU reaches for
//                                        that mix.
#include <ATen/core/Tensor.h>
#include <ATen/ops/cumsum.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace {

__global__ void empty_kernel() {}

// One thread per request writes its rows; threads past the batch zero the tail.
__global__ void one_sync_kernel(const int32_t* extend_seq_lens, const int32_t* seq_lens,
                                const int64_t* row_ends, int64_t batch_size, int64_t total,
                                int64_t nsa_index_topk, int32_t* seqlens_expanded,
                                int32_t* nsa_cache_seqlens, int64_t capacity) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < batch_size) {
    const int64_t extend = extend_seq_lens[i];
    const int64_t seq = seq_lens[i];
    const int64_t first = row_ends[i] - extend;
    for (int64_t j = 0; j < extend; ++j) {
      const int64_t value = seq - extend + 1 + j > 0 ? seq - extend + 1 + j : 0;
      seqlens_expanded[first + j] = static_cast<int32_t>(value);
      nsa_cache_seqlens[first + j] =
          static_cast<int32_t>(value < nsa_index_topk ? value : nsa_index_topk);
    }
  }
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t row = total + i; row < capacity; row += threads) {
    seqlens_expanded[row] = 0;
    nsa_cache_seqlens[row] = 0;
  }
}

// Each thread keeps kCopyVectors 16-byte loads in flight, then stores each
// into every place of the destination that repeats it (destination vector d
// holds source vector d mod source_vectors); a grid-stride loop over whole
// groups, then one vector at a time.
constexpr int kCopyVectors = 4;

__device__ __forceinline__ void fan_out_store(int4* destination, int64_t destination_vectors,
                                              int64_t source_vectors, int64_t v, int4 value) {
  for (int64_t d = v; d < destination_vectors; d += source_vectors) destination[d] = value;
}

__global__ void copy_fan_out_kernel(const int4* __restrict__ source, int64_t source_vectors,
                                    int4* destination, int64_t destination_vectors) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; v + (kCopyVectors - 1) * stride < source_vectors; v += kCopyVectors * stride) {
    int4 values[kCopyVectors];
#pragma unroll
    for (int k = 0; k < kCopyVectors; ++k) values[k] = __ldg(source + v + k * stride);
#pragma unroll
    for (int k = 0; k < kCopyVectors; ++k) {
      fan_out_store(destination, destination_vectors, source_vectors, v + k * stride, values[k]);
    }
  }
  for (; v < source_vectors; v += stride) {
    fan_out_store(destination, destination_vectors, source_vectors, v, __ldg(source + v));
  }
}

// Contiguous CUDA int32 buffers of whole 16-byte vectors, the destination at
// least as long as the source.
void copy_fan_out(const at::Tensor& source, const at::Tensor& destination) {
  for (const at::Tensor* tensor : {&source, &destination}) {
    TORCH_CHECK(tensor->is_cuda() && tensor->scalar_type() == at::kInt &&
                    tensor->is_contiguous() && tensor->numel() % 4 == 0,
                "copy_fan_out: contiguous CUDA int32 buffers, each a multiple of 4 long");
  }
  TORCH_CHECK(source.numel() > 0 && destination.numel() >= source.numel(),
              "copy_fan_out: a source, and a destination at least as long");
  const c10::cuda::CUDAGuard device_guard(source.device());
  int multiprocessors = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount,
                                        source.device().index()));
  const int blocks = multiprocessors * 8;
  copy_fan_out_kernel<<<blocks, 256, 0, c10::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const int4*>(source.const_data_ptr<int32_t>()), source.numel() / 4,
      reinterpret_cast<int4*>(destination.mutable_data_ptr<int32_t>()), destination.numel() / 4);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void floor_fill(const at::Tensor& extend_seq_lens, const at::Tensor&, int64_t,
                const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&) {
  const c10::cuda::CUDAGuard device_guard(extend_seq_lens.device());
  empty_kernel<<<1, 32, 0, c10::cuda::getCurrentCUDAStream()>>>();
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Any schema: launches the empty kernel on the first tensor argument's device.
void floor_boxed(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const size_t arguments = op.schema().arguments().size();
  const auto first = stack->end() - static_cast<std::ptrdiff_t>(arguments);
  const auto tensor = std::find_if(first, stack->end(),
                                   [](const c10::IValue& value) { return value.isTensor(); });
  TORCH_CHECK(tensor != stack->end(), op.schema().name(), ": no tensor argument");
  const c10::cuda::CUDAGuard device_guard(tensor->toTensor().device());
  empty_kernel<<<1, 32, 0, c10::cuda::getCurrentCUDAStream()>>>();
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  torch::jit::drop(*stack, arguments);
}

// Valid int32 inputs only: a peer, not a product.
void one_sync_fill(const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                   int64_t nsa_index_topk, const at::Tensor& seqlens_expanded,
                   const at::Tensor& nsa_cache_seqlens,
                   const std::optional<at::Tensor>& num_tokens) {
  const c10::cuda::CUDAGuard device_guard(extend_seq_lens.device());
  const at::Tensor row_ends = at::cumsum(extend_seq_lens, 0, at::kLong);
  const int64_t batch_size = extend_seq_lens.size(0);
  const int64_t total = batch_size ? row_ends[-1].item<int64_t>() : 0;  // the host sync
  const int64_t capacity = seqlens_expanded.numel();
  const int64_t threads = 256;
  const int64_t blocks = std::max<int64_t>(1, (std::max(batch_size, capacity - total) + 255) / 256);
  one_sync_kernel<<<static_cast<unsigned>(std::min<int64_t>(blocks, 65535)), threads, 0,
                    c10::cuda::getCurrentCUDAStream()>>>(
      extend_seq_lens.const_data_ptr<int32_t>(), seq_lens.const_data_ptr<int32_t>(),
      row_ends.const_data_ptr<int64_t>(), batch_size, total, nsa_index_topk,
      seqlens_expanded.mutable_data_ptr<int32_t>(), nsa_cache_seqlens.mutable_data_ptr<int32_t>(),
      capacity);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (num_tokens.has_value()) num_tokens->fill_(total);
}

}  // namespace

TORCH_LIBRARY(nsa_metadata_bench, m) {
  const std::string arguments =
      "(Tensor extend_seq_lens, Tensor seq_lens, int nsa_index_topk, "
      "Tensor(a!) seqlens_expanded, Tensor(b!) nsa_cache_seqlens, *, "
      "Tensor(c!)? num_tokens=None) -> ()";
  m.def(("floor_fill" + arguments).c_str());
  m.def(("one_sync_fill" + arguments).c_str());
  m.def("copy_fan_out(Tensor source, Tensor(a!) destination) -> ()");
}

TORCH_LIBRARY_IMPL(nsa_metadata_bench, CUDA, m) {
  m.impl("floor_fill", &floor_fill);
  m.impl("one_sync_fill", &one_sync_fill);
  m.impl("copy_fan_out", &copy_fan_out);
  for (const char* name : {"floor_fill_decode_metadata", "floor_fill_target_verify_metadata",
                           "floor_fill_draft_extend_metadata_full", "floor_fill_extend_metadata"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&floor_boxed>());
  }
}

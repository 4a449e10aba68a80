// How fast a block drains int32 row stores, by store pattern: the evidence
// behind common/row_groups.cuh's groups of 4 rows and the single-pass grid's
// tail blocks (docs/benchmarks.md). Each kernel zeroes `rows` rows of two
// buffers, as the draft-extend kernels' tails do:
//   groups_of_8   each thread two 16-byte stores 16 bytes apart (the old groups)
//   groups_of_4   each thread one 16-byte store; a warp covers 512 contiguous bytes
//   rows_of_1     each thread one 4-byte store
// Printed: us per launch, from 100 launches captured in one CUDA graph (best
// of 10 replays), for 1, 4 and 16 blocks of 256 threads.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

void check(cudaError_t status) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(status));
    std::exit(1);
  }
}

__device__ int64_t first_thread() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ int64_t all_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

__global__ void empty_kernel(int32_t*, int32_t*, int64_t) {}

__global__ void groups_of_8(int32_t* a, int32_t* b, int64_t rows) {
  const int4 zero = make_int4(0, 0, 0, 0);
  for (int64_t group = first_thread(); group < rows / 8; group += all_threads()) {
    int4* to_a = reinterpret_cast<int4*>(a) + 2 * group;
    int4* to_b = reinterpret_cast<int4*>(b) + 2 * group;
    to_a[0] = zero;
    to_a[1] = zero;
    to_b[0] = zero;
    to_b[1] = zero;
  }
}

__global__ void groups_of_4(int32_t* a, int32_t* b, int64_t rows) {
  const int4 zero = make_int4(0, 0, 0, 0);
  for (int64_t group = first_thread(); group < rows / 4; group += all_threads()) {
    reinterpret_cast<int4*>(a)[group] = zero;
    reinterpret_cast<int4*>(b)[group] = zero;
  }
}

__global__ void rows_of_1(int32_t* a, int32_t* b, int64_t rows) {
  for (int64_t row = first_thread(); row < rows; row += all_threads()) {
    a[row] = 0;
    b[row] = 0;
  }
}

using Kernel = void (*)(int32_t*, int32_t*, int64_t);

float us_per_launch(Kernel kernel, int blocks, int32_t* a, int32_t* b, int64_t rows,
                    cudaStream_t stream) {
  constexpr int kLaunches = 100;
  cudaGraph_t graph;
  cudaGraphExec_t instance;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < kLaunches; ++i) {
    kernel<<<blocks, 256, 0, stream>>>(a, b, rows);
  }
  check(cudaStreamEndCapture(stream, &graph));
  check(cudaGraphInstantiate(&instance, graph, 0));
  cudaEvent_t start, end;
  check(cudaEventCreate(&start));
  check(cudaEventCreate(&end));
  float best_ms = 1e9f;
  for (int replay = 0; replay < 10; ++replay) {
    check(cudaEventRecord(start, stream));
    check(cudaGraphLaunch(instance, stream));
    check(cudaEventRecord(end, stream));
    check(cudaEventSynchronize(end));
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, end));
    best_ms = ms < best_ms ? ms : best_ms;
  }
  check(cudaEventDestroy(start));
  check(cudaEventDestroy(end));
  check(cudaGraphExecDestroy(instance));
  check(cudaGraphDestroy(graph));
  return best_ms * 1000 / kLaunches;
}

}  // namespace

int main() {
  constexpr int64_t kMostRows = 131072;
  int32_t* a = nullptr;
  int32_t* b = nullptr;
  check(cudaMalloc(&a, kMostRows * sizeof(int32_t)));
  check(cudaMalloc(&b, kMostRows * sizeof(int32_t)));
  cudaStream_t stream;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::printf("| blocks | rows | empty | groups_of_8 | groups_of_4 | rows_of_1 |\n");
  std::printf("|--------|------|-------|-------------|-------------|-----------|\n");
  for (int blocks : {1, 4, 16}) {
    for (int64_t rows : {int64_t{1024}, int64_t{4096}, int64_t{8192}, int64_t{32768}, kMostRows}) {
      std::printf("| %d | %lld | %.2f | %.2f | %.2f | %.2f |\n", blocks,
                  static_cast<long long>(rows), us_per_launch(empty_kernel, blocks, a, b, rows, stream),
                  us_per_launch(groups_of_8, blocks, a, b, rows, stream),
                  us_per_launch(groups_of_4, blocks, a, b, rows, stream),
                  us_per_launch(rows_of_1, blocks, a, b, rows, stream));
    }
  }
  check(cudaFree(a));
  check(cudaFree(b));
  return 0;
}

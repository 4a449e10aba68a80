// Times fill_draft_extend_metadata called from C++ through the public header,
// the way a C++ inference application calls it, on the GPU. Prints one line
// per batch size: "<batch> <extend_max> <latency_us> <issue_us>", medians of
// 300 calls, so that benchmarks/bench_draft_extend.py can put them beside the
// Python figures.
//
//   bench_cpp <extend_max> <batch> [<batch> ...]
#include <nsa_metadata/nsa_metadata.h>

#include <c10/cuda/CUDAFunctions.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median_us(std::vector<double> samples) {
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || !torch::cuda::is_available()) {
    std::fprintf(stderr, "usage: %s <extend_max> <batch>... (needs a GPU)\n", argv[0]);
    return 2;
  }
  const int64_t extend_max = std::atoll(argv[1]);
  constexpr int kSets = 8, kRepeats = 300, kWarmup = 30;
  for (int arg = 2; arg < argc; ++arg) {
    const int64_t batch = std::atoll(argv[arg]);
    const auto cuda = torch::TensorOptions(torch::kCUDA).dtype(torch::kInt32);
    std::vector<torch::Tensor> extends, seqs;
    for (int k = 0; k < kSets; ++k) {  // fresh random inputs, rotated
      extends.push_back(torch::randint(1, extend_max + 1, {batch}, cuda));
      seqs.push_back(extends.back() + torch::randint(0, 163840, {batch}, cuda));
    }
    const auto expanded = torch::empty({batch * extend_max}, cuda);
    const auto cached = torch::empty({batch * extend_max}, cuda);
    const auto call = [&](int k) {
      nsa_metadata::fill_draft_extend_metadata(extends[k % kSets], seqs[k % kSets], 2048,
                                               expanded, cached);
    };
    for (int k = 0; k < kWarmup; ++k) call(k);
    c10::cuda::device_synchronize();
    std::vector<double> latency, issue;
    for (int k = 0; k < kRepeats; ++k) {
      const auto start = Clock::now();
      call(k);
      c10::cuda::device_synchronize();
      latency.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    for (int k = 0; k < kRepeats; ++k) {
      const auto start = Clock::now();
      call(k);
      issue.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      if (k % 32 == 31) c10::cuda::device_synchronize();
    }
    c10::cuda::device_synchronize();
    std::printf("%lld %lld %.2f %.2f\n", static_cast<long long>(batch),
                static_cast<long long>(extend_max), median_us(latency), median_us(issue));
  }
  return 0;
}

// Calls one operator through the public header on CPU tensors and checks the
// documented values: the bare project compiles, links and runs.
#include <nsa_metadata/nsa_metadata.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <vector>

int main() {
  const at::Tensor extend_seq_lens = at::tensor({2, 1}, at::kInt);
  const at::Tensor seq_lens = at::tensor({5, 3}, at::kInt);
  const auto [expanded, cached] =
      nsa_metadata::draft_extend_metadata(extend_seq_lens, seq_lens, 4, 4);
  const std::vector<int32_t> want_expanded{4, 5, 3, 0};
  const std::vector<int32_t> want_cached{4, 4, 3, 0};
  for (int64_t i = 0; i < 4; ++i) {
    if (expanded[i].item<int32_t>() != want_expanded[i] ||
        cached[i].item<int32_t>() != want_cached[i]) {
      std::fprintf(stderr, "bare_downstream: wrong value at row %lld\n",
                   static_cast<long long>(i));
      return 1;
    }
  }
  std::printf("bare_downstream: ok\n");
  return 0;
}

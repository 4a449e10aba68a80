// The public header's functions, called as a C++ application calls them: on
// CPU tensors always, on CUDA tensors where a GPU is present (otherwise those
// tests report themselves skipped), errors included.
#include <nsa_metadata/nsa_metadata.h>

#include "test_helpers.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace {

using nsa_metadata_test::error_of;
using nsa_metadata_test::to_vector;

class Api : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda" && !torch::cuda::is_available()) {
      GTEST_SKIP() << "needs a CUDA GPU";
    }
  }
  at::TensorOptions options(at::ScalarType dtype) const {
    return at::TensorOptions(at::Device(GetParam())).dtype(dtype);
  }
};

// Request 0: 2 tokens, cache 5 -> 4, 5. Request 1: none. Request 2: a padded
// row, 3 tokens, cache 2 -> 0, 1, 2. Request 3: 1 token, cache 4000.
TEST_P(Api, FillsRowsTailAndCount) {
  const at::Tensor extend_seq_lens = torch::tensor({2, 0, 3, 1}, options(at::kInt));
  const at::Tensor seq_lens = torch::tensor({5, 1, 2, 4000}, options(at::kLong));
  const at::Tensor seqlens_expanded = torch::full({8}, -1, options(at::kInt));
  const at::Tensor nsa_cache_seqlens = torch::full({8}, -1, options(at::kInt));
  const at::Tensor num_tokens = torch::zeros({1}, options(at::kLong));

  nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 2048, seqlens_expanded,
                                           nsa_cache_seqlens, num_tokens);

  EXPECT_EQ(to_vector(seqlens_expanded), (std::vector<int32_t>{4, 5, 0, 1, 2, 4000, 0, 0}));
  EXPECT_EQ(to_vector(nsa_cache_seqlens), (std::vector<int32_t>{4, 5, 0, 1, 2, 2048, 0, 0}));
  EXPECT_EQ(num_tokens.cpu().item<int64_t>(), 6);
}

TEST_P(Api, CountIsOptional) {
  const at::Tensor extend_seq_lens = torch::tensor({3}, options(at::kLong));
  const at::Tensor seq_lens = torch::tensor({3000}, options(at::kLong));
  const at::Tensor seqlens_expanded = torch::full({4}, -1, options(at::kInt));
  const at::Tensor nsa_cache_seqlens = torch::full({3}, -1, options(at::kInt));

  nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 2048, seqlens_expanded,
                                           nsa_cache_seqlens);

  EXPECT_EQ(to_vector(seqlens_expanded), (std::vector<int32_t>{2998, 2999, 3000, 0}));
  EXPECT_EQ(to_vector(nsa_cache_seqlens), (std::vector<int32_t>{2048, 2048, 2048}));
}

TEST_P(Api, FunctionalFormAllocates) {
  const at::Tensor extend_seq_lens = torch::tensor({1, 2}, options(at::kInt));
  const at::Tensor seq_lens = torch::tensor({7, 1}, options(at::kInt));

  const auto [seqlens_expanded, nsa_cache_seqlens] =
      nsa_metadata::draft_extend_metadata(extend_seq_lens, seq_lens, 3, 5);

  EXPECT_EQ(seqlens_expanded.device(), extend_seq_lens.device());
  EXPECT_EQ(to_vector(seqlens_expanded), (std::vector<int32_t>{7, 0, 1, 0, 0}));
  EXPECT_EQ(to_vector(nsa_cache_seqlens), (std::vector<int32_t>{3, 0, 1, 0, 0}));
}

TEST_P(Api, HostChecksNameTheArgument) {
  const at::Tensor extend_seq_lens = torch::tensor({1, 2}, options(at::kInt));
  const at::Tensor seq_lens = torch::tensor({7, 1}, options(at::kInt));
  const at::Tensor buffer = torch::zeros({4}, options(at::kInt));
  const at::Tensor other_buffer = torch::zeros({4}, options(at::kInt));

  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens.to(at::kFloat),
                                                       seq_lens, 2048, buffer, other_buffer);
            }),
            "extend_seq_lens should have dtype int32 or int64, got Float");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens.slice(0, 0, 1),
                                                       2048, buffer, other_buffer);
            }),
            "seq_lens should have the same length as extend_seq_lens (2), got 1");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 0, buffer,
                                                       other_buffer);
            }),
            "nsa_index_topk should be >= 1, got 0");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 2048,
                                                       buffer.to(at::kLong), other_buffer);
            }),
            "seqlens_expanded should have dtype int32, got Long");
  EXPECT_EQ(error_of([&] { nsa_metadata::draft_extend_metadata(extend_seq_lens, seq_lens, 4, -2); }),
            "capacity should be >= 0, got -2");
}

INSTANTIATE_TEST_SUITE_P(Devices, Api, ::testing::Values("cpu", "cuda"),
                         [](const auto& info) { return info.param; });

TEST(CpuDataChecks, NegativeExtendLengthNamesTheRequest) {
  const at::Tensor extend_seq_lens = torch::tensor({1, -4}, at::kInt);
  const at::Tensor seq_lens = torch::tensor({7, 1}, at::kInt);
  const at::Tensor buffer = torch::zeros({4}, at::kInt);
  const at::Tensor other_buffer = torch::zeros({4}, at::kInt);
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 2048, buffer,
                                                       other_buffer);
            }),
            "extend_seq_lens[1] should be >= 0, got -4");
}

TEST(CpuDataChecks, TooManyTokensNamesTheBuffer) {
  const at::Tensor extend_seq_lens = torch::tensor({3, 2}, at::kInt);
  const at::Tensor seq_lens = torch::tensor({7, 9}, at::kInt);
  const at::Tensor buffer = torch::zeros({5}, at::kInt);
  const at::Tensor small_buffer = torch::zeros({4}, at::kInt);
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 2048, buffer,
                                                       small_buffer);
            }),
            "nsa_cache_seqlens should hold the 5 rows of the batch, got 4 elements");
}

}  // namespace

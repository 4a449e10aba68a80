// The public header's step-metadata functions (decode, target-verify,
// draft-extend with page tables), called as a C++ application calls them,
// on CPU tensors always and CUDA tensors where a GPU is present.
#include <nsa_metadata/nsa_metadata.h>

#include "test_helpers.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace {

constexpr int32_t kPoison = -1;

using nsa_metadata_test::error_of;
using nsa_metadata_test::to_vector;

class StepApi : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda" && !torch::cuda::is_available()) {
      GTEST_SKIP() << "needs a CUDA GPU";
    }
  }
  at::TensorOptions options(at::ScalarType dtype = at::kInt) const {
    return at::TensorOptions(at::Device(GetParam())).dtype(dtype);
  }
  // Pool row p holds slots 100 * p + c: values can be read off by hand.
  at::Tensor req_to_token() const {
    return (torch::arange(3).view({3, 1}) * 100 + torch::arange(8).view({1, 8}))
        .to(options());
  }
  at::Tensor poisoned(at::IntArrayRef shape) const { return torch::full(shape, kPoison, options()); }
};

// Requests in pool rows 2 and 0 with 3 and 1 cached tokens; page size 2, topk 2.
TEST_P(StepApi, DecodeFillsWhatItIsGiven) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, options(at::kLong));
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options());
  nsa_metadata::StepMetadataBuffers buffers{
      .cu_seqlens_k = poisoned({3}),
      .nsa_cache_seqlens = poisoned({2}),
      .page_table_1 = poisoned({2, 4}),
      .real_page_table = poisoned({2, 3}),
  };

  nsa_metadata::fill_decode_metadata(seq_lens, req_pool_indices, req_to_token(), 2, 2, buffers);

  EXPECT_EQ(to_vector(*buffers.cu_seqlens_k), (std::vector<int32_t>{0, 3, 4}));
  EXPECT_EQ(to_vector(*buffers.nsa_cache_seqlens), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(to_vector(*buffers.page_table_1),
            (std::vector<int32_t>{200, 201, 202, kPoison, 0, kPoison, kPoison, kPoison}));
  // Columns c with 2c < kv: slot 2c // 2.
  EXPECT_EQ(to_vector(*buffers.real_page_table),
            (std::vector<int32_t>{100, 101, kPoison, 0, kPoison, kPoison}));
}

TEST_P(StepApi, TargetVerifyRowsSeeTheirOwnPrefix) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, options());
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options(at::kLong));
  nsa_metadata::StepMetadataBuffers buffers{
      .cache_seqlens = poisoned({2}),
      .seqlens_expanded = poisoned({4}),
      .nsa_cu_seqlens_k = poisoned({5}),
      .page_table_1 = poisoned({4, 8}),
  };

  nsa_metadata::fill_target_verify_metadata(seq_lens, req_pool_indices, req_to_token(), 2, 4,
                                            2, buffers);

  EXPECT_EQ(to_vector(*buffers.cache_seqlens), (std::vector<int32_t>{5, 3}));
  EXPECT_EQ(to_vector(*buffers.seqlens_expanded), (std::vector<int32_t>{4, 5, 2, 3}));
  EXPECT_EQ(to_vector(*buffers.nsa_cu_seqlens_k), (std::vector<int32_t>{0, 4, 8, 10, 13}));
  EXPECT_EQ(to_vector(buffers.page_table_1->select(0, 2)),
            (std::vector<int32_t>{0, 1, kPoison, kPoison, kPoison, kPoison, kPoison, kPoison}));
}

TEST_P(StepApi, DraftExtendCountsRowsAndFillsTheTail) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, options());
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options());
  const at::Tensor extend_seq_lens = torch::tensor({2, 1}, options());
  nsa_metadata::StepMetadataBuffers buffers{
      .seqlens_expanded = poisoned({5}),
      .nsa_cu_seqlens_k = poisoned({6}),
      .page_table_1 = poisoned({5, 2}),
      .num_tokens = torch::zeros({1}, options(at::kLong)),
  };

  nsa_metadata::fill_draft_extend_metadata_full(seq_lens, req_pool_indices, req_to_token(),
                                                extend_seq_lens, 2048, 64, buffers);

  EXPECT_EQ(to_vector(*buffers.seqlens_expanded), (std::vector<int32_t>{2, 3, 1, 0, 0}));
  EXPECT_EQ(to_vector(*buffers.nsa_cu_seqlens_k), (std::vector<int32_t>{0, 2, 5, 6, 6, 6}));
  EXPECT_EQ(to_vector(*buffers.page_table_1),
            (std::vector<int32_t>{200, 201, 200, 201, 0, kPoison, kPoison, kPoison, kPoison,
                                  kPoison}));
  EXPECT_EQ(buffers.num_tokens->cpu().item<int64_t>(), 3);
}

// Asked for the row vectors alone, the full op gives what
// fill_draft_extend_metadata gives (on CUDA both take the row-scan kernels).
TEST_P(StepApi, DraftExtendRowVectorsAloneMatchTheNarrowOp) {
  const at::Tensor seq_lens = torch::tensor({3, 1, 0, 9}, options(at::kLong));
  const at::Tensor extend_seq_lens = torch::tensor({2, 1, 0, 4}, options());
  nsa_metadata::StepMetadataBuffers buffers{
      .seqlens_expanded = poisoned({9}),
      .nsa_cache_seqlens = poisoned({8}),
      .num_tokens = torch::zeros({1}, options()),
  };
  const at::Tensor narrow_expanded = poisoned({9});
  const at::Tensor narrow_cache = poisoned({8});

  nsa_metadata::fill_draft_extend_metadata_full(seq_lens, torch::zeros({4}, options()),
                                                req_to_token(), extend_seq_lens, 7, 64, buffers);
  nsa_metadata::fill_draft_extend_metadata(extend_seq_lens, seq_lens, 7, narrow_expanded,
                                           narrow_cache);

  EXPECT_EQ(to_vector(*buffers.seqlens_expanded),
            (std::vector<int32_t>{2, 3, 1, 6, 7, 8, 9, 0, 0}));
  EXPECT_EQ(to_vector(*buffers.nsa_cache_seqlens), (std::vector<int32_t>{2, 3, 1, 6, 7, 7, 7, 0}));
  EXPECT_EQ(to_vector(*buffers.seqlens_expanded), to_vector(narrow_expanded));
  EXPECT_EQ(to_vector(*buffers.nsa_cache_seqlens), to_vector(narrow_cache));
  EXPECT_EQ(buffers.num_tokens->cpu().item<int32_t>(), 7);
}

TEST_P(StepApi, DraftExtendWithAStaticCount) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, options());
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options());
  nsa_metadata::StepMetadataBuffers buffers{.seqlens_expanded = poisoned({4})};

  nsa_metadata::fill_draft_extend_metadata_full(seq_lens, req_pool_indices, req_to_token(),
                                                std::nullopt, 2048, 64, buffers, 2);

  EXPECT_EQ(to_vector(*buffers.seqlens_expanded), (std::vector<int32_t>{2, 3, 0, 1}));
}

TEST_P(StepApi, ErrorsNameTheArgument) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, options());
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options());
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_decode_metadata(seq_lens, req_pool_indices, req_to_token(), 2,
                                                 2, {.cache_seqlens = poisoned({3})});
            }),
            "cache_seqlens should have 2 elements (batch size), got 3");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_decode_metadata(seq_lens, req_pool_indices, req_to_token(), 2,
                                                 2, {.seqlens_expanded = poisoned({2})});
            }),
            "fill_decode_metadata has no seqlens_expanded output, got a tensor for it");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_target_verify_metadata(
                  seq_lens, req_pool_indices, req_to_token(), 2, 4, 2,
                  {.page_table_1 = poisoned({4, 9})});
            }),
            "page_table_1 should have at most 8 columns (req_to_token has 8), got 9");
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_draft_extend_metadata_full(
                  seq_lens, req_pool_indices, req_to_token(), std::nullopt, 2048, 64, {});
            }),
            "fill_draft_extend_metadata_full should get exactly one of extend_seq_lens and "
            "num_draft_tokens, got neither");
}

// Extend: requests in pool rows 2 and 0 add 2 and 1 tokens to KV lengths 3
// and 1.
TEST_P(StepApi, ExtendFillsPerRequestPerTokenAndFlattened) {
  nsa_metadata::ExtendMetadataBuffers buffers{
      .cu_seqlens_q = poisoned({3}),
      .token_to_batch_idx = poisoned({4}),
      .indexer_k_start = poisoned({4}),
      .indexer_k_end = poisoned({4}),
      .page_table_1_flattened = poisoned({5}),
      .num_kv_tokens = torch::zeros({1}, options(at::kLong)),
  };

  nsa_metadata::fill_extend_metadata(torch::tensor({3, 1}, options(at::kLong)),
                                     torch::tensor({2, 1}, options()),
                                     torch::tensor({2, 0}, options()), req_to_token(), 2048, 2,
                                     buffers);

  EXPECT_EQ(to_vector(*buffers.cu_seqlens_q), (std::vector<int32_t>{0, 2, 3}));
  EXPECT_EQ(to_vector(*buffers.token_to_batch_idx), (std::vector<int32_t>{0, 0, 1, 0}));
  EXPECT_EQ(to_vector(*buffers.indexer_k_start), (std::vector<int32_t>{0, 0, 3, 0}));
  EXPECT_EQ(to_vector(*buffers.indexer_k_end), (std::vector<int32_t>{2, 3, 4, 0}));
  EXPECT_EQ(to_vector(*buffers.page_table_1_flattened),
            (std::vector<int32_t>{200, 201, 202, 0, kPoison}));
  EXPECT_EQ(buffers.num_kv_tokens->item<int64_t>(), 4);
}

// index_kpool 4, topk 8: a row of 14 tokens keeps min(12, 8) + 2 = 10, one
// of 5 keeps 4 + 1; target-verify's context lengths in DeepGEMM's layout.
TEST_P(StepApi, IndexKpoolAndPagedMqaContextLens) {
  const at::Tensor req_pool_indices = torch::tensor({2, 0}, options());
  nsa_metadata::StepMetadataBuffers decode{.nsa_cache_seqlens = poisoned({2})};
  nsa_metadata::fill_decode_metadata(torch::tensor({14, 5}, options()), req_pool_indices,
                                     req_to_token(), 8, 2, decode, /*index_kpool=*/4);
  EXPECT_EQ(to_vector(*decode.nsa_cache_seqlens), (std::vector<int32_t>{10, 5}));

  nsa_metadata::StepMetadataBuffers verify{.paged_mqa_context_lens = poisoned({2, 3})};
  nsa_metadata::fill_target_verify_metadata(torch::tensor({4, 1}, options()), req_pool_indices,
                                            req_to_token(), 3, 8, 2, verify);
  EXPECT_EQ(to_vector(*verify.paged_mqa_context_lens),
            (std::vector<int32_t>{7, 7, 7, 4, 4, 4}));

  const auto [expanded, cached] = nsa_metadata::draft_extend_metadata(
      torch::tensor({1, 1}, options()), torch::tensor({14, 5}, options()), 8, 3,
      /*index_kpool=*/4);
  EXPECT_EQ(to_vector(cached), (std::vector<int32_t>{10, 5, 0}));
}

INSTANTIATE_TEST_SUITE_P(Devices, StepApi, ::testing::Values("cpu", "cuda"),
                         [](const auto& info) { return info.param; });

TEST(StepCpuDataChecks, PoolIndexOutsideTheTableNamesTheRequest) {
  const at::Tensor seq_lens = torch::tensor({3, 1}, at::kInt);
  const at::Tensor req_pool_indices = torch::tensor({2, 3}, at::kInt);
  const at::Tensor req_to_token = torch::zeros({3, 8}, at::kInt);
  EXPECT_EQ(error_of([&] {
              nsa_metadata::fill_decode_metadata(seq_lens, req_pool_indices, req_to_token, 2, 2,
                                                 {.page_table_1 = torch::zeros({2, 8}, at::kInt)});
            }),
            "req_pool_indices[1] should be in [0, 3) (the rows of req_to_token), got 3");
}

}  // namespace

// The library's CUDA kernels on CPU tensors, run by the CPU emulation
// (cuda_emulation.h): the operators nsa_metadata_emulated::<op>, whose
// schemas test_emulated_kernels.py copies from nsa_metadata's, take the CUDA
// operators' host checks, their launchers' plans (step_metadata/plan.cuh,
// draft_extend/plan.cuh) and the kernels themselves, so that machines
// without a GPU test the kernels' logic against the reference, bad device
// values and guard regions included.
#include "cuda_emulation.h"  // before any device code

#include "common/dispatch.h"
#include "draft_extend/checks.h"
#include "draft_extend/device/kernel.cuh"
#include "draft_extend/plan.cuh"
#include "extend/checks.h"
#include "extend/engine.h"
#include "extend/registration.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/plan.cuh"
#include "step_metadata/registration.h"

#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <functional>

namespace nsa_metadata::emulation {
namespace {

// A GPU of two multiprocessors: grids stay small (few fibers), and their
// warps and blocks loop over the work, as on a GPU with a large batch.
constexpr int64_t kMultiprocessors = 2;

void run_engine(const step_metadata::Model& model, const at::Tensor& req_pool_indices,
                const at::Tensor& req_to_token, int64_t page_size,
                const step_metadata::Buffers& buffers) {
  using step_metadata::cuda::RowShape;
  namespace kernels = step_metadata::cuda;
  const step_metadata::Plan plan = step_metadata::plan_engine(
      model, req_pool_indices, req_to_token, page_size, buffers, kMultiprocessors);
  const kernels::Launch launch = plan.launch;
  std::function<void()> kernel;
  if (!plan.warp_batch) {
    kernel = plan.extend ? std::function<void()>([&] { kernels::step_metadata_kernel<true>(launch); })
                         : [&] { kernels::step_metadata_kernel<false>(launch); };
  } else if (plan.rows == RowShape::kVariable) {
    kernel = plan.extend
                 ? std::function<void()>([&] {
                     kernels::step_metadata_warp_batch_kernel<RowShape::kVariable, true>(launch);
                   })
                 : [&] {
                     kernels::step_metadata_warp_batch_kernel<RowShape::kVariable, false>(launch);
                   };
  } else if (plan.rows == RowShape::kOne) {
    kernel = [&] { kernels::step_metadata_warp_batch_kernel<RowShape::kOne, false>(launch); };
  } else {
    kernel = [&] { kernels::step_metadata_warp_batch_kernel<RowShape::kFixed, false>(launch); };
  }
  cuda_emulation::launch(plan.blocks, kernels::kThreads, kernel);
}

void fill_step_metadata_emulated(const step_metadata::Arguments& arguments) {
  step_metadata::check_arguments(arguments);
  step_metadata::check_no_aliasing(arguments);
  run_engine(step_metadata::model_of(arguments), arguments.req_pool_indices,
             arguments.req_to_token, arguments.page_size,
             step_metadata::buffers_of(arguments.outputs));
}

void fill_extend_metadata_emulated(const extend::Arguments& arguments) {
  extend::check_arguments(arguments);
  extend::check_no_aliasing(arguments);
  run_engine(extend::model_of(arguments), arguments.req_pool_indices, arguments.req_to_token,
             arguments.page_size, extend::buffers_of(arguments.outputs));
}

// fill_draft_extend_metadata's kernels: one pass, or two over a workspace
// (in order here, as the second waits for the first on a GPU).
void fill_draft_extend_metadata_emulated(const at::Tensor& extend_seq_lens,
                                         const at::Tensor& seq_lens, int64_t nsa_index_topk,
                                         const at::Tensor& seqlens_expanded,
                                         const at::Tensor& nsa_cache_seqlens,
                                         const std::optional<at::Tensor>& num_tokens,
                                         int64_t index_kpool) {
  namespace kernels = draft_extend::cuda;
  draft_extend::check_arguments(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                                nsa_cache_seqlens, num_tokens, index_kpool);
  draft_extend::check_no_aliasing(extend_seq_lens, seq_lens, seqlens_expanded,
                                  nsa_cache_seqlens, num_tokens);
  const draft_extend::Plan plan =
      draft_extend::plan_launch(extend_seq_lens, seq_lens, nsa_index_topk, index_kpool,
                                seqlens_expanded, nsa_cache_seqlens, kMultiprocessors);
  const kernels::Launch& launch = plan.launch;
  const auto blocks = static_cast<unsigned>(plan.blocks);
  const at::Tensor chunk_tokens =
      plan.two_pass ? at::empty({plan.blocks}, extend_seq_lens.options().dtype(at::kLong))
                    : at::Tensor();
  const at::ScalarType count_dtype =
      num_tokens.has_value() ? num_tokens->scalar_type() : at::kLong;
  dispatch_index_type(extend_seq_lens.scalar_type(), [&](auto extend_tag) {
    using extend_t = decltype(extend_tag);
    const extend_t* extend = extend_seq_lens.const_data_ptr<extend_t>();
    if (plan.two_pass) {
      int64_t* tokens = chunk_tokens.mutable_data_ptr<int64_t>();
      cuda_emulation::launch(blocks, kernels::kThreads, [&] {
        kernels::chunk_tokens_kernel<extend_t>(extend, tokens, launch);
      });
    }
    dispatch_index_type(seq_lens.scalar_type(), [&](auto seq_tag) {
      using seq_t = decltype(seq_tag);
      const seq_t* seq = seq_lens.const_data_ptr<seq_t>();
      dispatch_index_type(count_dtype, [&](auto count_tag) {
        using count_t = decltype(count_tag);
        count_t* counter =
            num_tokens.has_value() ? num_tokens->mutable_data_ptr<count_t>() : nullptr;
        if (plan.two_pass) {
          const int64_t* tokens = chunk_tokens.const_data_ptr<int64_t>();
          cuda_emulation::launch(blocks, kernels::kThreads, [&] {
            kernels::expand_kernel<extend_t, seq_t, count_t>(extend, seq, counter, tokens,
                                                             launch);
          });
        } else {
          cuda_emulation::launch(blocks, kernels::kThreads, [&] {
            kernels::single_pass_kernel<extend_t, seq_t, count_t>(extend, seq, counter, launch);
          });
        }
      });
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata_emulated, CPU, m) {
  step_metadata::register_step_metadata_kernels<&fill_step_metadata_emulated>(m);
  extend::register_extend_kernel<&fill_extend_metadata_emulated>(m);
  m.impl("fill_draft_extend_metadata", &fill_draft_extend_metadata_emulated);
}

}  // namespace nsa_metadata::emulation

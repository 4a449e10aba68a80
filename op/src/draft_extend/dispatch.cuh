// fill_draft_extend_metadata's kernel instances for a call's dtypes, in the
// order its plan (plan.cuh) runs them: host code, for the launcher (cuda.cu)
// and the CPU emulation (tests/emulation) alike, each with its own way to
// launch a kernel.
#pragma once

#include "common/dispatch.h"
#include "draft_extend/device/kernel.cuh"
#include "draft_extend/plan.cuh"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::draft_extend {

// launch(kernel, args...) runs one kernel on the plan's grid; with two
// passes, launch_dependent(kernel, args...) runs expand_kernel after
// chunk_tokens_kernel has filled the workspace: 8 bytes a block from
// PyTorch's allocator on the inputs' device (on the GPU stream-ordered, so
// it stays the kernels' until they are done).
template <typename Launch, typename LaunchDependent>
void run_kernels(const Plan& plan, const at::Tensor& extend_seq_lens, const at::Tensor& seq_lens,
                 const std::optional<at::Tensor>& num_tokens, const Launch& launch,
                 const LaunchDependent& launch_dependent) {
  const at::Tensor chunk_tokens =
      plan.two_pass ? at::empty({plan.blocks}, extend_seq_lens.options().dtype(at::kLong))
                    : at::Tensor();
  const at::ScalarType count_dtype =
      num_tokens.has_value() ? num_tokens->scalar_type() : at::kLong;
  dispatch_index_type(extend_seq_lens.scalar_type(), [&](auto extend_tag) {
    using extend_t = decltype(extend_tag);
    const extend_t* extend = extend_seq_lens.const_data_ptr<extend_t>();
    if (plan.two_pass) {
      launch(cuda::chunk_tokens_kernel<extend_t>, extend,
             chunk_tokens.mutable_data_ptr<int64_t>(), plan.launch);
    }
    dispatch_index_type(seq_lens.scalar_type(), [&](auto seq_tag) {
      using seq_t = decltype(seq_tag);
      const seq_t* seq = seq_lens.const_data_ptr<seq_t>();
      dispatch_index_type(count_dtype, [&](auto count_tag) {
        using count_t = decltype(count_tag);
        count_t* counter =
            num_tokens.has_value() ? num_tokens->mutable_data_ptr<count_t>() : nullptr;
        if (plan.two_pass) {
          launch_dependent(cuda::expand_kernel<extend_t, seq_t, count_t>, extend, seq, counter,
                           chunk_tokens.const_data_ptr<int64_t>(), plan.launch);
        } else {
          launch(cuda::single_pass_kernel<extend_t, seq_t, count_t>, extend, seq, counter,
                 plan.launch);
        }
      });
    });
  });
}

}  // namespace nsa_metadata::draft_extend

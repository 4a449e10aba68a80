// The row-scan kernels' instances for a call's dtypes, in the order its plan
// (plan.cuh) runs them: host code, for the engine's launcher (../launch.cu)
// and the CPU emulation (tests/emulation) alike, each with its own way to
// launch a kernel.
#pragma once

#include "common/dispatch.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"
#include "step_metadata/row_scan/device/kernel.cuh"
#include "step_metadata/row_scan/plan.cuh"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan {

// launch(kernel, args...) runs one kernel on the plan's grid; with two
// passes, launch_dependent(kernel, args...) runs expand_kernel after
// chunk_tokens_kernel has filled the workspace: 8 bytes a block from
// PyTorch's allocator on `device` (on a GPU stream-ordered, so it stays the
// kernels' until they are done). Only fill_draft_extend_metadata plans two
// passes (launch.h).
template <typename Launch, typename LaunchDependent>
void run_kernels(const Plan& plan, const Model& model, const Buffers& buffers,
                 c10::Device device, const Launch& launch,
                 const LaunchDependent& launch_dependent) {
  const at::Tensor chunk_tokens =
      plan.two_pass ? at::empty({plan.blocks}, at::TensorOptions().dtype(at::kLong).device(device))
                    : at::Tensor();
  const Counter& num_tokens = buffers.num_tokens;
  dispatch_index_width(model.extend_seq_lens.is_int64, [&](auto extend_tag) {
    using extend_t = decltype(extend_tag);
    const auto* extend = static_cast<const extend_t*>(model.extend_seq_lens.data);
    if (plan.two_pass) {
      launch(cuda::chunk_tokens_kernel<extend_t>, extend,
             chunk_tokens.mutable_data_ptr<int64_t>(), plan.launch);
    }
    dispatch_index_width(model.seq_lens.is_int64, [&](auto seq_tag) {
      using seq_t = decltype(seq_tag);
      const auto* seq = static_cast<const seq_t*>(model.seq_lens.data);
      // Without num_tokens, the int64 instance with no counter.
      dispatch_index_width(num_tokens.data == nullptr || num_tokens.is_int64, [&](auto count_tag) {
        using count_t = decltype(count_tag);
        auto* counter = static_cast<count_t*>(num_tokens.data);
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

}  // namespace nsa_metadata::step_metadata::row_scan

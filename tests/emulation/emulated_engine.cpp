// The step-metadata engine's CUDA kernels on CPU tensors, run by the CPU
// emulation (cuda_emulation.h): the operators nsa_metadata_emulated::<op>,
// whose schemas test_emulated_kernels.py copies from nsa_metadata's, take the
// CUDA kernels' host checks, the launcher's plan (step_metadata/plan.cuh) and
// the kernels themselves, so that machines without a GPU test the kernels'
// logic against the reference, bad device values and guard regions included.
#include "cuda_emulation.h"  // before any device code

#include "extend/checks.h"
#include "extend/engine.h"
#include "extend/registration.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/plan.cuh"
#include "step_metadata/registration.h"

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

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata_emulated, CPU, m) {
  step_metadata::register_step_metadata_kernels<&fill_step_metadata_emulated>(m);
  extend::register_extend_kernel<&fill_extend_metadata_emulated>(m);
}

}  // namespace nsa_metadata::emulation

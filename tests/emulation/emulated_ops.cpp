// The library's CUDA kernels on CPU tensors, run by the CPU emulation
// (cuda_emulation.h): the operators nsa_metadata_emulated::<op>, whose
// schemas test_emulated_kernels.py copies from nsa_metadata's, take the CUDA
// operators' host checks, the engine's plans (step_metadata/plan.cuh,
// step_metadata/row_scan/plan.cuh) and the kernels themselves, so that machines
// without a GPU test the kernels' logic against the reference, bad device
// values and guard regions included.
#include "cuda_emulation.h"  // before any device code

#include "draft_extend/checks.h"
#include "draft_extend/engine.h"
#include "draft_extend/registration.h"
#include "extend/checks.h"
#include "extend/engine.h"
#include "extend/registration.h"
#include "step_metadata/buffers.h"
#include "step_metadata/checks.h"
#include "step_metadata/device/kernel.cuh"
#include "step_metadata/plan.cuh"
#include "step_metadata/registration.h"
#include "step_metadata/row_scan/dispatch.cuh"
#include "step_metadata/row_scan/plan.cuh"

#include <torch/library.h>

#include <cstdlib>
#include <functional>
#include <string>

namespace nsa_metadata::emulation {
namespace {

// A GPU of two multiprocessors: grids stay small (few fibers), and their
// warps and blocks loop over the work, as on a GPU with a large batch.
// NSA_EMULATION_MULTIPROCESSORS sets another count, for plans only a larger
// GPU makes.
int64_t multiprocessors() {
  const char* count = std::getenv("NSA_EMULATION_MULTIPROCESSORS");
  return count != nullptr ? std::stoll(count) : 2;
}

// Each call runs its launches in the order NSA_EMULATION_SCHEDULE_SEED draws
// (cuda_emulation::set_schedule; unset or 0: blocks and threads in order).
void schedule_from_environment() {
  const char* seed = std::getenv("NSA_EMULATION_SCHEDULE_SEED");
  cuda_emulation::set_schedule(seed != nullptr ? std::stoull(seed) : 0);
}

// The row-scan kernels: one pass, or two over a workspace (in order here, as
// the second waits for the first on a GPU).
void run_row_scan(const step_metadata::row_scan::Plan& plan, const step_metadata::Model& model,
                  const step_metadata::Buffers& buffers) {
  namespace row_scan = step_metadata::row_scan;
  const auto blocks = static_cast<unsigned>(plan.blocks);
  const auto run = [&](auto kernel, auto... arguments) {
    cuda_emulation::launch(blocks, row_scan::cuda::kThreads, [&] { kernel(arguments...); });
  };
  row_scan::run_kernels(plan, model, buffers, at::kCPU, run, run);
}

// The engine's plan and kernels, as the launcher (step_metadata/launch.cu)
// launches them.
void run_engine(const step_metadata::Model& model, const at::Tensor& req_pool_indices,
                const at::Tensor& req_to_token, int64_t page_size,
                const step_metadata::Buffers& buffers) {
  namespace kernels = step_metadata::cuda;
  schedule_from_environment();
  const step_metadata::Plan plan = step_metadata::plan_engine(
      model, req_pool_indices, req_to_token, page_size, buffers, multiprocessors());
  if (plan.row_scan) {
    run_row_scan(plan.row_scan_plan, model, buffers);
    return;
  }
  kernels::run_kernel(plan.kernel, plan.rows, plan.extend, plan.small, plan.launch,
                      [&](auto kernel, const auto&... arguments) {
                        cuda_emulation::launch(plan.blocks, kernels::kThreads,
                                               [&] { kernel(arguments...); });
                      });
}

// The operators' bodies, not inlined into their registrations:
// benchmarks/bench_host_work.py counts the instructions a call runs inside.
[[gnu::noinline]] void fill_step_metadata_emulated(const step_metadata::Arguments& arguments) {
  step_metadata::check_arguments(arguments);
  step_metadata::check_no_aliasing(arguments);
  run_engine(step_metadata::model_of(arguments), arguments.req_pool_indices,
             arguments.req_to_token, arguments.page_size,
             step_metadata::buffers_of(arguments.outputs));
}

[[gnu::noinline]] void fill_extend_metadata_emulated(const extend::Arguments& arguments) {
  extend::check_arguments(arguments);
  extend::check_no_aliasing(arguments);
  run_engine(extend::model_of(arguments), arguments.req_pool_indices, arguments.req_to_token,
             arguments.page_size, extend::buffers_of(arguments.outputs));
}

// fill_draft_extend_metadata: the engine's row-scan kernels at any size
// (step_metadata/launch.h, launch_row_vectors).
[[gnu::noinline]] void fill_draft_extend_metadata_emulated(
    const draft_extend::Arguments& arguments) {
  draft_extend::check_arguments(arguments);
  draft_extend::check_no_aliasing(arguments);
  const step_metadata::Model model = draft_extend::model_of(arguments);
  const step_metadata::Buffers buffers = draft_extend::buffers_of(arguments);
  schedule_from_environment();
  run_row_scan(step_metadata::row_scan::plan_launch(model, arguments.extend_seq_lens.size(0),
                                                    buffers, multiprocessors(),
                                                    /*two_passes_allowed=*/true),
               model, buffers);
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata_emulated, CPU, m) {
  step_metadata::register_step_metadata_kernels<&fill_step_metadata_emulated>(m);
  extend::register_extend_kernel<&fill_extend_metadata_emulated>(m);
  draft_extend::register_draft_extend_kernel<&fill_draft_extend_metadata_emulated>(m);
}

}  // namespace nsa_metadata::emulation

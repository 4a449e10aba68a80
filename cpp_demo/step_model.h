// The rest of the per-step family from C++: python_demo's model calling
// decode, target-verify and draft-extend metadata with page tables, and
// extend metadata, as TorchScript (step_metadata.ts) and as an AOTInductor
// package (step_metadata.pt2), checked against the reference outputs saved
// with them (step_cases.pt).
#pragma once

#include "demo_paths.h"

#include <ATen/core/Tensor.h>
#include <torch/script.h>

#include <string>
#include <vector>

namespace demo {

struct StepCase {
  std::vector<c10::IValue> inputs;    // seq_lens, req_pool_indices, req_to_token, extend_seq_lens
  std::vector<at::Tensor> expected;  // in the model's output order
};

std::vector<StepCase> load_step_cases(const std::string& path);

// Each runs the model (on `device`; the package on its own), prints a
// summary, and returns whether every output matches the reference.
bool run_step_model(torch::jit::Module& model, const StepCase& step, const at::Device& device);
bool run_step_package(AotiModel& package, const StepCase& step);

}  // namespace demo

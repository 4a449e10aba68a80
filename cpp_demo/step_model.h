// The rest of the per-step family from C++: python_demo's TorchScript model
// calling decode, target-verify and draft-extend metadata with page tables
// (step_metadata.ts), checked against the reference outputs saved with it
// (step_cases.pt).
#pragma once

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

// Runs the model on `device`, prints a summary, returns whether every output
// matches the reference.
bool run_step_model(torch::jit::Module& model, const StepCase& step, const at::Device& device);

}  // namespace demo

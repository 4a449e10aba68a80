// The four ways a C++ application reaches nsa_metadata's operators, each
// checked against the reference outputs that python_demo saved (cases.pt),
// so the C++ side needs no reference of its own:
//   1. the public header, on CPU and CUDA tensors;
//   2. a TorchScript model saved from Python;
//   3. a TorchScript model compiled from source in C++;
//   4. an AOTInductor package of a torch.export program.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/script.h>

#include <optional>
#include <string>
#include <vector>

namespace demo {

// One step of inputs with the reference's outputs (from python_demo's cases.pt).
struct Case {
  at::Tensor extend_seq_lens;
  at::Tensor seq_lens;
  int64_t nsa_index_topk;
  at::Tensor seqlens_expanded;   // expected
  at::Tensor nsa_cache_seqlens;  // expected
  int64_t num_tokens;            // expected
  int64_t capacity() const { return seqlens_expanded.numel(); }
};

struct Outputs {
  at::Tensor seqlens_expanded;
  at::Tensor nsa_cache_seqlens;
  std::optional<int64_t> num_tokens;
};

// Each raises std::runtime_error with a message that says what to do when a
// file is missing or is not what the demo expects.
std::vector<Case> load_cases(const std::string& path);
// What python_demo saved with torch.save; `what` names it in the error.
c10::IValue load_saved(const std::string& path, const char* what);
torch::jit::Module load_scripted_model(const std::string& path);

Outputs run_header(const Case& step, const at::Device& device);
Outputs run_scripted(torch::jit::Module& model, const Case& step, const at::Device& device);
torch::jit::Module build_scripted_model(int64_t capacity, int64_t nsa_index_topk);

// AOTInductor: the package runs on the device it was compiled for.
class AotiModel {
 public:
  explicit AotiModel(const std::string& path);
  ~AotiModel();
  at::Device device() const;
  // The program's outputs for `inputs` (moved to the package's device).
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  // python_demo's draft-extend package on one step.
  Outputs run(const Case& step);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Prints a path's inputs and outputs and whether they match the reference.
bool report(const std::string& path_name, const Case& step, const Outputs& outputs);

}  // namespace demo

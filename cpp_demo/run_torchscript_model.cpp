// The smallest TorchScript app: it loads a model that calls nsa_metadata's
// operators and runs it, and never calls a function of the library itself.
// Linking nsa_metadata::nsa_metadata is all it takes for the operators to be
// registered, even under --as-needed linking (tested in scripts/cpp_demo.sh).
//
//   run_torchscript_model <draft_extend.ts from python_demo>
#include <torch/script.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <TorchScript model>\n";
    return 2;
  }
  try {
    torch::jit::Module model = torch::jit::load(argv[1]);
    const auto extend_seq_lens = torch::tensor({4, 4, 4}, torch::kInt32);
    const auto seq_lens = torch::tensor({3000, 17, 2}, torch::kInt64);
    const auto outputs = model.forward({extend_seq_lens, seq_lens}).toTuple()->elements();
    std::cout << "seqlens_expanded:  " << outputs[0].toTensor().slice(0, 0, 12) << "\n"
              << "nsa_cache_seqlens: " << outputs[1].toTensor().slice(0, 0, 12) << "\n";
  } catch (const c10::Error& error) {
    std::cerr << error.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}

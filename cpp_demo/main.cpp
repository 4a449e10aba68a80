// nsa_metadata from C++: the public header, a TorchScript model saved in
// Python, a TorchScript model built in C++, and an AOTInductor package, each
// checked against the reference outputs python_demo saved; then the step
// family (decode, target-verify, draft-extend with page tables) and extend
// through a model saved in Python, as TorchScript and as an AOTInductor
// package.
//
//   nsa_metadata_cpp_demo <folder written by python_demo/demo.py --out>
//
// Returns non-zero on any mismatch or error.
#include "demo_paths.h"
#include "step_model.h"

#include <torch/cuda.h>

#include <filesystem>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <folder written by python_demo/demo.py --out>\n";
    return 2;
  }
  const std::filesystem::path models = argv[1];
  try {
    const std::vector<demo::Case> cases = demo::load_cases(models / "cases.pt");
    std::vector<at::Device> devices{at::kCPU};
    if (torch::cuda::is_available()) devices.emplace_back(at::kCUDA);

    bool matches = true;
    torch::jit::Module saved = demo::load_scripted_model(models / "draft_extend.ts");
    torch::jit::Module built =
        demo::build_scripted_model(cases.front().capacity(), cases.front().nsa_index_topk);
    for (const at::Device& device : devices) {
      const std::string on = " on " + device.str();
      for (const demo::Case& step : cases) {
        matches &= demo::report("header" + on, step, demo::run_header(step, device));
        matches &= demo::report("TorchScript from Python" + on, step,
                                demo::run_scripted(saved, step, device));
        matches &= demo::report("TorchScript built in C++" + on, step,
                                demo::run_scripted(built, step, device));
      }
    }
    torch::jit::Module step_model = demo::load_scripted_model(models / "step_metadata.ts");
    const std::vector<demo::StepCase> step_cases = demo::load_step_cases(models / "step_cases.pt");
    for (const at::Device& device : devices) {
      for (const demo::StepCase& step : step_cases) {
        matches &= demo::run_step_model(step_model, step, device);
      }
    }
    // python_demo --no-aoti saves no packages.
    const std::filesystem::path package = models / "draft_extend.pt2";
    const std::filesystem::path step_package = models / "step_metadata.pt2";
    if (std::filesystem::exists(package) && std::filesystem::exists(step_package)) {
      demo::AotiModel aoti(package);
      for (const demo::Case& step : cases) {
        matches &= demo::report("AOTInductor on " + aoti.device().str(), step, aoti.run(step));
      }
      demo::AotiModel step_aoti(step_package);
      for (const demo::StepCase& step : step_cases) {
        matches &= demo::run_step_package(step_aoti, step);
      }
    } else {
      std::cout << "[AOTInductor] no packages in " << models << ": skipped\n";
    }
    std::cout << "C++ demo: " << (matches ? "all outputs match the reference" : "MISMATCH")
              << "\n";
    return matches ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "C++ demo failed: " << error.what() << "\n";
    return 1;
  }
}

#include "step_model.h"

#include <iostream>
#include <string>

namespace demo {

std::vector<StepCase> load_step_cases(const std::string& path) {
  // Every IValue is held by name: a range-for over a temporary's list dangles.
  const c10::IValue saved = load_saved(path, "step reference cases");
  std::vector<StepCase> cases;
  for (const c10::IValue& item : saved.toListRef()) {
    const auto dict = item.toGenericDict();
    StepCase step;
    const c10::IValue inputs = dict.at("inputs");
    const c10::IValue expected = dict.at("expected");
    for (const c10::IValue& input : inputs.toListRef()) {
      step.inputs.push_back(input);
    }
    for (const c10::IValue& output : expected.toListRef()) {
      step.expected.push_back(output.toTensor());
    }
    cases.push_back(std::move(step));
  }
  return cases;
}

namespace {

bool report_step(const std::string& path_name, const StepCase& step,
                 const std::vector<at::Tensor>& outputs) {
  bool matches = outputs.size() == step.expected.size();
  for (size_t k = 0; matches && k < outputs.size(); ++k) {
    matches = outputs[k].cpu().equal(step.expected[k]);
  }
  std::cout << "[" << path_name << "] batch of " << step.inputs.front().toTensor().numel()
            << ": " << outputs.size() << " outputs (decode, target-verify, draft-extend, extend), "
            << (matches ? "all match" : "DO NOT ALL MATCH") << " the reference\n";
  return matches;
}

}  // namespace

bool run_step_model(torch::jit::Module& model, const StepCase& step, const at::Device& device) {
  model.to(device);
  std::vector<c10::IValue> inputs;
  for (const c10::IValue& input : step.inputs) {
    inputs.emplace_back(input.toTensor().to(device));
  }
  return report_step("TorchScript step metadata from Python on " + device.str(), step,
                     model.forward(inputs).toTensorVector());
}

bool run_step_package(AotiModel& package, const StepCase& step) {
  std::vector<at::Tensor> inputs;
  for (const c10::IValue& input : step.inputs) {
    inputs.push_back(input.toTensor());
  }
  return report_step("AOTInductor step metadata on " + package.device().str(), step,
                     package.run(inputs));
}

}  // namespace demo

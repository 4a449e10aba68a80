// Catch2 tests of the C++ demo's paths, against the files python_demo saved
// (folder in $NSA_DEMO_MODELS), and of the failures a user can meet.
// CMake says which Catch2 it found: a machine can have the headers of one
// major version on its include path and the package of the other.
#if NSA_DEMO_CATCH2_MAJOR >= 3
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Matchers::ContainsSubstring;
#else
#include <catch2/catch.hpp>
#define ContainsSubstring Catch::Matchers::Contains
#endif

#include "demo_paths.h"
#include "step_model.h"

#include <torch/cuda.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>


namespace {

std::filesystem::path models() {
  const char* folder = std::getenv("NSA_DEMO_MODELS");
  if (folder == nullptr) throw std::runtime_error("set NSA_DEMO_MODELS to python_demo's --out");
  return folder;
}

const std::vector<demo::Case>& cases() {
  static const std::vector<demo::Case> loaded = demo::load_cases(models() / "cases.pt");
  return loaded;
}

std::vector<at::Device> devices() {
  std::vector<at::Device> found{at::kCPU};
  if (torch::cuda::is_available()) found.emplace_back(at::kCUDA);
  return found;
}

template <typename Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the reference cases load") {
  REQUIRE(cases().size() >= 2);
  REQUIRE(cases().front().capacity() > 0);
}

TEST_CASE("the public header matches the reference") {
  for (const at::Device& device : devices()) {
    for (const demo::Case& step : cases()) {
      CHECK(demo::report("header on " + device.str(), step, demo::run_header(step, device)));
    }
  }
}

TEST_CASE("a TorchScript model saved in Python runs from C++") {
  torch::jit::Module model = demo::load_scripted_model(models() / "draft_extend.ts");
  for (const at::Device& device : devices()) {
    for (const demo::Case& step : cases()) {
      const demo::Outputs outputs = demo::run_scripted(model, step, device);
      REQUIRE(outputs.num_tokens.has_value());
      CHECK(demo::report("TorchScript from Python", step, outputs));
    }
  }
}

TEST_CASE("a TorchScript model built in C++ runs") {
  torch::jit::Module model =
      demo::build_scripted_model(cases().front().capacity(), cases().front().nsa_index_topk);
  for (const at::Device& device : devices()) {
    for (const demo::Case& step : cases()) {
      CHECK(demo::report("TorchScript built in C++", step, demo::run_scripted(model, step, device)));
    }
  }
}

TEST_CASE("an AOTInductor package runs from C++") {
  demo::AotiModel model((models() / "draft_extend.pt2").string());
  for (const demo::Case& step : cases()) {
    CHECK(demo::report("AOTInductor on " + model.device().str(), step, model.run(step)));
  }
}

TEST_CASE("a missing model file gives a clear message") {
  const std::string missing = (models() / "no_such_model.ts").string();
  CHECK_THAT(error_of([&] { demo::load_scripted_model(missing); }),
             ContainsSubstring("TorchScript model not found: " + missing));
  CHECK_THAT(error_of([&] { demo::AotiModel model(missing); }),
             ContainsSubstring("AOTInductor package not found"));
  CHECK_THAT(error_of([&] { demo::load_cases(missing); }),
             ContainsSubstring("reference cases not found"));
}

TEST_CASE("a model saved without the op gives a clear message") {
  CHECK_THAT(error_of([&] { demo::load_scripted_model(models() / "plain.ts"); }),
             ContainsSubstring("calls no nsa_metadata operator: it was saved without the op"));
}

TEST_CASE("a file that is not a model gives a clear message") {
  CHECK_THAT(error_of([&] { demo::load_scripted_model(models() / "cases.pt"); }),
             ContainsSubstring("could not load TorchScript model"));
}

TEST_CASE("the step-metadata TorchScript model from Python matches the reference") {
  torch::jit::Module model = demo::load_scripted_model(models() / "step_metadata.ts");
  const std::vector<demo::StepCase> steps = demo::load_step_cases(models() / "step_cases.pt");
  REQUIRE(steps.size() >= 2);
  for (const at::Device& device : devices()) {
    for (const demo::StepCase& step : steps) {
      CHECK(demo::run_step_model(model, step, device));
    }
  }
}

TEST_CASE("the step-metadata AOTInductor package from Python matches the reference") {
  demo::AotiModel package((models() / "step_metadata.pt2").string());
  const std::vector<demo::StepCase> steps = demo::load_step_cases(models() / "step_cases.pt");
  REQUIRE(steps.size() >= 2);
  for (const demo::StepCase& step : steps) {
    CHECK(demo::run_step_package(package, step));
  }
}

#include "demo_paths.h"

#include <nsa_metadata/nsa_metadata.h>

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace demo {
namespace {

void require_file(const std::string& path, const char* what) {
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error(std::string(what) + " not found: " + path +
                             " (run python_demo/demo.py --out <folder> first)");
  }
}

at::Tensor entry(const c10::Dict<c10::IValue, c10::IValue>& dict, const char* key) {
  return dict.at(key).toTensor();
}

// Does any node of the graph, nested blocks included, call an nsa_metadata op?
bool calls_nsa_metadata(const torch::jit::Block& block) {
  for (const torch::jit::Node* node : block.nodes()) {
    if (std::string(node->kind().toQualString()).rfind("nsa_metadata::", 0) == 0) {
      return true;
    }
    for (const torch::jit::Block* nested : node->blocks()) {
      if (calls_nsa_metadata(*nested)) return true;
    }
  }
  return false;
}

std::string to_string(const at::Tensor& tensor) {
  std::ostringstream text;
  text << "[";
  const at::Tensor values = tensor.cpu().to(at::kLong);
  for (int64_t i = 0; i < values.numel(); ++i) {
    text << (i ? ", " : "") << values[i].item<int64_t>();
  }
  text << "]";
  return text.str();
}

Outputs outputs_of(const c10::IValue& result) {
  const auto elements = result.toTupleRef().elements();
  Outputs outputs{elements.at(0).toTensor(), elements.at(1).toTensor(), std::nullopt};
  if (elements.size() > 2) outputs.num_tokens = elements.at(2).toTensor().cpu().item<int64_t>();
  return outputs;
}

// Module::define's default resolver knows `torch.<aten op>` only; this one
// also resolves `torch.ops.<namespace>.<op>`, as Python's TorchScript does,
// so the C++ source reads like the Python model's.
struct OpsNamespaces : torch::jit::SugaredValue {
  std::string kind() const override { return "torch.ops"; }
  std::shared_ptr<torch::jit::SugaredValue> attr(const torch::jit::SourceRange&,
                                                 torch::jit::GraphFunction&,
                                                 const std::string& ns) override {
    return std::make_shared<torch::jit::BuiltinModule>(ns);
  }
};

struct TorchModule : torch::jit::SugaredValue {
  std::string kind() const override { return "torch"; }
  std::shared_ptr<torch::jit::SugaredValue> attr(const torch::jit::SourceRange& loc,
                                                 torch::jit::GraphFunction& function,
                                                 const std::string& field) override {
    if (field == "ops") return std::make_shared<OpsNamespaces>();
    return torch::jit::BuiltinModule("aten").attr(loc, function, field);
  }
};

struct TorchOpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name,
                                                         torch::jit::GraphFunction&,
                                                         const torch::jit::SourceRange&) override {
    return name == "torch" ? std::make_shared<TorchModule>() : nullptr;
  }
};

}  // namespace

c10::IValue load_saved(const std::string& path, const char* what) {
  require_file(path, what);
  std::ifstream file(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)),
                                std::istreambuf_iterator<char>());
  return torch::jit::pickle_load(bytes);
}

std::vector<Case> load_cases(const std::string& path) {
  const c10::IValue saved = load_saved(path, "reference cases");
  std::vector<Case> cases;
  for (const c10::IValue& item : saved.toListRef()) {
    const auto dict = item.toGenericDict();
    cases.push_back(Case{entry(dict, "extend_seq_lens"), entry(dict, "seq_lens"),
                         entry(dict, "nsa_index_topk").item<int64_t>(),
                         entry(dict, "seqlens_expanded"), entry(dict, "nsa_cache_seqlens"),
                         entry(dict, "num_tokens").item<int64_t>()});
  }
  return cases;
}

torch::jit::Module load_scripted_model(const std::string& path) {
  require_file(path, "TorchScript model");
  torch::jit::Module model;
  try {
    model = torch::jit::load(path);
  } catch (const c10::Error& error) {
    // The usual cause: the app was linked without nsa_metadata, so the
    // operators the model calls were never registered.
    throw std::runtime_error("could not load TorchScript model " + path + ": " +
                             error.what_without_backtrace() +
                             " (an app that runs it must link nsa_metadata::nsa_metadata)");
  }
  if (!calls_nsa_metadata(*model.get_method("forward").graph()->block())) {
    throw std::runtime_error("TorchScript model " + path +
                             " calls no nsa_metadata operator: it was saved without the op; "
                             "save the model from python_demo/demo.py");
  }
  return model;
}

Outputs run_header(const Case& step, const at::Device& device) {
  const auto int32 = at::TensorOptions(device).dtype(at::kInt);
  Outputs outputs{torch::full({step.capacity()}, -1, int32),
                  torch::full({step.capacity()}, -1, int32), std::nullopt};
  const at::Tensor num_tokens = torch::zeros({1}, int32.dtype(at::kLong));
  nsa_metadata::fill_draft_extend_metadata(step.extend_seq_lens.to(device),
                                           step.seq_lens.to(device), step.nsa_index_topk,
                                           outputs.seqlens_expanded, outputs.nsa_cache_seqlens,
                                           num_tokens);
  outputs.num_tokens = num_tokens.cpu().item<int64_t>();
  return outputs;
}

Outputs run_scripted(torch::jit::Module& model, const Case& step, const at::Device& device) {
  model.to(device);
  return outputs_of(model.forward({step.extend_seq_lens.to(device), step.seq_lens.to(device)}));
}

torch::jit::Module build_scripted_model(int64_t capacity, int64_t nsa_index_topk) {
  torch::jit::Module model("DraftExtendMetadataFromCpp");
  model.register_attribute("capacity", c10::IntType::get(), capacity);
  model.register_attribute("nsa_index_topk", c10::IntType::get(), nsa_index_topk);
  model.define(R"JIT(
def forward(self, extend_seq_lens: Tensor, seq_lens: Tensor):
    seqlens_expanded, nsa_cache_seqlens = torch.ops.nsa_metadata.draft_extend_metadata(
        extend_seq_lens, seq_lens, self.nsa_index_topk, self.capacity)
    return seqlens_expanded, nsa_cache_seqlens
)JIT",
               std::make_shared<TorchOpsResolver>());
  return model;
}

struct AotiModel::Impl {
  explicit Impl(const std::string& path) : loader(path) {}
  torch::inductor::AOTIModelPackageLoader loader;
};

AotiModel::AotiModel(const std::string& path) {
  require_file(path, "AOTInductor package");
  impl_ = std::make_unique<Impl>(path);
}

AotiModel::~AotiModel() = default;

at::Device AotiModel::device() const {
  return at::Device(impl_->loader.get_metadata().at("AOTI_DEVICE_KEY"));
}

std::vector<at::Tensor> AotiModel::run(const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> on_device;
  for (const at::Tensor& input : inputs) {
    on_device.push_back(input.to(device()));
  }
  return impl_->loader.run(on_device);
}

Outputs AotiModel::run(const Case& step) {
  const std::vector<at::Tensor> results =
      run(std::vector<at::Tensor>{step.extend_seq_lens, step.seq_lens});
  return Outputs{results.at(0), results.at(1), std::nullopt};
}

bool report(const std::string& path_name, const Case& step, const Outputs& outputs) {
  bool matches = outputs.seqlens_expanded.cpu().equal(step.seqlens_expanded) &&
                 outputs.nsa_cache_seqlens.cpu().equal(step.nsa_cache_seqlens);
  if (outputs.num_tokens) matches = matches && *outputs.num_tokens == step.num_tokens;
  std::cout << "[" << path_name << "] extend_seq_lens=" << to_string(step.extend_seq_lens)
            << " seq_lens=" << to_string(step.seq_lens) << "\n"
            << "    seqlens_expanded  = " << to_string(outputs.seqlens_expanded) << "\n"
            << "    nsa_cache_seqlens = " << to_string(outputs.nsa_cache_seqlens) << "\n";
  if (outputs.num_tokens) std::cout << "    num_tokens        = " << *outputs.num_tokens << "\n";
  std::cout << "    " << (matches ? "matches" : "DOES NOT MATCH") << " the reference\n";
  return matches;
}

}  // namespace demo

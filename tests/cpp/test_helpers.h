// Helpers shared by the GoogleTest files of the public header.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nsa_metadata_test {

inline std::vector<int32_t> to_vector(const at::Tensor& tensor) {
  const at::Tensor cpu = tensor.cpu().contiguous();
  return {cpu.data_ptr<int32_t>(), cpu.data_ptr<int32_t>() + cpu.numel()};
}

// The message of the error a call raises, or "" if it raises none.
template <typename Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const c10::Error& error) {
    return error.what_without_backtrace();
  }
  return "";
}

}  // namespace nsa_metadata_test

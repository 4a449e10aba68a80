# Finds libtorch. Without Torch_DIR or CMAKE_PREFIX_PATH pointing at it, asks
# the Python interpreter on PATH (or Python_EXECUTABLE) where its torch wheel
# keeps the CMake config, so `cmake -S . -B build` works inside a venv.
if(NOT NSA_METADATA_WITH_CUDA)
  include(nsa_metadata_torch_without_cuda)
endif()
find_package(Torch QUIET CONFIG)
if(NOT Torch_FOUND)
  find_package(Python REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _nsa_torch_prefix
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _nsa_torch_result)
  if(NOT _nsa_torch_result EQUAL 0)
    message(FATAL_ERROR "libtorch not found: install torch into ${Python_EXECUTABLE}'s "
                        "environment, or pass -DCMAKE_PREFIX_PATH=<torch cmake prefix>")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${_nsa_torch_prefix}")
  if(NOT NSA_METADATA_WITH_CUDA)
    include(nsa_metadata_torch_without_cuda)
  endif()
  find_package(Torch REQUIRED CONFIG)
endif()
# The oldest libtorch the tests run against (docs/testing.md lists them).
set(NSA_METADATA_OLDEST_TORCH 2.11)
if(Torch_VERSION VERSION_LESS NSA_METADATA_OLDEST_TORCH)
  message(FATAL_ERROR "nsa_metadata needs libtorch ${NSA_METADATA_OLDEST_TORCH} or newer, "
                      "found libtorch ${Torch_VERSION} at ${Torch_DIR}")
endif()
message(STATUS "nsa_metadata: libtorch ${Torch_VERSION} from ${Torch_DIR}")
# Where libtorch's shared libraries are, for the installed library's RUNPATH.
get_filename_component(NSA_METADATA_TORCH_LIBRARY_DIR "${TORCH_LIBRARY}" DIRECTORY)

# Decides whether the CUDA kernels are built (NSA_METADATA_WITH_CUDA), and
# says so: a CPU-only library is a valid build, but never a silent one.
include(CheckLanguage)

set(NSA_METADATA_WITH_CUDA OFF)
if(NOT NSA_METADATA_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(NSA_METADATA_WITH_CUDA ON)
    # libtorch's CMake config picks the -gencode flags from
    # TORCH_CUDA_ARCH_LIST and ignores (with a warning) CMAKE_CUDA_ARCHITECTURES.
    unset(CMAKE_CUDA_ARCHITECTURES)
    unset(CMAKE_CUDA_ARCHITECTURES CACHE)
    if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT DEFINED TORCH_CUDA_ARCH_LIST)
      set(TORCH_CUDA_ARCH_LIST "${NSA_METADATA_CUDA_ARCH_LIST}")
    endif()
    # libtorch's CMake config finds the toolkit through FindCUDA, which looks
    # next to the first nvcc on PATH; a wrapper script outside the toolkit
    # (as /usr/local/bin/nvcc on some machines) would send it astray.
    if(NOT DEFINED CUDA_TOOLKIT_ROOT_DIR AND CMAKE_CUDA_COMPILER_TOOLKIT_ROOT)
      set(CUDA_TOOLKIT_ROOT_DIR "${CMAKE_CUDA_COMPILER_TOOLKIT_ROOT}")
    endif()
  elseif(NSA_METADATA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "NSA_METADATA_CUDA=ON, but no CUDA compiler was found "
                        "(set CMAKE_CUDA_COMPILER or put nvcc on PATH)")
  endif()
endif()

if(NSA_METADATA_WITH_CUDA)
  message(STATUS "nsa_metadata: building CPU, Meta and CUDA kernels "
                 "(CUDA ${CMAKE_CUDA_COMPILER_VERSION}, TORCH_CUDA_ARCH_LIST "
                 "\"${TORCH_CUDA_ARCH_LIST}$ENV{TORCH_CUDA_ARCH_LIST}\")")
else()
  message(STATUS "nsa_metadata: no CUDA compiler (or NSA_METADATA_CUDA=OFF): "
                 "building CPU and Meta kernels only")
endif()

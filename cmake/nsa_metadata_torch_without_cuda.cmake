# libtorch's CMake config, from a CUDA build of torch (what `pip install torch`
# gives on Linux), stops with "Your installed Caffe2 version uses CUDA but I
# cannot find the CUDA libraries" when no CUDA toolkit is found, even for a
# CPU-only consumer. Its CUDA part (public/cuda.cmake) returns at once if the
# target torch::cudart exists; this defines that target, pointing at the CUDA
# runtime that the torch wheel itself depends on (the nvidia-cuda-runtime
# wheel), so libtorch loads for a CPU-only build. Included before
# find_package(Torch) when the CUDA kernels are not built.
if(TARGET torch::cudart)
  return()
endif()
find_path(_nsa_torch_config_dir TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch)
set(_nsa_cudart "")
if(_nsa_torch_config_dir)
  # <site-packages>/torch/share/cmake/Torch -> <site-packages>/nvidia/*/lib
  get_filename_component(_nsa_site_packages "${_nsa_torch_config_dir}/../../../.." ABSOLUTE)
  file(GLOB _nsa_cudart "${_nsa_site_packages}/nvidia/*/lib/libcudart.so*"
                        "${_nsa_site_packages}/nvidia/cuda_runtime/lib/libcudart.so*")
endif()
add_library(torch::cudart INTERFACE IMPORTED)
if(_nsa_cudart)
  list(GET _nsa_cudart 0 _nsa_cudart)
  set_target_properties(torch::cudart PROPERTIES INTERFACE_LINK_LIBRARIES "${_nsa_cudart}")
endif()
unset(_nsa_torch_config_dir CACHE)

# `cmake --install build --prefix P` yields a relocatable package:
#   P/lib/libnsa_metadata.so*, P/include/nsa_metadata/*.h,
#   P/lib/cmake/nsa_metadata/ (config, version, exported targets),
# so that a downstream project writes only
#   find_package(nsa_metadata CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE nsa_metadata::nsa_metadata)
include(CMakePackageConfigHelpers)

set(NSA_METADATA_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/nsa_metadata")

install(TARGETS nsa_metadata EXPORT nsa_metadataTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/op/include/nsa_metadata"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT nsa_metadataTargets NAMESPACE nsa_metadata::
  DESTINATION "${NSA_METADATA_CMAKE_DIR}")

# What the config file checks a consumer's libtorch against, and where it
# looks for it when the consumer names none.
set(NSA_METADATA_TORCH_VERSION "${Torch_VERSION}")
set(NSA_METADATA_TORCH_CMAKE_DIR "${Torch_DIR}")
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/nsa_metadataConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/nsa_metadataConfig.cmake"
  INSTALL_DESTINATION "${NSA_METADATA_CMAKE_DIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/nsa_metadataConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${CMAKE_CURRENT_LIST_DIR}/nsa_metadata_torch_without_cuda.cmake"
  "${PROJECT_BINARY_DIR}/nsa_metadataConfig.cmake"
  "${PROJECT_BINARY_DIR}/nsa_metadataConfigVersion.cmake"
  DESTINATION "${NSA_METADATA_CMAKE_DIR}")

# `pip install .` (scikit-build-core) installs into the Python package's
# folder, so the library, headers and CMake files above land inside it; the
# package also gets the versions it checks at import.
if(SKBUILD)
  configure_file("${CMAKE_CURRENT_LIST_DIR}/nsa_metadata_build_info.py.in"
                 "${PROJECT_BINARY_DIR}/_build_info.py" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/_build_info.py" DESTINATION .)
endif()

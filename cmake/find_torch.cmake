# find_package(Torch) for both build modes, with what LibTorch's own CMake files leave undone.

# LibTorch's CMake files of some 2.x releases link CUDA::nvToolsExt, a library that CUDA 12.9 and
# 13 no longer ship (NVTX became header-only), and stop there. Nothing psmflow builds calls it, so
# an empty target stands in when the toolkit lacks it.
if(PSMFLOW_USE_CUDA AND NOT TARGET CUDA::nvToolsExt AND NOT EXISTS ${PSMFLOW_CUDA_ROOT}/lib64/libnvToolsExt.so)
  add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
endif()
find_package(Torch REQUIRED)

# Recent LibTorch (2.14; 2.6 did not) refuses to compile below C++20. Its TorchConfig.cmake
# records the standard on the imported torch target, which the targets that link it do not
# inherit, so the standard is raised here, before any target is made.
get_target_property(PSMFLOW_TORCH_CXX_STANDARD torch CXX_STANDARD)
if(PSMFLOW_TORCH_CXX_STANDARD GREATER CMAKE_CXX_STANDARD)
  set(CMAKE_CXX_STANDARD ${PSMFLOW_TORCH_CXX_STANDARD})
  message(STATUS "psmflow: C++${CMAKE_CXX_STANDARD}, as LibTorch ${Torch_VERSION} requires")
endif()

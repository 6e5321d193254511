# -DPSMFLOW_TORCH_ONLY=ON: only what needs LibTorch, for a bare GPU machine (tools/gpu-check):
# the model, checkpoints and the device check tools/bench/gpu_check.cpp, and with CUDA the
# gradient-sync engine over its NCCL transport (no MPI: one rank). LibTorch comes from
# CMAKE_PREFIX_PATH (the Python wheel's torch.utils.cmake_prefix_path, or Debian's here); the
# header-only spdlog, fmt and nlohmann-json, and OpenSSL's headers and static libcrypto, from
# .gpu-deps/ (tools/gpu-check --prepare), else from the system.
include(${CMAKE_SOURCE_DIR}/cmake/find_torch.cmake)
set(PSMFLOW_DEPS_INCLUDE "${CMAKE_SOURCE_DIR}/.gpu-deps/usr/include" CACHE PATH "header-only dependencies")
set(model_sources preset.cpp layers.cpp loss.cpp networks.cpp facecycle.cpp torch_pickle.cpp interop.cpp precision.cpp)
list(TRANSFORM model_sources PREPEND ${CMAKE_SOURCE_DIR}/src/model/)
add_executable(gpu_check ${CMAKE_SOURCE_DIR}/tools/bench/gpu_check.cpp ${model_sources}
  ${CMAKE_SOURCE_DIR}/src/train/checkpoint.cpp ${CMAKE_SOURCE_DIR}/src/core/fs.cpp ${CMAKE_SOURCE_DIR}/src/core/hash.cpp)
target_include_directories(gpu_check PRIVATE ${CMAKE_SOURCE_DIR}/include)
if(EXISTS ${PSMFLOW_DEPS_INCLUDE})
  target_include_directories(gpu_check BEFORE PRIVATE ${PSMFLOW_DEPS_INCLUDE})
endif()
target_compile_definitions(gpu_check PRIVATE FMT_HEADER_ONLY)  # spdlog is header-only by default
target_link_libraries(gpu_check PRIVATE ${TORCH_LIBRARIES})
# Checkpoint checksums (src/core/hash.cpp) need OpenSSL's libcrypto. A bare machine has neither its
# headers nor an unversioned library, so .gpu-deps/ carries Debian's headers and static libcrypto.a.
set(PSMFLOW_DEPS_CRYPTO "${CMAKE_SOURCE_DIR}/.gpu-deps/usr/lib/x86_64-linux-gnu/libcrypto.a")
if(EXISTS ${PSMFLOW_DEPS_CRYPTO})
  find_package(Threads REQUIRED)
  target_include_directories(gpu_check BEFORE PRIVATE ${PSMFLOW_DEPS_INCLUDE}/x86_64-linux-gnu)
  target_link_libraries(gpu_check PRIVATE ${PSMFLOW_DEPS_CRYPTO} Threads::Threads ${CMAKE_DL_LIBS})
  message(STATUS "psmflow: OpenSSL from ${PSMFLOW_DEPS_CRYPTO}")
else()
  find_package(OpenSSL REQUIRED)
  target_link_libraries(gpu_check PRIVATE OpenSSL::Crypto)
endif()
target_compile_options(gpu_check PRIVATE -Wall -Wextra)
if(PSMFLOW_USE_CUDA)
  # NCCL from PSMFLOW_NCCL_ROOT (tools/gpu-check passes the one of the Python wheel, whose
  # libnccl.so.2 LibTorch itself loads), else from the CUDA toolkit.
  set(PSMFLOW_NCCL_ROOT "" CACHE PATH "folder with include/nccl.h and lib/libnccl.so.2")
  find_path(PSMFLOW_NCCL_INCLUDE nccl.h HINTS ${PSMFLOW_NCCL_ROOT}/include ${PSMFLOW_CUDA_ROOT}/include REQUIRED)
  find_library(PSMFLOW_NCCL_LIB NAMES nccl libnccl.so.2 HINTS ${PSMFLOW_NCCL_ROOT}/lib ${PSMFLOW_CUDA_ROOT}/lib64 REQUIRED)
  find_package(CUDAToolkit REQUIRED)
  target_sources(gpu_check PRIVATE ${CMAKE_SOURCE_DIR}/src/collectives/grad_sync_engine.cpp
    ${CMAKE_SOURCE_DIR}/src/collectives/grad_buckets.cpp ${CMAKE_SOURCE_DIR}/src/collectives/watchdog.cpp
    ${CMAKE_SOURCE_DIR}/src/collectives/nccl_transport.cpp)
  target_include_directories(gpu_check PRIVATE ${PSMFLOW_NCCL_INCLUDE})
  target_link_libraries(gpu_check PRIVATE ${PSMFLOW_NCCL_LIB} CUDA::cudart)
  target_compile_definitions(gpu_check PRIVATE PSMFLOW_USE_CUDA=1)
  message(STATUS "psmflow: NCCL ${PSMFLOW_NCCL_LIB}")
endif()
message(STATUS "psmflow: LibTorch-only build (gpu_check), LibTorch ${Torch_VERSION}, CUDA ${PSMFLOW_USE_CUDA}")

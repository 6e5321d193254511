// For code that follows a change of LibTorch's C++ API (docs/train.md, "LibTorch versions").
#pragma once
#include <torch/version.h>

#define PSMFLOW_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

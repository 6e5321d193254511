// LibTorch's CPU allocator with large blocks kept for reuse (see src/train/cpu_cache.cpp).
#pragma once
#include <cstddef>

namespace psmflow::train {

// Makes LibTorch allocate CPU tensors through the block cache; idempotent. Called by the plugin
// entry point and by Trainer, so every training or embedding process uses it.
void use_cpu_block_cache();

struct CpuBlockCacheStats {
  std::size_t hits = 0, misses = 0, idle_bytes = 0;
};
CpuBlockCacheStats cpu_block_cache_stats();

}  // namespace psmflow::train

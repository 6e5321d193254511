// Training allocates and frees the same large activation buffers every step. glibc serves blocks
// over 32 MB with fresh mmaps, so every such tensor is first-touch page-faulted again each step:
// on the 2-core VM a ReLU writing 100 MB took 72 ms into a fresh tensor and 8 ms into a reused
// one. Large blocks are therefore kept when freed and handed out again by size, as PyTorch's
// CUDA caching allocator does on the GPU. The kernels, and so the results, are unchanged.
#include "psmflow/train/cpu_cache.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <map>
#include <mutex>
#include <vector>

#include "psmflow/model/torch_version.hpp"

namespace psmflow::train {
namespace {

// The block's size sits in front of the data; 64 bytes keep c10's 64-byte data alignment.
constexpr std::size_t kHeader = 64;
// glibc maps every block from 32 MB up afresh (its largest mmap threshold on 64-bit) but serves
// smaller ones from its heap, reusing recently freed, cache-warm memory: caching those too made the
// tiny preset's step 25% slower.
constexpr std::size_t kMinCached = std::size_t(32) << 20;
// Sizes are rounded up to this so that near sizes share blocks.
constexpr std::size_t kGranule = std::size_t(64) << 10;
// Idle blocks beyond this go back to the system (a step's working set stays far below it for
// the presets; an eval pass with other batch sizes must not pin memory forever).
constexpr std::size_t kMaxIdleBytes = std::size_t(8) << 30;

std::size_t block_size(std::size_t n) {
  const std::size_t total = n + kHeader;
  return total < kMinCached ? total : (total + kGranule - 1) / kGranule * kGranule;
}

class BlockCache final : public c10::Allocator {
 public:
  // Never destroyed: tensors in other static objects may be freed after it would be.
  static BlockCache& instance() {
    static auto* cache = new BlockCache;
    return *cache;
  }

  // LibTorch 2.3 made allocate() non-const and added copy_data() to the interface.
#if PSMFLOW_TORCH_AT_LEAST(2, 3)
  c10::DataPtr allocate(std::size_t n) override {
#else
  c10::DataPtr allocate(std::size_t n) const override {
#endif
    const std::size_t size = block_size(n);
    char* base = size >= kMinCached ? instance().take(size) : nullptr;
    if (base == nullptr) base = static_cast<char*>(c10::alloc_cpu(size));
    *reinterpret_cast<std::size_t*>(base) = size;
    void* data = base + kHeader;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if PSMFLOW_TORCH_AT_LEAST(2, 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

  static void release(void* data) {
    char* base = static_cast<char*>(data) - kHeader;
    const std::size_t size = *reinterpret_cast<std::size_t*>(base);
    if (size < kMinCached || !instance().keep(base, size)) c10::free_cpu(base);
  }

  CpuBlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  char* take(std::size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = idle_.find(size);
    if (it == idle_.end() || it->second.empty()) {
      ++stats_.misses;
      return nullptr;
    }
    char* base = it->second.back();  // the last freed: the likeliest to be in cache
    it->second.pop_back();
    stats_.idle_bytes -= size;
    ++stats_.hits;
    return base;
  }

  bool keep(char* base, std::size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_.idle_bytes + size > kMaxIdleBytes) return false;
    idle_[size].push_back(base);
    stats_.idle_bytes += size;
    return true;
  }

  std::mutex mu_;
  std::map<std::size_t, std::vector<char*>> idle_;
  CpuBlockCacheStats stats_;
};

}  // namespace

void use_cpu_block_cache() {
  static std::once_flag once;
  // Priority above the default allocator's 0; blocks allocated before keep their own deleter.
  std::call_once(once, [] { c10::SetCPUAllocator(&BlockCache::instance(), 1); });
}

CpuBlockCacheStats cpu_block_cache_stats() { return BlockCache::instance().stats(); }

}  // namespace psmflow::train

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psmflow/train/cpu_cache.hpp"

using namespace psmflow::train;

TEST(CpuBlockCache, ReusesAFreedLargeBlockForTheSameSize) {
  use_cpu_block_cache();
  const auto before = cpu_block_cache_stats();
  void* first = nullptr;
  {
    auto t = torch::empty({10 << 20}, torch::kFloat);  // 40 MB
    first = t.data_ptr();
    t.fill_(1.5f);
  }
  EXPECT_GE(cpu_block_cache_stats().idle_bytes, before.idle_bytes + (std::size_t(40) << 20));
  auto again = torch::ones({10 << 20}, torch::kFloat);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(cpu_block_cache_stats().hits, before.hits + 1);
  EXPECT_EQ(again.sum().item<double>(), double(10 << 20));  // the kernel wrote the reused block
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again.data_ptr()) % 64, 0u);
}

TEST(CpuBlockCache, SmallBlocksAndOtherSizesAreNotShared) {
  use_cpu_block_cache();
  const auto before = cpu_block_cache_stats();
  { auto small = torch::empty({4 << 20}, torch::kFloat); }  // 16 MB: glibc's heap reuses it
  EXPECT_EQ(cpu_block_cache_stats().idle_bytes, before.idle_bytes);
  { auto big = torch::empty({9 << 20}, torch::kFloat); }
  auto other = torch::empty({11 << 20}, torch::kFloat);
  EXPECT_EQ(cpu_block_cache_stats().hits, before.hits);
  EXPECT_EQ(cpu_block_cache_stats().misses, before.misses + 2);
}

TEST(CpuBlockCache, AReusedBlockCarriesNothingOver) {
  use_cpu_block_cache();
  torch::manual_seed(3);
  // Elementwise kernels are deterministic (a multithreaded mm is not, whatever the allocator).
  auto a = torch::randn({4096, 2560});  // 40 MB
  auto want = torch::relu(a * 2 - 1);
  for (int i = 0; i < 3; ++i) {
    { auto junk = torch::full({4096, 2560}, std::nanf("")); }  // freed: its block is idle, full of NaN
    auto got = torch::relu(a * 2 - 1);                         // the kernels' outputs take that block
    EXPECT_TRUE(torch::equal(got, want));
  }
  EXPECT_GT(cpu_block_cache_stats().hits, 0u);
}

// The NCCL transport. NcclTransport.*: its host side, run everywhere the CUDA runtime and NCCL
// libraries are (no GPU needed). NcclTransportGpu.*: a reduction and a broadcast on a GPU, which
// need a CUDA LibTorch and a device, and skip visibly (ctest: "Skipped") anywhere else.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <string>
#include <thread>

#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/nccl_transport.hpp"

using namespace psmflow::collectives;

namespace {

int cuda_devices() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

bool wait_for(Transport& t, std::size_t slot) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!t.test(slot))
    if (std::chrono::steady_clock::now() > end) return false;
  return true;
}

}  // namespace

TEST(NcclTransport, WithoutADeviceItFailsNamingTheCudaCall) {
  if (cuda_devices() > 0) GTEST_SKIP() << "this machine has a CUDA device; NcclTransportGpu.* covers it";
  try {
    make_nccl_transport(MPI_COMM_SELF, 0, std::chrono::seconds(10));
    ADD_FAILURE() << "an NCCL transport came up without a CUDA device";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaSetDevice(device) failed: cuda"), std::string::npos) << e.what();
  }
  try {
    make_lone_nccl_transport(0, std::chrono::seconds(10));
    ADD_FAILURE() << "a lone NCCL transport came up without a CUDA device";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaSetDevice(device) failed: cuda"), std::string::npos) << e.what();
  }
}

TEST(NcclTransport, TheFactoryChoosesByDevice) {
  auto cpu = make_grad_sync(MPI_COMM_SELF, torch::kCPU);
  EXPECT_EQ(cpu->world(), 1);
  // A CUDA device asks for NCCL: here either the CPU build's refusal or the missing device.
  try {
    make_grad_sync(MPI_COMM_SELF, torch::Device(torch::kCUDA, 0));
    if (cuda_devices() == 0) ADD_FAILURE() << "a CUDA gradient sync came up without a device";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("needs a CUDA build") != std::string::npos || what.find("cudaSetDevice") != std::string::npos)
        << what;
  }
}

void sums_and_broadcasts_on_one_rank(std::unique_ptr<Transport> t) {
  EXPECT_EQ(t->world(), 1);
  torch::Tensor x = torch::arange(10, torch::TensorOptions().dtype(torch::kFloat).device(t->device())) * 0.5;
  torch::Tensor before = x.cpu();
  t->start_allreduce(0, x);
  ASSERT_TRUE(wait_for(*t, 0));
  EXPECT_TRUE(torch::equal(x.cpu(), before)) << "the sum over one rank is the tensor itself";
  torch::Tensor y = torch::full({7}, 3.0, torch::TensorOptions().dtype(torch::kDouble).device(t->device()));
  t->start_broadcast(1, y);
  ASSERT_TRUE(wait_for(*t, 1));
  EXPECT_EQ(y.cpu().min().item<double>(), 3.0);
  EXPECT_THROW(t->check(torch::zeros({2})), std::runtime_error) << "a CPU tensor is refused";
}

TEST(NcclTransportGpu, SumsAndBroadcastsOnOneRank) {
  if (!torch::cuda::is_available())
    GTEST_SKIP() << (cuda_devices() == 0 ? "no CUDA device on this machine"
                                         : "this LibTorch is CPU-only (build with -DPSMFLOW_USE_CUDA=ON and a CUDA LibTorch)");
  sums_and_broadcasts_on_one_rank(make_nccl_transport(MPI_COMM_SELF, 0, std::chrono::seconds(60)));
  sums_and_broadcasts_on_one_rank(make_lone_nccl_transport(0, std::chrono::seconds(60)));
}

// The MPI transport of the gradient-sync engine: CPU tensors, non-blocking MPI calls on a private
// duplicate of the communicator (so that the engine's operations never match another part's).
#include <torch/torch.h>

#include <vector>

#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/mpi.hpp"

namespace psmflow::collectives {
namespace {

MPI_Datatype mpi_type(torch::ScalarType t) {
  if (t == torch::kFloat) return MPI_FLOAT;
  if (t == torch::kDouble) return MPI_DOUBLE;
  throw std::runtime_error(std::string("MPI gradient sync: unsupported dtype ") + c10::toString(t));
}

class MpiTransport : public Transport {
 public:
  explicit MpiTransport(MPI_Comm comm) {
    PSMFLOW_MPI(MPI_Comm_dup(comm, &comm_));
    PSMFLOW_MPI(MPI_Comm_rank(comm_, &rank_));
    PSMFLOW_MPI(MPI_Comm_size(comm_, &world_));
  }
  ~MpiTransport() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string allreduce_name() const override { return "MPI_Iallreduce"; }
  std::string broadcast_name() const override { return "MPI_Ibcast"; }
  torch::Device device() const override { return torch::kCPU; }
  void check(const torch::Tensor& p) const override {
    if (p.device().type() != torch::kCPU)
      throw std::runtime_error("MPI gradient sync needs CPU tensors, got one on " + p.device().str() +
                               "; the NCCL transport carries CUDA tensors");
    mpi_type(p.scalar_type());
  }
  // MPI_THREAD_FUNNELED: only the thread that initialised MPI calls it.
  bool starts_from_any_thread() const override { return false; }

  void start_allreduce(std::size_t slot, const torch::Tensor& flat) override {
    PSMFLOW_MPI(MPI_Iallreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(flat.numel()),
                               mpi_type(flat.scalar_type()), MPI_SUM, comm_, &request(slot)));
  }
  void start_broadcast(std::size_t slot, const torch::Tensor& flat) override {
    PSMFLOW_MPI(MPI_Ibcast(flat.data_ptr(), static_cast<int>(flat.numel()), mpi_type(flat.scalar_type()), 0, comm_,
                           &request(slot)));
  }
  bool test(std::size_t slot) override {
    int done = 0;
    PSMFLOW_MPI(MPI_Test(&request(slot), &done, MPI_STATUS_IGNORE));  // a finished request is MPI_REQUEST_NULL
    return done != 0;
  }
  [[noreturn]] void abort(const std::string& message) override { abort_job(message); }

 private:
  MPI_Request& request(std::size_t slot) {
    if (slot >= requests_.size()) requests_.resize(slot + 1, MPI_REQUEST_NULL);
    return requests_[slot];
  }

  MPI_Comm comm_;
  int rank_ = 0, world_ = 1;
  std::vector<MPI_Request> requests_;  // per slot
};

}  // namespace

std::unique_ptr<Transport> make_mpi_transport(MPI_Comm comm) { return std::make_unique<MpiTransport>(comm); }

std::unique_ptr<GradSync> make_mpi_grad_sync(MPI_Comm comm, GradSyncOptions opt) {
  return make_grad_sync(make_mpi_transport(comm), opt);
}

}  // namespace psmflow::collectives

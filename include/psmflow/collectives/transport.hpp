// What the gradient-sync engine (grad_sync_engine.cpp) needs from a communication library: start
// an in-place sum or a broadcast of one flat tensor, and test whether it has finished. Buckets,
// readiness, overlap with backward(), averaging and timeouts are the engine's, written once; a
// transport (MPI for CPU tensors, NCCL for CUDA tensors, a fake one in the unit tests) is only
// the calls (Horovod's AllreduceOp split).
#pragma once
#include <torch/torch.h>

#include <cstddef>
#include <memory>
#include <string>

#include "psmflow/collectives/grad_sync.hpp"

namespace psmflow::collectives {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // The calls' names, for messages: "MPI_Iallreduce", "ncclBroadcast".
  virtual std::string allreduce_name() const = 0;
  virtual std::string broadcast_name() const = 0;
  // Where the engine keeps its flat buckets.
  virtual torch::Device device() const = 0;
  // Throws, naming the device or dtype, when this transport cannot carry parameter p.
  virtual void check(const torch::Tensor& p) const = 0;
  // Whether start_*() may be called from a thread other than the one that made the transport
  // (MPI_THREAD_FUNNELED allows only that one; NCCL allows any).
  virtual bool starts_from_any_thread() const = 0;
  // Start an operation on `flat` (contiguous, on device()) under a slot number; a slot holds one
  // operation at a time, and the engine reuses a slot only after test() said it finished.
  // The tensor must stay alive until then. Every rank starts the same operations in the same order.
  virtual void start_allreduce(std::size_t slot, const torch::Tensor& flat) = 0;  // sum in place
  virtual void start_broadcast(std::size_t slot, const torch::Tensor& flat) = 0;  // rank 0's values
  // Whether the slot's operation has finished (true for a slot never used); drives progress.
  virtual bool test(std::size_t slot) = 0;
  // A collective outlived the engine's timeout: end the job (the MPI and NCCL transports abort
  // every rank; the unit tests' fake throws). `message` names the rank, the call and the timeout.
  [[noreturn]] virtual void abort(const std::string& message) = 0;
};

// The engine over any transport.
std::unique_ptr<GradSync> make_grad_sync(std::unique_ptr<Transport> transport, const GradSyncOptions& opt);

}  // namespace psmflow::collectives

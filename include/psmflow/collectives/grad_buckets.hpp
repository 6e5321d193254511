// Bucket bookkeeping shared by the GradSync backends (MPI, NCCL), without LibTorch so that it can
// be tested alone. Gradients are reduced in flat buckets filled in REVERSE parameter order — the
// order backward() produces them — and the buckets are started strictly in bucket order on every
// rank: bucket i starts only after buckets < i, so the sequence of collectives never differs
// between ranks, whatever order the gradients arrive in (PyTorch DDP's and Horovod's rule).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace psmflow::collectives {

struct ParamShape {
  std::int64_t numel = 0;
  int dtype = 0;  // the caller's type code; a bucket holds one type
  std::size_t element_size = 4;
};

struct BucketLayout {
  struct Bucket {
    int dtype = 0;
    std::size_t element_size = 4;
    std::vector<std::size_t> params;  // indices into the parameter list, last parameter first
    std::int64_t numel = 0;
    std::size_t bytes() const { return static_cast<std::size_t>(numel) * element_size; }
  };
  std::vector<Bucket> buckets;
  std::vector<std::size_t> bucket_of;   // per parameter
  std::vector<std::int64_t> offset_of;  // per parameter: first element in its bucket
  std::vector<ParamShape> shapes;       // what the layout was planned for
};

// The first bucket (the last parameters, whose gradients come first) is capped at
// min(first_bucket_bytes, bucket_bytes) so that communication starts early, the others at
// bucket_bytes; a parameter larger than the cap gets a bucket of its own.
BucketLayout plan_buckets(const std::vector<ParamShape>& params, std::size_t first_bucket_bytes,
                          std::size_t bucket_bytes);

// Which buckets may start, one step at a time: parameters are marked ready as their gradients
// arrive, and take_startable() hands out the complete buckets at the head of the bucket order.
class BucketReadiness {
 public:
  explicit BucketReadiness(const BucketLayout& layout);
  void reset();                        // a new step: nothing ready, nothing started
  void mark_ready(std::size_t param);  // throws std::logic_error when marked twice in a step
  bool is_ready(std::size_t param) const { return ready_[param] != 0; }
  bool any_ready() const { return marked_ > 0; }
  std::vector<std::size_t> take_startable();  // complete buckets from the next unstarted one on
  std::vector<std::size_t> take_rest();       // every bucket not started yet, complete or not
  std::size_t started() const { return next_; }

 private:
  const BucketLayout& layout_;
  std::vector<char> ready_;
  std::vector<std::size_t> missing_;  // per bucket: parameters not ready yet
  std::size_t next_ = 0;              // first bucket not started
  std::size_t marked_ = 0;
};

}  // namespace psmflow::collectives

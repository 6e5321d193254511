#include "psmflow/train/checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <spdlog/spdlog.h>

#include <mutex>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"

namespace psmflow::train {
namespace {

// A LibTorch archive is a zip file, whose end record may carry a comment. psmflow's comment is
// the SHA-256 of every byte before it, so a checkpoint checks itself without a second file that a
// crash could leave out of step with it.
constexpr std::string_view kSumTag = "psmflow-sha256:";
constexpr std::size_t kZipEndSize = 22;  // end-of-central-directory record without its comment
constexpr std::size_t kCommentSize = kSumTag.size() + 64;

void append_checksum(std::string& bytes) {
  const std::size_t n = bytes.size();
  if (n < kZipEndSize || bytes.compare(n - kZipEndSize, 4, "PK\x05\x06") != 0 || bytes[n - 2] != 0 || bytes[n - 1] != 0)
    throw std::logic_error("LibTorch's archive does not end in a zip end record without comment");
  bytes[n - 2] = static_cast<char>(kCommentSize & 0xff);
  bytes[n - 1] = static_cast<char>(kCommentSize >> 8);
  const std::string sum = sha256_hex(bytes);
  bytes.append(kSumTag).append(sum);
}

// Empty when the bytes end in a matching checksum, else why not.
std::string checksum_problem(std::string_view bytes) {
  if (bytes.size() < kZipEndSize + kCommentSize || bytes.substr(bytes.size() - kCommentSize, kSumTag.size()) != kSumTag)
    return "no checksum at its end (truncated, or not written by this psmflow)";
  const std::string_view body = bytes.substr(0, bytes.size() - kCommentSize);
  if (sha256_hex(body) != bytes.substr(bytes.size() - 64)) return "checksum mismatch (the file is corrupt)";
  return {};
}

// The file's bytes once its checksum is verified; throws StageError naming the file otherwise.
std::string read_verified(const std::filesystem::path& file) {
  std::string bytes;
  try {
    bytes = read_file(file);
  } catch (const std::exception& e) {
    throw StageError(file.string() + ": cannot read checkpoint: " + e.what());
  }
  const std::string problem = checksum_problem(bytes);
  if (!problem.empty()) throw StageError(file.string() + ": damaged checkpoint: " + problem);
  return bytes;
}

torch::Tensor cpu_generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_generator_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

torch::Device device_of(torch::nn::Module& m) {
  auto params = m.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

// The generator noise of a model on a GPU comes from that GPU's generator, so its state is saved
// beside the CPU one (through ATen's device-generic accessor: the code builds without CUDA too).
torch::Tensor cuda_generator_state(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void write_state(torch::serialize::OutputArchive& ar, const TrainState& s) {
  ar.write("psmflow/format", c10::IValue(kCheckpointFormat));
  ar.write("state/epoch", c10::IValue(static_cast<std::int64_t>(s.epoch)));
  ar.write("state/step", c10::IValue(s.step));
  ar.write("state/seed", c10::IValue(std::to_string(s.seed)));
  ar.write("state/config_hash", c10::IValue(s.config_hash));
  ar.write("state/sampler", c10::IValue(s.sampler));
  ar.write("state/partial_sums", torch::tensor(s.partial_sums.empty() ? std::vector<double>{0.0} : s.partial_sums,
                                               torch::kFloat64));
  ar.write("state/partial_count", c10::IValue(static_cast<std::int64_t>(s.partial_sums.size())));
  ar.write("state/partial_seconds", c10::IValue(s.partial_seconds));
  ar.write("state/generator", s.generator_state.defined() ? s.generator_state : cpu_generator_state());
  if (s.cuda_generator_state.defined()) ar.write("state/cuda_generator", s.cuda_generator_state);
}

TrainState read_state(torch::serialize::InputArchive& ar, const std::filesystem::path& file) {
  c10::IValue v;
  if (!ar.try_read("psmflow/format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat)
    throw StageError(file.string() + ": not a psmflow checkpoint (" + kCheckpointFormat + ")");
  TrainState s;
  ar.read("state/epoch", v);
  s.epoch = static_cast<int>(v.toInt());
  ar.read("state/step", v);
  s.step = v.toInt();
  ar.read("state/seed", v);
  s.seed = std::stoull(v.toStringRef());
  ar.read("state/config_hash", v);
  s.config_hash = v.toStringRef();
  ar.read("state/sampler", v);
  s.sampler = v.toStringRef();
  ar.read("state/partial_count", v);
  auto count = v.toInt();
  torch::Tensor sums;
  ar.read("state/partial_sums", sums);
  for (std::int64_t i = 0; i < count; ++i) s.partial_sums.push_back(sums[i].item<double>());
  ar.read("state/partial_seconds", v);
  s.partial_seconds = v.toDouble();
  ar.read("state/generator", s.generator_state);
  torch::Tensor cuda_state;
  if (ar.try_read("state/cuda_generator", cuda_state)) s.cuda_generator_state = cuda_state;
  return s;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> shapes_of(torch::nn::Module& m) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value().sizes().vec());
  return out;
}

// LibTorch's Module::load replaces a tensor of another shape without a word (Tensor::set_), so a
// checkpoint of another preset would only fail later, somewhere in the forward pass.
void check_shapes(torch::nn::Module& m, const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                  const std::filesystem::path& file) {
  const auto got = shapes_of(m);
  for (std::size_t i = 0; i < got.size() && i < expected.size(); ++i) {
    if (got[i].second == expected[i].second) continue;
    throw StageError(file.string() + ": tensor '" + got[i].first + "' has shape " + c10::str(c10::IntArrayRef(got[i].second)) +
                     ", this network expects " + c10::str(c10::IntArrayRef(expected[i].second)) + " (a checkpoint of another preset?)");
  }
}

}  // namespace

void save_checkpoint(const std::filesystem::path& file, torch::nn::Module& model, torch::optim::Optimizer* opt,
                     const TrainState& state) {
  torch::serialize::OutputArchive ar;
  torch::serialize::OutputArchive model_ar;
  model.save(model_ar);
  ar.write("model", model_ar);
  if (opt) {
    torch::serialize::OutputArchive opt_ar;
    opt->save(opt_ar);
    ar.write("optimizer", opt_ar);
  }
  TrainState with_gpu = state;
  const torch::Device device = device_of(model);
  if (device.is_cuda() && !with_gpu.cuda_generator_state.defined())
    with_gpu.cuda_generator_state = cuda_generator_state(device);
  write_state(ar, with_gpu);
  // Serialised in memory and written by psmflow: LibTorch's own file writer aborts the process
  // (an exception out of a destructor) when the disk fills, and its message has no OS reason.
  std::string bytes;
  ar.save_to([&bytes](const void* data, std::size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  append_checksum(bytes);
  try {
    write_file_atomic(file, bytes);
  } catch (const std::exception& e) {
    throw StageError(file.string() + ": cannot save checkpoint: " + e.what());
  }
}

std::optional<std::string> checkpoint_damage(const std::filesystem::path& file) {
  try {
    read_verified(file);
    return std::nullopt;
  } catch (const StageError& e) {
    return std::string(e.what());
  }
}

std::optional<TrainState> read_train_state(const std::filesystem::path& file) {
  torch::serialize::InputArchive ar;
  try {
    const std::string bytes = read_verified(file);
    ar.load_from(bytes.data(), bytes.size());
  } catch (const std::exception&) {
    return std::nullopt;
  }
  c10::IValue v;
  if (!ar.try_read("psmflow/format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat) return std::nullopt;
  return read_state(ar, file);
}

TrainState load_checkpoint(const std::filesystem::path& file, torch::nn::Module& model, torch::optim::Optimizer* opt) {
  const auto expected = shapes_of(model);
  torch::serialize::InputArchive ar;
  const std::string bytes = read_verified(file);
  try {
    ar.load_from(bytes.data(), bytes.size(), device_of(model));
  } catch (const c10::Error& e) {
    throw StageError(file.string() + ": cannot read checkpoint: " + e.what_without_backtrace());
  }
  TrainState s = read_state(ar, file);
  try {
    torch::serialize::InputArchive model_ar;
    ar.read("model", model_ar);
    model.load(model_ar);
    check_shapes(model, expected, file);
    if (opt) {
      torch::serialize::InputArchive opt_ar;
      if (!ar.try_read("optimizer", opt_ar))
        throw StageError(file.string() + ": holds no optimiser state (a model-only checkpoint)");
      opt->load(opt_ar);
    }
  } catch (const c10::Error& e) {
    throw StageError(file.string() + ": does not fit this network: " + e.what_without_backtrace());
  }
  return s;
}

void restore_generator(const TrainState& s, const torch::Device& device) {
  if (s.generator_state.defined()) set_cpu_generator_state(s.generator_state);
  if (!device.is_cuda()) return;
  if (!s.cuda_generator_state.defined()) {
    spdlog::warn("checkpoint holds no CUDA generator state: the GPU noise after resume differs from an "
                 "uninterrupted run");
    return;
  }
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s.cuda_generator_state);
}

bool is_psmflow_checkpoint(const std::filesystem::path& file) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(file.string());
    c10::IValue v;
    return ar.try_read("psmflow/format", v) && v.isString() && v.toStringRef() == kCheckpointFormat;
  } catch (const c10::Error&) {
    return false;
  }
}

}  // namespace psmflow::train

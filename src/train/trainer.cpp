#include "psmflow/train/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/model/precision.hpp"
#include "psmflow/train/cpu_cache.hpp"
#include "psmflow/train/loader.hpp"
#include "psmflow/train/schedule.hpp"
#include "psmflow/train/stop.hpp"

namespace psmflow::train {
namespace {

constexpr int kTerms = 5;  // total, pixel, perc, ssim, sym

double value_of(const torch::Tensor& t) { return t.defined() ? t.item<double>() : 0.0; }

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// The generator noise of sample images must not shift the training's random stream, or a run
// resumed from a checkpoint would see different noise than one that wrote samples meanwhile.
class GeneratorGuard {
 public:
  GeneratorGuard() {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state_ = gen.get_state();
  }
  ~GeneratorGuard() {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state_);
  }

 private:
  torch::Tensor state_;
};

cv::Mat to_rgb8(const torch::Tensor& img) {  // normalised [3,64,64] -> 64x64 RGB bytes
  auto mean = torch::tensor({kMean[0], kMean[1], kMean[2]}).view({3, 1, 1});
  auto std = torch::tensor({kStd[0], kStd[1], kStd[2]}).view({3, 1, 1});
  auto x = (img.detach().to(torch::kCPU).to(torch::kFloat) * std + mean).clamp(0, 1).mul(255).round();
  x = x.to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  return cv::Mat(kImageSize, kImageSize, CV_8UC3, x.data_ptr<std::uint8_t>()).clone();
}

std::int64_t epoch_of_row(const std::string& row) {
  try {
    return std::stoll(row.substr(0, row.find(',')));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

std::string losses_csv_header() { return "epoch,total,pixel,perc,ssim,sym,lr,neutral_weight,seconds,images_per_s"; }

Trainer::Trainer(TrainableNet& net, const FrameStore& frames, const PairSampler& pairs, TrainOptions opt,
                 collectives::GradSync* sync)
    : net_(net), frames_(frames), pairs_(pairs), opt_(std::move(opt)), sync_(sync) {
  check_schedule(opt_.section);
  use_cpu_block_cache();
  precision_ = model::precision_by_name(opt_.section.precision);
  if (precision_ == model::Precision::bf16 && !opt_.device.is_cuda() && !model::cpu_has_native_bf16())
    spdlog::warn("{}: precision = bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16): it runs, "
                 "emulated and slower than fp32; set precision = \"fp32\" on this machine",
                 opt_.label);
  params_ = net_.trainable_parameters();
  if (params_.empty()) throw StageError("trainer: the network has no trainable parameters");
  auto options = torch::optim::AdamOptions(lr_for_epoch(opt_.section, 1))
                     .betas({opt_.section.beta1, opt_.section.beta2})
                     .weight_decay(0);
  adam_ = std::make_unique<torch::optim::Adam>(params_, options);
}

std::filesystem::path Trainer::epoch_checkpoint(int epoch) const {
  return opt_.out_dir / ("ckpt-e" + std::to_string(epoch) + ".pt");
}

std::filesystem::path Trainer::sample_grid(int epoch) const {
  return opt_.out_dir / "samples" / ("e" + std::to_string(epoch) + ".png");
}

void Trainer::set_lr(double lr) {
  for (auto& group : adam_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

bool Trainer::agreed_stop() {
  if (!sync_) return stop_requested();
  std::vector<double> flag = {stop_requested() ? 1.0 : 0.0};
  sync_->allreduce_sum(flag);
  return flag[0] > 0;
}

void Trainer::save(const std::filesystem::path& file, bool with_optimizer, const TrainState& state) {
  if (!is_root()) return;
  save_checkpoint(file, net_.module(), with_optimizer ? adam_.get() : nullptr, state);
}

// latest.pt first, then the epoch checkpoints, newest first: a damaged latest.pt costs the
// epochs since the last good one instead of the whole run.
std::vector<std::filesystem::path> Trainer::resume_candidates() const {
  std::vector<std::pair<int, std::filesystem::path>> epochs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(opt_.out_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ckpt-e", 0) != 0 || e.path().extension() != ".pt") continue;
    try {
      epochs.emplace_back(std::stoi(name.substr(6)), e.path());
    } catch (const std::exception&) {
    }
  }
  std::sort(epochs.begin(), epochs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> files = {latest()};
  for (auto& [epoch, file] : epochs) files.push_back(std::move(file));
  return files;
}

bool Trainer::resume(TrainState& state) {
  bool damaged = false;
  for (const auto& file : resume_candidates()) {
    if (!std::filesystem::exists(file)) continue;
    if (auto damage = checkpoint_damage(file)) {
      spdlog::warn("{}: {}; not resuming from it", opt_.label, *damage);
      damaged = true;
      continue;
    }
    auto saved = read_train_state(file);
    if (!saved || saved->config_hash != opt_.config_hash || saved->sampler != pairs_.describe() ||
        saved->seed != opt_.seed) {
      spdlog::warn("{}: {} is from another configuration; not resuming from it", opt_.label, file.string());
      continue;
    }
    resume_from(file, state);
    return true;
  }
  if (damaged) spdlog::warn("{}: no good checkpoint left; training starts over", opt_.label);
  return false;
}

void Trainer::resume_from(const std::filesystem::path& file, TrainState& state) {
  state = load_checkpoint(file, net_.module(), adam_.get());
  restore_generator(state, opt_.device);
  state.generator_state = torch::Tensor();  // later saves take the generators as they are then
  state.cuda_generator_state = torch::Tensor();
  // Rows written after the checkpoint belong to epochs that will run again.
  std::ifstream in(losses_csv());
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (epoch_of_row(line) >= 1 && epoch_of_row(line) <= state.epoch) loss_rows_.push_back(line);
  spdlog::info("{}: resuming from {} at epoch {} step {}", opt_.label, file.string(), state.epoch + 1, state.step);
}

TrainResult Trainer::run() {
  TrainResult result;
  const TrainSection& t = opt_.section;
  if (is_root()) std::filesystem::create_directories(opt_.out_dir);
  auto finished = read_train_state(final_checkpoint());
  if (finished && finished->config_hash == opt_.config_hash && finished->epoch == t.epochs &&
      finished->sampler == pairs_.describe()) {
    spdlog::info("{}: {} already holds all {} epochs of this configuration", opt_.label,
                 final_checkpoint().string(), t.epochs);
    result.already_done = true;
    result.epochs_done = t.epochs;
    result.outputs = {final_checkpoint(), losses_csv()};
    return result;
  }
  TrainState state;
  state.seed = opt_.seed;
  state.config_hash = opt_.config_hash;
  state.sampler = pairs_.describe();
  resume(state);  // keeps the fresh state when there is nothing to resume from
  if (sync_) sync_->broadcast_parameters(net_.module().parameters());
  spdlog::info("{}: {}; {} frames, {} epochs of batch {}", opt_.label, net_.describe(), frames_.size(), t.epochs,
               t.batch);
  for (int epoch = state.epoch + 1; epoch <= t.epochs && !stopping_; ++epoch) {
    run_epoch(epoch, state.step, state, result);
  }
  result.interrupted = stopping_;
  result.epochs_done = state.epoch;
  result.images_per_s = run_seconds_ > 0 ? run_images_ / run_seconds_ : 0;
  if (!stopping_) {
    save(final_checkpoint(), false, state);
    result.outputs = {final_checkpoint(), losses_csv()};
  }
  return result;
}

void Trainer::run_epoch(int epoch, std::int64_t first_step, TrainState& state, TrainResult& result) {
  const TrainSection& t = opt_.section;
  const double lr = lr_for_epoch(t, epoch);
  const double w = neutral_weight_for_epoch(t, epoch);
  set_lr(lr);
  net_.module().train();
  std::vector<Pair> pairs = pairs_.epoch_pairs(epoch);
  const std::int64_t steps = steps_in_epoch(static_cast<std::int64_t>(pairs.size()), t.batch);
  std::vector<double> sums = first_step > 0 ? state.partial_sums : std::vector<double>(kTerms, 0.0);
  sums.resize(kTerms, 0.0);
  const double seconds_before = first_step > 0 ? state.partial_seconds : 0.0;
  const std::int64_t images = 2 * static_cast<std::int64_t>(pairs.size());
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  BatchLoader loader(frames_, std::move(pairs), t.batch, opt_.seed, epoch, t.augment, first_step, opt_.loader_depth,
                     opt_.first_slot);
  std::int64_t step = first_step;
  while (auto batch = loader.next()) {
    auto x0 = batch->x0.to(opt_.device);
    auto x1 = batch->x1.to(opt_.device);
    model::drop_gradients(params_);
    model::LossTerms terms;
    {
      model::PrecisionScope mixed(precision_, opt_.device);  // the forward pass only
      terms = net_.loss(x0, x1, w);
    }
    terms.total.backward();
    if (sync_) sync_->allreduce_gradients(params_);
    const double values[kTerms] = {value_of(terms.total), value_of(terms.pixel), value_of(terms.perc),
                                   value_of(terms.ssim), value_of(terms.sym)};
    // Checked after the gradient exchange, so that every rank takes part in it before one stops.
    check_finite(values[0], epoch, step + 1);
    adam_->step();
    for (int k = 0; k < kTerms; ++k) sums[k] += values[k];
    result.last_loss = values[0];
    run_images_ += 2 * x0.size(0);
    ++step;
    if (step < steps && agreed_stop()) {
      state.epoch = epoch - 1;
      state.step = step;
      state.partial_sums = sums;
      state.partial_seconds = seconds_before + elapsed();
      save(latest(), true, state);
      run_seconds_ += elapsed();
      stopping_ = true;
      spdlog::warn("{}: stop requested (signal {}); checkpoint {} at epoch {} step {}/{}", opt_.label, stop_signal(),
                   latest().string(), epoch, step, steps);
      return;
    }
  }
  run_seconds_ += elapsed();
  finish_epoch(epoch, sums, steps, seconds_before + elapsed(), images);
  state.epoch = epoch;
  state.step = 0;
  state.partial_sums.clear();
  state.partial_seconds = 0;
  const bool stop = agreed_stop();
  const bool due = t.checkpoint_every > 0 && epoch % t.checkpoint_every == 0;
  if (due || epoch == t.epochs || stop) save(latest(), true, state);
  if (due) save(epoch_checkpoint(epoch), true, state);
  if ((t.sample_every > 0 && epoch % t.sample_every == 0) || epoch == t.epochs) write_samples(epoch);
  if (stop && epoch < t.epochs) {
    stopping_ = true;
    spdlog::warn("{}: stop requested (signal {}); checkpoint {} after epoch {}", opt_.label, stop_signal(),
                 latest().string(), epoch);
  }
}

// A non-finite loss would train the network into NaN and write it into every later file; the
// checkpoints on disk are all from before it, so the run stops with them kept.
void Trainer::check_finite(double loss, int epoch, std::int64_t step) const {
  if (std::isfinite(loss)) return;
  throw StageError(opt_.label + ": the loss is " + format_number(loss) + " at epoch " + std::to_string(epoch) +
                   " step " + std::to_string(step) + "; training stopped (the last good checkpoint in " +
                   opt_.out_dir.string() + " is kept)");
}

void Trainer::finish_epoch(int epoch, const std::vector<double>& sums, std::int64_t steps, double seconds,
                           std::int64_t images) {
  std::vector<double> totals = sums;
  totals.push_back(static_cast<double>(steps));
  totals.push_back(static_cast<double>(images));
  if (sync_) sync_->allreduce_sum(totals);
  const double n = totals[kTerms];
  std::vector<double> means(kTerms);
  for (int k = 0; k < kTerms; ++k) means[k] = totals[k] / n;
  check_finite(means[0], epoch, steps);  // another rank's loss, before anything is saved
  const double lr = lr_for_epoch(opt_.section, epoch);
  const double w = neutral_weight_for_epoch(opt_.section, epoch);
  const double rate = seconds > 0 ? totals[kTerms + 1] / seconds : 0;
  spdlog::info("{}: epoch {}/{} loss {:.5f} (pixel {:.4f} perc {:.4f} ssim {:.4f} sym {:.4f}) lr {:g} {:.1f} s "
               "{:.1f} img/s",
               opt_.label, epoch, opt_.section.epochs, means[0], means[1], means[2], means[3], means[4], lr, seconds,
               rate);
  if (!is_root()) return;
  std::ostringstream row;
  row << epoch;
  for (double m : means) row << ',' << format_number(m);
  row << ',' << format_number(lr) << ',' << format_number(w) << ',' << format_number(seconds) << ','
      << format_number(rate);
  loss_rows_.push_back(row.str());
  std::string text = losses_csv_header() + "\n";
  for (const auto& r : loss_rows_) text += r + "\n";
  write_file_atomic(losses_csv(), text);
}

void Trainer::write_samples(int epoch) {
  if (!is_root() || frames_.size() == 0) return;
  GeneratorGuard keep_stream;
  torch::NoGradGuard no_grad;
  const std::int64_t n = std::min<std::int64_t>(opt_.sample_frames, frames_.size());
  auto x = torch::empty({n, 3, kImageSize, kImageSize});
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t id = n > 1 ? k * (frames_.size() - 1) / (n - 1) : 0;
    eval_image(frames_.frame(id), frames_.crop_size(), x[k].data_ptr<float>());
  }
  std::vector<torch::Tensor> rows = net_.sample_rows(x.to(opt_.device));
  const int gap = 2, tile = kImageSize + gap;
  cv::Mat grid(static_cast<int>(rows.size()) * tile + gap, static_cast<int>(n) * tile + gap, CV_8UC3,
               cv::Scalar::all(255));
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::int64_t k = 0; k < n; ++k)
      to_rgb8(rows[r][k]).copyTo(grid(cv::Rect(gap + static_cast<int>(k) * tile, gap + static_cast<int>(r) * tile,
                                               kImageSize, kImageSize)));
  cv::cvtColor(grid, grid, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", grid, png)) throw StageError("cv::imencode failed for " + sample_grid(epoch).string());
  std::filesystem::create_directories(sample_grid(epoch).parent_path());
  write_file_atomic(sample_grid(epoch), std::string(png.begin(), png.end()));
}

}  // namespace psmflow::train

#include "train_test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "psmflow/core/fs.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/train/stop.hpp"
#include "support/test_support.hpp"

namespace psmflow::test {

std::vector<std::uint8_t> synthetic_face(int size, int phase) {
  cv::Mat img(size, size, CV_8UC3, cv::Scalar(90, 110, 130));
  const double s = size / 64.0;
  auto pt = [&](double x, double y) { return cv::Point(int(x * s), int(y * s)); };
  cv::ellipse(img, pt(32, 32), cv::Size(int(20 * s), int(26 * s)), 0, 0, 360, cv::Scalar(225, 185, 160), -1);
  cv::circle(img, pt(24, 26), int(3 * s), cv::Scalar(40, 30, 30), -1);
  cv::circle(img, pt(40, 26), int(3 * s), cv::Scalar(40, 30, 30), -1);
  const double open = 1.0 + 5.0 * (0.5 + 0.5 * std::sin(phase * 0.7));
  cv::ellipse(img, pt(32, 45), cv::Size(int(8 * s), std::max(1, int(open * s))), 0, 0, 360, cv::Scalar(150, 40, 50), -1);
  cv::line(img, pt(18, 18 - phase % 3), pt(28, 18), cv::Scalar(60, 40, 30), std::max(1, int(s)));
  return std::vector<std::uint8_t>(img.data, img.data + img.total() * 3);
}

train::MemoryFrames synthetic_frames(int n, int size) {
  std::vector<std::uint8_t> pixels;
  std::vector<std::int64_t> index;
  for (int i = 0; i < n; ++i) {
    auto f = synthetic_face(size, i);
    pixels.insert(pixels.end(), f.begin(), f.end());
    index.push_back(i);
  }
  return train::MemoryFrames(size, std::move(pixels), std::move(index));
}

void write_frames_h5(const std::filesystem::path& file, int n, int undetected_every) {
  std::filesystem::create_directories(file.parent_path());
  FramesMeta meta;
  meta.subject = file.parent_path().filename().string();
  meta.fps = 20;
  meta.crop_size = 64;
  AtomicPath out(file);
  {
    FramesWriter w(out.temp(), meta);
    for (int i = 0; i < n; ++i) {
      auto f = synthetic_face(64, i);
      bool detected = !(undetected_every > 0 && i % undetected_every == undetected_every - 1);
      w.append(f.data(), i, i / 20.0, {0, 0, 64, 64}, detected);
    }
    w.close();
  }
  out.commit();
}

StandInImpl::StandInImpl() {
  enc = register_module("enc", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 8, 3).stride(2).padding(1)));
  dec = register_module("dec", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 3, 3).padding(1)));
}

StandInNet::StandInNet() : net_(StandIn()) {}

model::LossTerms StandInNet::loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight) {
  if (++calls == stop_after_calls) train::request_stop(SIGTERM);
  auto h = torch::relu(net_->enc(torch::cat({x0, x1}, 1)));
  h = h + 0.1 * torch::randn_like(h);  // like the generator's fresh noise
  auto y = net_->dec(torch::upsample_nearest2d(h, std::vector<int64_t>{64, 64}));
  model::LossTerms t;
  t.pixel = (y - x0).abs().mean();
  t.sym = (y - y.flip({3})).abs().mean();
  t.ssim = (y - x1).pow(2).mean();
  t.perc = torch::zeros({});
  t.total = t.pixel + 1.5 * neutral_weight * t.sym + 0.1 * t.ssim;
  if (calls == nan_at_call) t.total = t.total * std::numeric_limits<double>::quiet_NaN();
  return t;
}

model::Embedding StandInNet::embed(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  auto h = torch::relu(net_->enc(torch::cat({x, x}, 1)));
  return {h.mean({2, 3}), torch::adaptive_avg_pool2d(h, {4, 4}).flatten(1)};
}

std::vector<torch::Tensor> StandInNet::sample_rows(const torch::Tensor& x) {
  auto h = torch::relu(net_->enc(torch::cat({x, x}, 1)));
  h = h + 0.1 * torch::randn_like(h);
  return {x, net_->dec(torch::upsample_nearest2d(h, std::vector<int64_t>{64, 64}))};
}

Child::Child(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv = {psmflow_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    ::execv(c[0], c.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

void Child::signal(int sig) { ::kill(pid_, sig); }

int Child::wait() {
  if (status_ < 0) {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return status_;
}

bool Child::running() {
  if (status_ >= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::vector<std::string> loss_columns(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line)) {
    // epoch,total,pixel,perc,ssim,sym,lr,neutral_weight | seconds,images_per_s
    std::size_t cut = 0;
    for (int commas = 0; commas < 8 && cut != std::string::npos; ++commas) cut = line.find(',', cut + 1);
    rows.push_back(line.substr(0, cut));
  }
  return rows;
}

}  // namespace psmflow::test

// PyTorch interop: files written by Debian's python3-torch (torch_oracle.py) are read by the
// C++ reader, loaded into the network, and one step's loss equals the PyTorch reference's.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "model_test_util.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/model/facecycle.hpp"
#include "psmflow/model/torch_pickle.hpp"
#include "support/test_support.hpp"

namespace psmflow::model {
namespace {

// Runs torch_oracle.py MODE into dir; false (and the test skips) without python3-torch.
bool run_oracle(const std::string& mode, const test::ScratchDir& dir) {
  const auto py = test::python_with_torch();
  if (py.empty()) return false;
  const auto script = std::filesystem::path(PSMFLOW_SOURCE_DIR) / "tests" / "model" / "torch_oracle.py";
  auto r =
      test::run_shell(py + " " + test::shell_quote(script.string()) + " " + mode + " " +
                      test::shell_quote(dir.path().string()) + " " + test::shell_quote(test::shared_dir().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0;
}

#define REQUIRE_ORACLE(mode, dir) \
  if (!run_oracle(mode, dir)) GTEST_SKIP() << "python3 with torch (Debian python3-torch) is not installed"

std::map<std::string, torch::Tensor> as_map(const NamedTensors& named) {
  std::map<std::string, torch::Tensor> m;
  for (auto& [k, t] : named) m[k] = t;
  return m;
}

void expect_usage_error(const std::function<void()>& f, const std::string& path, const std::string& reason) {
  try {
    f();
    ADD_FAILURE() << "no error for " << path;
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(Interop, LoadsOriginalCheckpointExactly) {
  test::ScratchDir dir;
  REQUIRE_ORACLE("checkpoint", dir);
  FaceCycle net(preset_by_name("paper"));
  load_pytorch_checkpoint(net, dir / "ckpt.pt");
  // Compare with the raw float32 dump, walking the key file in order.
  std::ifstream raw(dir / "ckpt.raw", std::ios::binary);
  std::ifstream keys(test::shared_dir() / "testvectors" / "pytorch_state_dict_keys.txt");
  const std::map<std::string, std::string> renames = {
      {"codegeneration", "encoder"}, {"exptoflow", "flow"}, {"Swap_Generator", "generator"}};
  auto params = net->named_parameters();
  std::string line, group;
  int checked = 0;
  while (std::getline(keys, line)) {
    if (line.rfind("## ", 0) == 0) {
      group = renames.at(line.substr(3));
      continue;
    }
    if (line.empty()) continue;
    const auto& p = params[group + "." + line.substr(0, line.find(' '))];
    auto want = torch::empty(p.sizes());  // contiguous: the raw file is in logical order
    raw.read(static_cast<char*>(want.data_ptr()), static_cast<std::streamsize>(want.numel() * sizeof(float)));
    ASSERT_TRUE(raw) << line;
    EXPECT_TRUE(torch::equal(p, want)) << line;
    ++checked;
  }
  EXPECT_EQ(static_cast<size_t>(checked), net->parameters().size());

  FaceCycle tiny(preset_by_name("tiny"));
  const auto ckpt = (dir / "ckpt.pt").string();
  expect_usage_error([&] { load_pytorch_checkpoint(tiny, ckpt); }, ckpt, "expects [16, 3, 7, 7]");
}

TEST(Interop, ReadsViewsDtypesParametersAndNesting) {
  test::ScratchDir dir;
  REQUIRE_ORACLE("views", dir);
  auto named = read_torch_tensors(dir / "views.pt");
  std::vector<std::string> names;
  for (auto& [k, t] : named) names.push_back(k);
  EXPECT_EQ(names,
            (std::vector<std::string>{"slice", "transposed", "strided", "double", "param", "scalar", "nested.inner"}));
  auto m = as_map(named);
  auto base = torch::arange(24, torch::kFloat);
  EXPECT_TRUE(torch::equal(m["slice"], base.slice(0, 5, 9)));
  EXPECT_TRUE(torch::equal(m["transposed"], base.view({4, 6}).t()));
  EXPECT_TRUE(torch::equal(m["strided"], base.view({4, 6}).slice(1, 0, 6, 2)));
  EXPECT_TRUE(torch::equal(m["double"], torch::arange(3, torch::kDouble) / 4));
  EXPECT_TRUE(torch::equal(m["param"], torch::ones({2, 2})));
  EXPECT_EQ(m["scalar"].dim(), 0);
  EXPECT_EQ(m["scalar"].item<float>(), 2.5f);
  EXPECT_TRUE(torch::equal(m["nested.inner"], torch::arange(5, torch::kLong)));
}

TEST(Interop, ReadsLibTorchPickleSave) {
  test::ScratchDir dir;
  auto t = torch::randn({3, 4});
  test::save_tensor_dict(dir / "x.pt", {{"a", t}, {"b", t.t()}});
  auto m = as_map(read_torch_tensors(dir / "x.pt"));
  EXPECT_TRUE(torch::equal(m["a"], t));
  EXPECT_TRUE(torch::equal(m["b"], t.t()));
}

TEST(Interop, RejectsHostileFilesNamingThem) {
  test::ScratchDir dir;
  test::write_text(dir / "garbage.pt", "this is not a zip file at all");
  const auto garbage = (dir / "garbage.pt").string();
  expect_usage_error([&] { read_torch_tensors(garbage); }, garbage, "not a torch.save file (neither a zip");
  const auto missing = (dir / "missing.pt").string();
  expect_usage_error([&] { read_torch_tensors(missing); }, missing, "no such file");

  // A file cut short: the zip directory is lost.
  test::save_tensor_dict(dir / "ok.pt", {{"a", torch::randn({64, 64})}});
  std::ifstream in(dir / "ok.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  test::write_text(dir / "cut.pt", bytes.substr(0, bytes.size() / 2));
  const auto cut = (dir / "cut.pt").string();
  expect_usage_error([&] { read_torch_tensors(cut); }, cut, "a damaged zip file (truncated or corrupt)");

  // Readable, but not a checkpoint of this network.
  FaceCycle net(preset_by_name("tiny"));
  const auto ok = (dir / "ok.pt").string();
  expect_usage_error([&] { load_pytorch_checkpoint(net, ok); }, ok, "no tensor for 'encoder.conv1.0.weight'");
  expect_usage_error([&] { net->load_vgg_weights(ok); }, ok, "VGG19 weights lack 'features.0.weight'");
}

void expect_terms(const LossTerms& t, std::map<std::string, torch::Tensor>& want, const std::string& c) {
  auto near = [&](const torch::Tensor& got, const std::string& k) {
    const double w = want.at(c + "." + k).item<double>();
    EXPECT_NEAR(got.item<double>(), w, 1e-4 * std::abs(w) + 1e-6) << c << "." << k;
  };
  near(t.total, "total");
  near(t.pixel, "pixel");
  near(t.perc, "perc");
  near(t.ssim, "ssim");
  near(t.sym, "sym");
}

// One training step's loss equals shared/bench/ref_psm_step.py's for the same weights, inputs
// and noise (both seeded with 123 before the step; LibTorch and python3-torch share the generator).
TEST(Oracle, OneStepLossMatchesPyTorchReference) {
  test::ScratchDir dir;
  REQUIRE_ORACLE("oracle", dir);
  auto want = as_map(read_torch_tensors(dir / "expected.pt"));
  FaceCycle net(preset_by_name("paper"));
  net->load_vgg_weights(dir / "vgg_indep.pt");
  load_pytorch_checkpoint(net, dir / "ref.pt");  // the stem now differs from the VGG trunk
  auto x0 = want["x0"], x1 = want["x1"];

  auto e = net->embed(torch::cat({x0, x1}));
  EXPECT_TRUE(torch::allclose(e.feature, want["feature"], 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(e.code, want["code"], 1e-4, 1e-5));

  torch::manual_seed(123);
  expect_terms(net->loss(x0, x1, 1.0), want, "indep");
  // Real VGG weights: the stem holds conv1_1..conv3_1 of the trunk, and its features of X are reused.
  net->load_vgg_weights(dir / "vgg_stem.pt");
  torch::manual_seed(123);
  expect_terms(net->loss(x0, x1, 1.0), want, "stem");
}

}  // namespace
}  // namespace psmflow::model

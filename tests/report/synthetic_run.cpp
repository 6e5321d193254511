#include "synthetic_run.hpp"

#include <fstream>
#include <map>

#include "psmflow/eval/metrics.hpp"
#include "psmflow/store/run_dir.hpp"
#include "psmflow/store/embeddings.hpp"
#include "psmflow/store/frames.hpp"

namespace psmflow::test {

namespace {

// How strongly each model's embedding carries the AUs (PSM best, untrained none).
double signal_of(const std::string& tag) {
  if (tag == "psm") return 3.0;
  if (tag == "gm") return 1.5;
  if (tag == "untrained") return 0.0;
  if (tag.rfind("ctl-e", 0) == 0 || tag.rfind("psm-e", 0) == 0) return 0.05 * std::stoi(tag.substr(5));
  return 1.0;
}

}  // namespace

void write_synthetic_run(const std::filesystem::path& run_dir, const std::vector<SyntheticSubject>& subjects) {
  RunDir run(run_dir);
  const std::vector<int> aus = {1, 2, 4, 6, 9, 12, 25, 26};
  for (std::size_t s = 0; s < subjects.size(); ++s) {
    const auto& sub = subjects[s];
    const int crop = sub.crop;
    std::filesystem::create_directories(run.subject_dir(sub.id));
    eval::Rng rng(100 + s);
    std::map<int, std::vector<std::int8_t>> labels;
    FramesMeta meta;
    meta.subject = sub.id;
    meta.crop_size = crop;
    meta.fps = 20;
    FramesWriter w(run.frames(sub.id), meta);
    for (int i = 0; i < sub.frames; ++i) {
      std::vector<std::uint8_t> px(crop * crop * 3);
      for (auto& p : px) p = static_cast<std::uint8_t>(rng.below(256));
      for (std::size_t a = 0; a < aus.size(); ++a) {
        bool on = (i / (2 + static_cast<int>(a))) % 3 == 0;
        labels[aus[a]].push_back(static_cast<std::int8_t>(on ? 3 : rng.below(2)));
        if (on) px[a * 10] = 255;  // faint pixel trace of the AU for the PCA baseline
      }
      w.append(px.data(), i, i / 20.0, {0, 0, 64, 64}, true);
    }
    w.set_labels(labels);
    w.close();
    std::vector<std::string> tags = {"psm", "gm", "untrained"};
    tags.insert(tags.end(), sub.extra_tags.begin(), sub.extra_tags.end());
    for (const auto& tag : tags) {
      Embeddings e;
      e.n = sub.frames;
      e.code_dim = sub.code_dim;
      e.feature_dim = sub.feature_dim;
      double sig = signal_of(tag);
      for (int i = 0; i < sub.frames; ++i) {
        e.frame_index.push_back(i);
        for (int j = 0; j < e.code_dim; ++j) {
          double v = rng.below(2001) / 1000.0 - 1.0;
          if (j < static_cast<int>(aus.size())) v += sig * (labels[aus[j]][i] >= 2);
          e.code.push_back(static_cast<float>(v));
        }
        for (int j = 0; j < e.feature_dim; ++j) {
          double v = rng.below(2001) / 1000.0 - 1.0;
          if (j < static_cast<int>(aus.size())) v += 0.5 * sig * (labels[aus[j]][i] >= 2);
          e.feature.push_back(static_cast<float>(v));
        }
      }
      e.checkpoint = "synthetic/" + tag;
      write_embeddings(run.embeddings(sub.id, tag), tag, e);
    }
    write_embeddings_index(run.embeddings_index(sub.id), run.embeddings_dir(sub.id));
    std::filesystem::create_directories(run.psm_dir(sub.id));
    std::ofstream loss(run.psm_dir(sub.id) / "losses.csv");
    loss << "epoch,total,pixel,ssim\n";
    for (int ep = 1; ep <= 8; ++ep) loss << ep << "," << 16.0 / (1 + 0.2 * ep + 0.1 * s) << ",1,1\n";
  }
  std::filesystem::create_directories(run.gm_dir());
  std::ofstream gm(run.gm_dir() / "losses.csv");
  gm << "epoch,total\n";
  for (int ep = 1; ep <= 4; ++ep) gm << ep << "," << 14.0 / (1 + 0.3 * ep) << "\n";
}

}  // namespace psmflow::test

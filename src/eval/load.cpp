#include <fmt/format.h>

#include <map>
#include <set>

#include "psmflow/core/error.hpp"
#include "psmflow/eval/discovery.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/store/run_dir.hpp"
#include "psmflow/store/embeddings.hpp"
#include "psmflow/store/frames.hpp"

namespace psmflow::eval {

namespace {

Matrix embedding_matrix(const Embeddings& e, const std::string& which, const std::vector<int>& rows) {
  const bool code = which == "code";
  const int dims = code ? e.code_dim : e.feature_dim;
  const std::vector<float>& src = code ? e.code : e.feature;
  Matrix m(static_cast<int>(rows.size()), dims);
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (int j = 0; j < dims; ++j) m.at(static_cast<int>(i), j) = src[static_cast<std::size_t>(rows[i]) * dims + j];
  return m;
}

void attach_truth(SubjectData& d, const fs::path& csv, const std::vector<std::int64_t>& frame_index,
                  const std::vector<int>& rows) {
  Truth t = read_truth(csv);
  d.idiosyncrasy = t.kind;
  for (int r : rows) {
    auto it = t.intensity.find(frame_index[r]);
    if (it == t.intensity.end())
      throw StageError(fmt::format("{}: no row for frame {}, which preprocess kept", csv.string(), frame_index[r]));
    d.idio_intensity.push_back(it->second);
  }
}

}  // namespace

fs::path truth_file(const Config& cfg, const std::string& id) {
  for (const auto& s : cfg.data.subjects)
    if (s.id == id) return s.truth;
  return {};
}

SubjectData load_subject(const RunDir& run, const std::string& id, const std::string& embedding, const fs::path& truth) {
  if (embedding != "code" && embedding != "feature")
    throw UsageError("[model] embedding must be code or feature, not '" + embedding + "'");
  const fs::path frames_file = run.frames(id), emb_dir = run.embeddings_dir(id);
  if (!fs::exists(frames_file)) throw StageError(frames_file.string() + ": missing (run preprocess first)");
  FramesReader frames(frames_file);
  if (frames.labels().empty()) throw StageError(frames_file.string() + ": no AU labels, nothing to evaluate against");

  // Every model must have embedded a frame for it to be scored; keep the frames all of them share.
  std::map<std::string, Embeddings> by_tag;
  std::map<std::int64_t, int> frame_row;
  for (std::size_t i = 0; i < frames.frame_index().size(); ++i) frame_row[frames.frame_index()[i]] = static_cast<int>(i);
  std::set<std::int64_t> common(frames.frame_index().begin(), frames.frame_index().end());
  for (const auto& tag : embedding_tags(emb_dir)) {
    const fs::path emb_file = run.embeddings(id, tag);
    Embeddings e = read_embeddings(emb_file, tag);
    if ((embedding == "code" ? e.code_dim : e.feature_dim) == 0)
      throw StageError(fmt::format("{}: model '{}' has no {} embedding", emb_file.string(), tag, embedding));
    std::set<std::int64_t> have(e.frame_index.begin(), e.frame_index.end());
    std::set<std::int64_t> both;
    for (auto f : common)
      if (have.count(f)) both.insert(f);
    common.swap(both);
    by_tag.emplace(tag, std::move(e));
  }
  if (by_tag.empty()) throw StageError(emb_dir.string() + ": no model embeddings (run embed first)");
  if (common.empty()) throw StageError(emb_dir.string() + ": the embedded frames do not match those of " + frames_file.string());

  SubjectData d;
  d.subject = id;
  std::vector<int> rows;  // rows of frames.h5 kept, in file order
  for (auto f : common) rows.push_back(frame_row.at(f));
  std::sort(rows.begin(), rows.end());
  for (const auto& [au, values] : frames.labels()) {
    d.aus.push_back(au);
    std::vector<int> v;
    for (int r : rows) v.push_back(values.at(r));
    d.intensity.push_back(std::move(v));
  }
  if (!truth.empty()) attach_truth(d, truth, frames.frame_index(), rows);
  for (const auto& [tag, e] : by_tag) {
    std::map<std::int64_t, int> emb_row;
    for (std::size_t i = 0; i < e.frame_index.size(); ++i) emb_row[e.frame_index[i]] = static_cast<int>(i);
    std::vector<int> picks;
    for (int r : rows) picks.push_back(emb_row.at(frames.frame_index()[r]));
    d.embeddings[tag] = embedding_matrix(e, embedding, picks);
  }
  const int c = frames.crop_size(), px = c * c * 3;
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(px));
  d.pixels = Matrix(static_cast<int>(rows.size()), px);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    frames.read(rows[i], buf.data());
    double* out = d.pixels.row(static_cast<int>(i));
    for (int j = 0; j < px; ++j) out[j] = buf[j] / 255.0;
  }
  return d;
}

}  // namespace psmflow::eval

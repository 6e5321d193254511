// One subject's evaluation (METHOD.md §5, `psmflow evaluate`): AU presence and active AUs,
// person-dependent F1 for every model's embeddings and the two baselines (raw-pixel PCA and the
// untrained network), DBSCAN cluster counts over the grid for PSM and GM, and the chosen setting's
// clusters with AU profiles and novel flags. The result is the JSON of subjects/<id>/eval.json.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "psmflow/config/config.hpp"
#include "psmflow/eval/matrix.hpp"
#include "psmflow/store/manifest.hpp"

namespace psmflow {
class RunDir;
}

namespace psmflow::eval {

// Model tags with a fixed meaning; any other tag in embeddings.h5 is a variant (transfer, CTL).
inline const std::string kTagPsm = "psm";
inline const std::string kTagGm = "gm";
inline const std::string kTagUntrained = "untrained";
inline const std::string kTagPixels = "pixels-pca";  // the raw-pixel baseline (not in embeddings.h5)

struct SubjectData {
  std::string subject;
  std::vector<int> aus;                     // AU numbers with labels, ascending
  std::vector<std::vector<int>> intensity;  // [AU][frame]; -1 = unlabelled
  std::map<std::string, Matrix> embeddings; // tag -> frames x dims, rows aligned with intensity
  Matrix pixels;                            // frames x (crop*crop*3) in [0,1]; no rows = absent
  // Synthetic ground truth ([data] truth): the idiosyncrasy's kind and 0..5 intensity per row;
  // empty = none, and eval.json has no "discovery" section.
  std::string idiosyncrasy;
  std::vector<int> idio_intensity;
  int frames() const { return intensity.empty() ? 0 : static_cast<int>(intensity[0].size()); }
};

// Reads frames.h5 and embeddings.h5 of one subject (embedding "code" or "feature"), keeping the
// frames every model embedded, and with a truth file its idiosyncrasy per kept frame. Throws
// StageError naming the file and reason.
SubjectData load_subject(const RunDir& run, const std::string& id, const std::string& embedding,
                         const std::filesystem::path& truth = {});
// The truth file a config names for a subject ([data] truth); empty when none.
std::filesystem::path truth_file(const Config& cfg, const std::string& id);

// Presence per frame: 1 when intensity >= threshold, 0 below, -1 unlabelled.
std::vector<int> presence(const std::vector<int>& intensity, double threshold);

// Raw pixels projected on their first `components` principal components.
Matrix pca_project(const Matrix& pixels, int components);

// Seed of one subject's resampling: the run seed mixed with the id, so subjects differ but a rerun
// gives the same numbers.
std::uint64_t subject_seed(std::uint64_t run_seed, const std::string& subject);

nlohmann::json evaluate_subject(const SubjectData& data, const Config& cfg);

// The evaluate stage of one subject (load, evaluate_subject, eval.json) through run_stage(); its
// inputs are the output checksums of the preprocess and every embed record (pipeline::needs_hash).
StageOutcome evaluate_one(const Config& cfg, Manifest& m, const std::string& id, bool accept_unfinished = false);

}  // namespace psmflow::eval

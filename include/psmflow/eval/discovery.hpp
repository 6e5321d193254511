// Discovery scores against synthetic ground truth (issue 14): did a model's embedding find the
// subject's idiosyncratic movement, which the AU labels never mention? Two views:
// - detection: the idiosyncrasy's presence scored like an AU (person_dependent_f1), and
// - novel clusters: how well "frame lies in a novel cluster" (METHOD.md §5 rule, unchanged)
//   matches "idiosyncrasy present", with a permutation p-value.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "psmflow/eval/cluster.hpp"

namespace psmflow::eval {

// The idiosyncrasy per frame of a truth/<id>.csv (psmflow synth), keyed by 0-based video frame.
struct Truth {
  std::string kind;                  // e.g. "wink"
  std::map<std::int64_t, int> intensity;  // frame -> 0..5
};
// Throws StageError naming the file (and line) when it is missing, lacks the columns
// frame, idiosyncrasy and idio_intensity, or holds a value that is not a number in 0..5.
Truth read_truth(const std::filesystem::path& csv);

// 1 for every frame whose cluster (noise -1 included) is flagged novel, else 0. profiles and
// novel are the outputs of cluster_profiles() and novel_clusters() for these labels.
std::vector<int> frames_in_novel(const std::vector<int>& labels, const std::vector<ClusterProfile>& profiles,
                                 const std::vector<bool>& novel);

struct Enrichment {
  int frames = 0;
  int novel_frames = 0;  // frames in a novel cluster
  int idio_frames = 0;   // frames with the idiosyncrasy present
  int both = 0;
  double precision = 0;  // both / novel_frames (0 when no frame is novel)
  double recall = 0;     // both / idio_frames (0 when the idiosyncrasy never shows)
  // Fraction of circular shifts of the presence sequence (every shift 1..n-1, plus the observed
  // one) whose overlap with the novel frames reaches the observed overlap. Shifting instead of
  // shuffling keeps the episodes' length, so neighbouring frames do not fake significance.
  double p_value = 1;
  int permutations = 0;
};
// in_novel and present: 0/1 per frame, equal lengths.
Enrichment novel_enrichment(const std::vector<int>& in_novel, const std::vector<int>& present);

}  // namespace psmflow::eval

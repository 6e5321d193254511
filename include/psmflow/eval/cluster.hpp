// DBSCAN with scikit-learn's semantics, and the novel-cluster rule of METHOD.md §5.
#pragma once
#include <vector>

#include "psmflow/eval/matrix.hpp"

namespace psmflow::eval {

// Euclidean distances between all rows (symmetric, n x n).
Matrix pairwise_distances(const Matrix& x);

// Labels 0..k-1, noise -1. A point is core when at least min_samples points (itself included) lie
// within eps (inclusive). Clusters are numbered in the order of their first core point, and a
// border point joins the first cluster that reaches it: the same labels as sklearn.cluster.DBSCAN.
std::vector<int> dbscan(const Matrix& distances, double eps, int min_samples);
int cluster_count(const std::vector<int>& labels);  // noise is not a cluster

// One cluster's AU profile (noise included as cluster -1): the fraction of its frames with each AU
// present, over the frames where that AU is labelled.
struct ClusterProfile {
  int label = 0;  // -1 = noise
  int frames = 0;
  std::vector<double> profile;  // one value per AU, in the caller's AU order
};
// present[a][i]: 1 present, 0 absent, -1 unlabeled, for AU a and frame i.
std::vector<ClusterProfile> cluster_profiles(const std::vector<int>& labels,
                                             const std::vector<std::vector<int>>& present);

// M[p][g] = Pearson(p, g) - sum |p - g|, min-max normalised over the whole matrix (a matrix whose
// entries are all equal normalises to 1: every pair matches equally well).
Matrix match_matrix(const std::vector<std::vector<double>>& psm, const std::vector<std::vector<double>>& gm);

struct NovelResult {
  std::vector<int> psm_kept, gm_kept;  // indices into the inputs of the profiles kept (not all zero)
  Matrix match;                        // kept psm x kept gm
  std::vector<bool> psm_novel;         // one per input profile; dropped (all-zero) ones are false
  std::vector<bool> gm_novel;
};
// A PSM cluster is novel when no GM cluster reaches M > threshold in its row; symmetric for GM.
NovelResult novel_clusters(const std::vector<ClusterProfile>& psm, const std::vector<ClusterProfile>& gm,
                           double threshold);

}  // namespace psmflow::eval

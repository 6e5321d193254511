// A dense row-major matrix of doubles for the evaluation maths (small: frames x dims), with the
// standardisation and the exact dimension reduction that the classifiers use.
#pragma once
#include <cstddef>
#include <vector>

namespace psmflow::eval {

struct Matrix {
  int rows = 0;
  int cols = 0;
  std::vector<double> data;
  Matrix() = default;
  Matrix(int r, int c) : rows(r), cols(c), data(static_cast<std::size_t>(r) * c, 0.0) {}
  double* row(int i) { return data.data() + static_cast<std::size_t>(i) * cols; }
  const double* row(int i) const { return data.data() + static_cast<std::size_t>(i) * cols; }
  double& at(int i, int j) { return data[static_cast<std::size_t>(i) * cols + j]; }
  double at(int i, int j) const { return data[static_cast<std::size_t>(i) * cols + j]; }
};

// Rows picked by index, in the order given.
Matrix select_rows(const Matrix& m, const std::vector<int>& rows);

// z-score every column (population std, as sklearn's StandardScaler); constant columns become 0.
Matrix standardise(const Matrix& m);

// Coordinates of the rows in an orthonormal basis of their span: Z with Z Z^T = X X^T and at most
// min(rows, cols) columns. An L2-regularised linear model fitted on any subset of rows of Z makes
// the same predictions as one fitted on X (the optimal weights lie in the span of the training
// rows), so wide embeddings (2048-d features of a few hundred frames) are fitted in rows-d.
// Returns X itself when it is not wider than tall.
Matrix span_coordinates(const Matrix& x);

}  // namespace psmflow::eval

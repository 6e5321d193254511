#include "psmflow/eval/matrix.hpp"

#include <opencv2/core.hpp>

#include <cmath>
#include <stdexcept>

namespace psmflow::eval {

Matrix select_rows(const Matrix& m, const std::vector<int>& rows) {
  Matrix out(static_cast<int>(rows.size()), m.cols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double* src = m.row(rows[i]);
    std::copy(src, src + m.cols, out.row(static_cast<int>(i)));
  }
  return out;
}

Matrix standardise(const Matrix& m) {
  Matrix out = m;
  if (m.rows == 0) return out;
  for (int j = 0; j < m.cols; ++j) {
    double mean = 0;
    for (int i = 0; i < m.rows; ++i) mean += m.at(i, j);
    mean /= m.rows;
    double var = 0;
    for (int i = 0; i < m.rows; ++i) var += (m.at(i, j) - mean) * (m.at(i, j) - mean);
    double sd = std::sqrt(var / m.rows);
    // sklearn treats near-zero variance as constant; so do we, leaving the centred values (zeros).
    double scale = sd > 1e-12 * std::max(1.0, std::abs(mean)) ? sd : 1.0;
    for (int i = 0; i < m.rows; ++i) out.at(i, j) = (m.at(i, j) - mean) / scale;
  }
  return out;
}

Matrix span_coordinates(const Matrix& x) {
  if (x.cols <= x.rows) return x;
  cv::Mat xm(x.rows, x.cols, CV_64F, const_cast<double*>(x.data.data()));
  cv::Mat gram;
  cv::mulTransposed(xm, gram, false);  // X X^T
  cv::Mat values, vectors;             // descending eigenvalues, eigenvectors as rows
  if (!cv::eigen(gram, values, vectors)) throw std::runtime_error("eigen-decomposition of the Gram matrix failed");
  double top = values.at<double>(0);
  int rank = 0;
  while (rank < values.rows && values.at<double>(rank) > 1e-10 * top) ++rank;
  Matrix z(x.rows, std::max(rank, 1));
  for (int k = 0; k < rank; ++k) {
    double s = std::sqrt(values.at<double>(k));
    for (int i = 0; i < x.rows; ++i) z.at(i, k) = vectors.at<double>(k, i) * s;
  }
  return z;
}

}  // namespace psmflow::eval

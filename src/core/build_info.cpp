#include "psmflow/core/build_info.hpp"

#include <H5public.h>
#include <mpi.h>

#include <opencv2/core/utility.hpp>

#include "psmflow/core/openmp.hpp"
#include "psmflow/git_commit.hpp"

namespace psmflow {
namespace {

// MPI_Get_library_version may be called before MPI_Init; its first line names the library.
std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) return "unknown";
  std::string s(text, static_cast<std::size_t>(len));
  s = s.substr(0, s.find_first_of("\n,"));
  return s + " (MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION) + ")";
}

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace

std::vector<BuildEntry> build_info() {
  return {{"psmflow", PSMFLOW_VERSION},
          {"commit", PSMFLOW_GIT_COMMIT},
          {"MPI", mpi_version()},
          {"OpenCV", cv::getVersionString()},
          {"HDF5", hdf5_version()},
          {"OpenMP wait", openmp_wait_policy()}};
}

}  // namespace psmflow

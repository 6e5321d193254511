#include "psmflow/collectives/mpi.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace psmflow::collectives {

void mpi_check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  int rank = -1, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string name(call);
  name = name.substr(0, name.find('('));
  throw std::runtime_error(name + " failed on rank " + std::to_string(rank) + ": " + std::string(text, len));
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int init = 0;
  MPI_Initialized(&init);
  if (init) return;
  int provided = 0;
  PSMFLOW_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  owner_ = true;
  PSMFLOW_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owner_ && !finalized) MPI_Finalize();
}

RankInfo rank_info(MPI_Comm comm) {
  RankInfo info;
  PSMFLOW_MPI(MPI_Comm_rank(comm, &info.rank));
  PSMFLOW_MPI(MPI_Comm_size(comm, &info.world));
  MPI_Comm node;
  PSMFLOW_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, info.rank, MPI_INFO_NULL, &node));
  PSMFLOW_MPI(MPI_Comm_rank(node, &info.local_rank));
  PSMFLOW_MPI(MPI_Comm_size(node, &info.local_size));
  PSMFLOW_MPI(MPI_Comm_free(&node));
  return info;
}

void wait_polling(MPI_Request& req, MPI_Status* status) {
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int flag = 0;
    PSMFLOW_MPI(MPI_Test(&req, &flag, status));
    if (flag) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
}

void send_text(MPI_Comm comm, int dest, int tag, const std::string& text) {
  PSMFLOW_MPI(MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, dest, tag, comm));
}

std::string recv_text(MPI_Comm comm, int source, int tag, MPI_Status* status) {
  MPI_Status st;
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int flag = 0;
    PSMFLOW_MPI(MPI_Iprobe(source, tag, comm, &flag, &st));
    if (flag) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  int count = 0;
  PSMFLOW_MPI(MPI_Get_count(&st, MPI_CHAR, &count));
  std::string text(static_cast<std::size_t>(count), '\0');
  PSMFLOW_MPI(MPI_Recv(text.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, comm, &st));
  if (status) *status = st;
  return text;
}

void abort_job(const std::string& message) {
  // stderr directly: the logger may be locked by the stuck thread.
  std::fprintf(stderr, "psmflow: %s; aborting the job\n", message.c_str());
  std::fflush(stderr);
  // MPI_Abort from this thread while another sits inside MPI could itself block; if it has not
  // ended the job in 10 s, exiting is enough: mpirun ends a job whose rank exits nonzero.
  std::thread([] { MPI_Abort(MPI_COMM_WORLD, 1); }).detach();
  std::this_thread::sleep_for(std::chrono::seconds(10));
  ::_exit(1);
}

}  // namespace psmflow::collectives

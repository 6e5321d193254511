// MPI plumbing shared by the orchestrator and the GM trainer: a checker that names the failed call
// and MPI's own error text (STYLE.md 4), one session object per process, and waits that sleep
// instead of spinning (Open MPI's blocking calls busy-poll a core, which idle ranks on a 2-core
// node cannot afford).
#pragma once
#include <mpi.h>

#include <string>

namespace psmflow::collectives {

// Throws std::runtime_error("MPI_Send failed on rank 2: MPI_ERR_RANK: invalid rank") unless rc is MPI_SUCCESS.
void mpi_check(int rc, const char* call);
#define PSMFLOW_MPI(call) ::psmflow::collectives::mpi_check((call), #call)

// Initialises MPI (thread level FUNNELED or better) unless already initialised, and finalises
// only what it initialised. Errors on MPI_COMM_WORLD return codes instead of aborting, so the
// checker above can name them.
class MpiSession {
 public:
  MpiSession(int* argc = nullptr, char*** argv = nullptr);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owner_ = false;
};

struct RankInfo {
  int rank = 0;
  int world = 1;
  int local_rank = 0;  // among ranks of the same node (MPI_COMM_TYPE_SHARED)
  int local_size = 1;
};
RankInfo rank_info(MPI_Comm comm);

// Prints "psmflow: MESSAGE; aborting the job" to stderr and ends every rank (MPI_Abort, or _exit
// when that does not return within 10 s). Safe from any thread, also while another sits in MPI.
[[noreturn]] void abort_job(const std::string& message);

// Waits for a request by testing it with short sleeps (50 us growing to 2 ms).
void wait_polling(MPI_Request& req, MPI_Status* status = MPI_STATUS_IGNORE);

// Sends/receives a short text message (JSON) with a tag.
void send_text(MPI_Comm comm, int dest, int tag, const std::string& text);
std::string recv_text(MPI_Comm comm, int source, int tag, MPI_Status* status = nullptr);

}  // namespace psmflow::collectives

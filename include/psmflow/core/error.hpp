// Error kinds and exit codes shared by every command (PRODUCT.md: 0 ok, 1 a stage failed, 2 bad usage).
#pragma once
#include <stdexcept>
#include <string>

namespace psmflow {

enum ExitCode : int { kExitOk = 0, kExitStageFailed = 1, kExitUsage = 2 };

// Bad usage or bad config: nothing was started, exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A stage failed on one subject's input; recorded in the manifest, the run goes on, exit 1.
struct StageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A stop request (SIGTERM, time limit) ended the stage's work: run_stage records it `interrupted`
// and logs a warning, since the rerun continues from the stage's checkpoint.
struct StageInterrupted : StageError {
  using StageError::StageError;
};

}  // namespace psmflow

#include "support/test_support.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace psmflow::test {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp ? tmp : "/tmp";
  std::random_device rd;
  path_ = base / ("psmflow-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  if (std::getenv("PSMFLOW_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult edit_with_h5py(const fs::path& file, const std::string& statements) {
  return run_shell("/usr/bin/python3 -c " +
                   shell_quote("import sys, h5py, numpy as np; f = h5py.File(sys.argv[1], 'r+'); " + statements +
                               "; f.close()") +
                   " " + shell_quote(file.string()));
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path psmflow_binary() { return PSMFLOW_BINARY; }
fs::path shared_dir() { return PSMFLOW_SHARED_DIR; }

CommandResult run_psmflow(const std::string& args) {
  return run_shell(shell_quote(psmflow_binary().string()) + " " + args);
}

void write_text(const fs::path& p, const std::string& text) {
  if (!p.parent_path().empty()) fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

FileSizeLimit::FileSizeLimit(unsigned long bytes) {
  rlimit r{};
  if (getrlimit(RLIMIT_FSIZE, &r) != 0) throw std::runtime_error("getrlimit(RLIMIT_FSIZE) failed");
  old_soft_ = r.rlim_cur;
  old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  r.rlim_cur = bytes;
  if (setrlimit(RLIMIT_FSIZE, &r) != 0) throw std::runtime_error("setrlimit(RLIMIT_FSIZE) failed");
}

FileSizeLimit::~FileSizeLimit() {
  rlimit r{};
  getrlimit(RLIMIT_FSIZE, &r);
  r.rlim_cur = old_soft_;
  setrlimit(RLIMIT_FSIZE, &r);
  std::signal(SIGXFSZ, old_handler_);
}

}  // namespace psmflow::test

#include "gnuplot.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <stdexcept>

#include "psmflow/core/fs.hpp"

extern char** environ;

namespace psmflow::report {

std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void gnuplot_svg(const std::string& body, const std::filesystem::path& svg, int width, int height) {
  AtomicPath out(svg);
  AtomicPath script(svg.string() + ".gp");
  AtomicPath errors(svg.string() + ".err");
  write_file_atomic(script.temp(),
                    fmt::format("set terminal svg size {},{} fixed enhanced font 'Helvetica,12' background rgb 'white'\n"
                                "set output {}\n{}\nunset output\n",
                                width, height, gp_quote(out.temp().string()), body));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, errors.temp().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string prog = "gnuplot", arg = script.temp().string();
  char* argv[] = {prog.data(), arg.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start gnuplot (install gnuplot-nox): " + std::string(strerror(rc)));
  int status = 0;
  waitpid(pid, &status, 0);
  std::string err;
  try {
    err = read_file(errors.temp());
  } catch (const std::exception&) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !std::filesystem::exists(out.temp()))
    throw std::runtime_error(fmt::format("gnuplot failed drawing {}: {}", svg.filename().string(), err));
  out.commit();
}

}  // namespace psmflow::report

// Runs gnuplot (Debian gnuplot-nox) on a script as a child process, writing one SVG atomically.
#pragma once
#include <filesystem>
#include <string>

namespace psmflow::report {

// `body` is the plot script without terminal/output lines; the figure is written to a temporary
// name beside `svg` and renamed into place. Throws std::runtime_error with gnuplot's own message.
void gnuplot_svg(const std::string& body, const std::filesystem::path& svg, int width, int height);

// A gnuplot single-quoted string literal.
std::string gp_quote(const std::string& s);

}  // namespace psmflow::report

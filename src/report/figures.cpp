// The report's figures, drawn by gnuplot from report.json's numbers.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "psmflow/report/report.hpp"
#include "discovery.hpp"
#include "gnuplot.hpp"

namespace psmflow::report {

using nlohmann::json;

namespace {

const char* kPalette = "set linetype 1 lc rgb '#1f77b4'\nset linetype 2 lc rgb '#ff7f0e'\nset linetype 3 lc rgb '#2ca02c'\n"
                       "set linetype 4 lc rgb '#7f7f7f'\nset linetype 5 lc rgb '#9467bd'\nset linetype 6 lc rgb '#8c564b'\n"
                       "set linetype 7 lc rgb '#e377c2'\nset linetype 8 lc rgb '#bcbd22'\nset linetype 9 lc rgb '#17becf'\n";

std::string label(const std::string& model) {
  if (model == "psm") return "PSM";
  if (model == "gm") return "GM";
  if (model == "pixels-pca") return "raw-pixel PCA";
  return model;
}

// gnuplot's enhanced text treats _ ^ @ & { } as markup; subject ids and tags are shown literally.
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '^' || c == '@' || c == '&' || c == '{' || c == '}') out += "\\\\";
    out += c;
  }
  return out;
}

std::string xtics_for(std::size_t n) {
  if (n > 80) return "set xtics format ''\nset xlabel 'subjects'\n";
  return "set xtics rotate by -60 nomirror\n";
}

int width_for(std::size_t n) { return static_cast<int>(std::clamp<std::size_t>(200 + 22 * n, 800, 2400)); }

void f1_per_au(const json& r, const fs::path& file) {
  std::vector<std::string> models;
  for (const auto& m : r["models"])
    if (m == "psm" || m == "gm" || m == "untrained" || m == "pixels-pca") models.push_back(m);
  std::ostringstream data, plot;
  data << "$d << EOD\n";
  for (const auto& entry : r["per_au"]) {
    const json& by_model = entry["models"];
    data << "AU" << entry["au"].get<int>();
    for (const auto& m : models) {
      const json& v = by_model.contains(m) ? by_model[m] : json(nullptr);
      if (v.is_null()) data << " NaN NaN NaN";
      else data << fmt::format(" {} {} {}", v["mean"].get<double>(), v["lo"].get<double>(), v["hi"].get<double>());
    }
    data << '\n';
  }
  data << "EOD\n";
  for (std::size_t i = 0; i < models.size(); ++i)
    plot << (i ? ", '' " : "plot $d ") << fmt::format("using {}:{}:{}{} title {}", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i,
                                                      i ? "" : ":xtic(1)", gp_quote(esc(label(models[i]))));
  gnuplot_svg(std::string(kPalette) + data.str() +
                  "set style data histogram\nset style histogram errorbars gap 2 lw 1\n"
                  "set style fill solid 0.85 border -1\nset yrange [0:1.05]\nset ylabel 'person-dependent F1'\n"
                  "set key outside right top\nset grid ytics\nset title 'F1 per AU: mean over subjects, 95% interval'\n" +
                  plot.str(),
              file, 900, 420);
}

void subject_bars(const json& rows, const std::string& key, const std::string& ylabel, const std::string& title,
                  const fs::path& file) {
  std::ostringstream data;
  data << "$d << EOD\n";
  bool interval = false;
  for (const auto& row : rows) {
    if (!row.contains(key)) continue;
    const json& v = row[key];
    if (v.is_object()) interval = true, data << fmt::format("{} {} {} {}\n", row["subject"].get<std::string>(),
                                                            v["mean"].get<double>(), v["lo"].get<double>(), v["hi"].get<double>());
    else data << fmt::format("{} {}\n", row["subject"].get<std::string>(), v.get<double>());
  }
  data << "EOD\n";
  std::string plot = interval ? "plot $d using 0:2:xtic(1) with boxes lt 1 notitle, '' using 0:2:3:4 with yerrorbars lt -1 ps 0 notitle\n"
                              : "plot $d using 0:2:xtic(1) with boxes lt 2 notitle\n";
  gnuplot_svg(std::string(kPalette) + data.str() + xtics_for(rows.size()) +
                  "set style fill solid 0.85 border -1\nset boxwidth 0.7\nset xzeroaxis lt -1\nset grid ytics\n"
                  "set offsets 0.5, 0.5, 0, 0\nset yrange [*<0:0<*]\nset ylabel " + gp_quote(ylabel) + "\nset title " + gp_quote(title) + "\n" + plot,
              file, width_for(rows.size()), 380);
}

void novel_counts(const json& rows, const fs::path& file) {
  std::ostringstream data;
  data << "$d << EOD\n";
  for (const auto& row : rows)
    if (row.contains("novel_psm"))
      data << fmt::format("{} {} {}\n", row["subject"].get<std::string>(), row["novel_psm"].get<int>(), row["novel_gm"].get<int>());
  data << "EOD\n";
  gnuplot_svg(std::string(kPalette) + data.str() + xtics_for(rows.size()) +
                  "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                  "set yrange [0:*]\nset grid ytics\nset ylabel 'novel clusters'\nset key outside right top\n"
                  "set title 'Novel clusters per subject (chosen DBSCAN setting)'\n"
                  "plot $d using 2:xtic(1) title 'PSM', '' using 3 title 'GM'\n",
              file, width_for(rows.size()), 380);
}

void loss_curves(const std::vector<LossCurve>& losses, const fs::path& file) {
  std::ostringstream data, plot;
  for (std::size_t i = 0; i < losses.size(); ++i) {
    data << "$l" << i << " << EOD\n";
    for (std::size_t k = 0; k < losses[i].epoch.size(); ++k) data << losses[i].epoch[k] << ' ' << losses[i].total[k] << '\n';
    data << "EOD\n";
    plot << (i ? ", " : "plot ") << "$l" << i << " using 1:2 with linespoints pt 7 ps 0.4 lw "
         << (losses[i].name == "gm" ? 3 : 1.5) << " title " << gp_quote(esc(losses[i].name));
  }
  gnuplot_svg(std::string(kPalette) + data.str() +
                  "set xlabel 'epoch'\nset ylabel 'total loss'\nset grid\nset key outside right top\n"
                  "set title 'Training loss'\n" + plot.str() + "\n",
              file, 900, 400);
}

void ctl_curves(const json& ctl, const fs::path& file) {
  std::ostringstream data, plot;
  int i = 0;
  for (const auto& [name, pts] : ctl.items()) {
    data << "$c" << i << " << EOD\n";
    for (const auto& p : pts)
      data << fmt::format("{} {} {} {}\n", p["epoch"].get<int>(), p["mean"].get<double>(), p["lo"].get<double>(), p["hi"].get<double>());
    data << "EOD\n";
    std::string title = name == "ctl" ? "PSM-CTL" : "PSM";
    plot << (i ? ", " : "plot ") << "$c" << i << " using 1:2:3:4 with yerrorlines lw 2 title " << gp_quote(title);
    ++i;
  }
  gnuplot_svg(std::string(kPalette) + data.str() +
                  "set xlabel 'epoch'\nset ylabel 'person-dependent F1'\nset grid\nset key bottom right\n"
                  "set title 'CTL vs plain PSM: F1 at each saved epoch'\n" + plot.str() + "\n",
              file, 800, 400);
}

void transfer_bars(const json& t, const fs::path& file) {
  std::ostringstream data;
  data << "$d << EOD\n";
  const std::vector<std::pair<const char*, const char*>> shown = {
      {"psm", "scratch, long"}, {"tl-gm", "GM + short"}, {"tl-psm", "other PSM + short"}, {"tl-scratch", "scratch, short"}};
  for (const auto& [k, name] : shown)
    if (t.contains(k))
      data << fmt::format("\"{}\" {} {} {}\n", name, t[k]["mean"].get<double>(),
                          t[k]["lo"].get<double>(), t[k]["hi"].get<double>());
  data << "EOD\n";
  gnuplot_svg(std::string(kPalette) + data.str() +
                  "set style fill solid 0.85 border -1\nset boxwidth 0.6\nset yrange [0:1.05]\nset grid ytics\n"
                  "set offsets 0.5, 0.5, 0, 0\nset ylabel 'person-dependent F1'\nset xtics nomirror\n"
                  "set title 'Transfer learning: four ways to get a PSM'\n"
                  "plot $d using 0:2:xtic(1) with boxes lt 3 notitle, '' using 0:2:3:4 with yerrorbars lt -1 ps 0 notitle\n",
              file, 1000, 400);
}

}  // namespace

std::map<std::string, fs::path> draw_figures(const json& r, const std::vector<LossCurve>& losses, const fs::path& dir) {
  fs::create_directories(dir);
  std::map<std::string, fs::path> out;
  auto draw = [&](const std::string& name, const std::function<void(const fs::path&)>& fn) {
    fs::path file = dir / (name + ".svg");
    try {
      fn(file);
      out[name] = file;
    } catch (const std::exception& e) {
      spdlog::warn("collect: figure {} not drawn: {}", name, e.what());
    }
  };
  const json& rows = r["per_subject"];
  bool any_diff = false, any_cluster = false, any_novel = false;
  for (const auto& row : rows)
    any_diff |= row.contains("psm_minus_gm"), any_cluster |= row.contains("cluster_diff_gm_minus_psm"),
        any_novel |= row.contains("novel_psm");
  if (!r["per_au"].empty()) draw("f1_per_au", [&](const fs::path& f) { f1_per_au(r, f); });
  if (any_diff)
    draw("psm_minus_gm", [&](const fs::path& f) {
      subject_bars(rows, "psm_minus_gm", "F1 difference", "PSM - GM person-dependent F1 per subject (95% interval)", f);
    });
  if (any_cluster)
    draw("cluster_diff", [&](const fs::path& f) {
      subject_bars(rows, "cluster_diff_gm_minus_psm", "cluster count difference",
                   "GM - PSM DBSCAN cluster count per subject (mean over the grid)", f);
    });
  if (any_novel) draw("novel_clusters", [&](const fs::path& f) { novel_counts(rows, f); });
  if (!losses.empty()) draw("losses", [&](const fs::path& f) { loss_curves(losses, f); });
  if (r.contains("ctl") && !r["ctl"].is_null()) draw("ctl", [&](const fs::path& f) { ctl_curves(r["ctl"], f); });
  if (r.contains("transfer") && !r["transfer"].is_null())
    draw("transfer", [&](const fs::path& f) { transfer_bars(r["transfer"], f); });
  draw_discovery(r, dir, out);
  return out;
}

}  // namespace psmflow::report

#include "discovery.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "gnuplot.hpp"
#include "render.hpp"

namespace psmflow::report {

using nlohmann::json;

namespace {

const std::vector<std::string> kEmbeddings = {"psm", "gm", "untrained", "pixels-pca"};

bool holds(const json& clusters, const char* model) {
  if (!clusters.contains(model)) return false;
  const json& c = clusters[model];
  return c["both"].get<int>() > 0 && c["p_value"].get<double>() < kDiscoveryAlpha;
}

json mean_detection(const json& subjects) {
  json out = json::object();
  for (const auto& m : kEmbeddings) {
    double sum = 0;
    int n = 0;
    for (const auto& s : subjects)
      if (s["detection"].contains(m)) sum += s["detection"][m]["f1"].get<double>(), ++n;
    if (n) out[m] = {{"mean", sum / n}, {"subjects", n}};
  }
  return out;
}

// The plain sentence at the top of the report.
std::string sentence(const json& d) {
  const int n = d["subjects_with_truth"], psm_only = d["psm_only"], gm_only = d["gm_only"];
  const json& det = d["mean_detection"];
  std::string detection;
  if (det.contains("psm") && det.contains("gm"))
    detection = fmt::format("; detecting it from the embedding, PSM F1 {:.3f} vs GM {:.3f}",
                            det["psm"]["mean"].get<double>(), det["gm"]["mean"].get<double>());
  const bool found = psm_only > gm_only;
  return fmt::format("Discovery (synthetic ground truth): PSMs {} what GMs missed in this run — the PSM's novel clusters "
                     "held the person's own unlabelled movement (p < {}) where the GM's did not in {} of {} subjects, "
                     "the reverse in {}{}.",
                     found ? "found" : "did NOT find", kDiscoveryAlpha, psm_only, n, gm_only, detection);
}

std::string pct(const json& v) { return v.is_null() ? "-" : num(v, 2); }

}  // namespace

json discovery_summary(const std::vector<std::pair<std::string, json>>& evals) {
  json subjects = json::array();
  int psm_only = 0, gm_only = 0, both = 0;
  for (const auto& [id, e] : evals) {
    if (!e.contains("discovery")) continue;
    const json& d = e["discovery"];
    json row = {{"subject", id}, {"idiosyncrasy", d["idiosyncrasy"]}, {"present_frames", d["present_frames"]},
                {"fraction", d["fraction"]}, {"detection", d["detection"]}, {"clusters", d["clusters"]}};
    const bool p = holds(d["clusters"], "psm"), g = holds(d["clusters"], "gm");
    row["psm_holds"] = p, row["gm_holds"] = g;
    psm_only += p && !g, gm_only += g && !p, both += p && g;
    subjects.push_back(row);
  }
  if (subjects.empty()) return nullptr;
  json out = {{"subjects", subjects}, {"subjects_with_truth", subjects.size()}, {"psm_only", psm_only},
              {"gm_only", gm_only}, {"both", both}, {"alpha", kDiscoveryAlpha}, {"mean_detection", mean_detection(subjects)}};
  out["found"] = psm_only > gm_only;
  out["sentence"] = sentence(out);
  return out;
}

Table discovery_table(const json& r) {
  Table t{"discovery", "Discovery (synthetic ground truth)",
          "Each synthetic person has a movement of their own that the AU labels never mention (psmflow synth's "
          "truth file). Detection: F1 of 'idiosyncrasy present' (intensity >= the AU threshold) with the AU classifier, "
          "folds and bootstrap. Novel clusters (METHOD.md §5 rule, unchanged): precision and recall of 'frame lies in a "
          "novel cluster' against 'idiosyncrasy present', p from every circular shift of the presence sequence. The rule "
          "drops clusters whose AU profile is all zero, so frames where the movement shows without any AU cannot be "
          "flagged novel.",
          {"subject", "idiosyncrasy", "present"}, {}};
  if (!r.contains("discovery") || r["discovery"].is_null()) return t;
  for (const auto& m : kEmbeddings) t.header.push_back("F1 " + model_label(m));
  for (const char* h : {"PSM novel: precision / recall / p", "GM novel: precision / recall / p"}) t.header.push_back(h);
  for (const auto& s : r["discovery"]["subjects"]) {
    std::vector<std::string> row = {s["subject"], s["idiosyncrasy"],
                                    fmt::format("{} ({}%)", num(s["present_frames"]), num(json(100 * s["fraction"].get<double>()), 1))};
    for (const auto& m : kEmbeddings)
      row.push_back(s["detection"].contains(m) ? interval_text({{"mean", s["detection"][m]["f1"]},
                                                                {"lo", s["detection"][m]["boot"]["lo"]},
                                                                {"hi", s["detection"][m]["boot"]["hi"]}})
                                               : "-");
    for (const char* m : {"psm", "gm"}) {
      const json& c = s["clusters"].value(m, json());
      row.push_back(c.is_null() ? "-"
                                : fmt::format("{} / {} / {}", pct(c["precision"]), pct(c["recall"]), num(c["p_value"], 3)));
    }
    t.rows.push_back(row);
  }
  return t;
}

void draw_discovery(const json& r, const std::filesystem::path& dir, std::map<std::string, std::filesystem::path>& out) {
  if (!r.contains("discovery") || r["discovery"].is_null()) return;
  for (const auto& s : r["discovery"]["subjects"]) {
    const std::string id = s["subject"];
    std::ostringstream data;
    data << "$d << EOD\n";
    for (const auto& m : kEmbeddings)
      if (s["detection"].contains(m)) {
        const json& v = s["detection"][m];
        data << fmt::format("\"{} F1\" {} {} {}\n", model_label(m), v["f1"].get<double>(), v["boot"]["lo"].get<double>(),
                            v["boot"]["hi"].get<double>());
      }
    for (const char* m : {"psm", "gm"})
      if (s["clusters"].contains(m)) {
        const json& c = s["clusters"][m];
        for (const char* k : {"precision", "recall"})
          data << fmt::format("\"{} novel {}\" {} {} {}\n", model_label(m), k, c[k].get<double>(), c[k].get<double>(),
                              c[k].get<double>());
      }
    data << "EOD\n";
    const std::filesystem::path file = dir / ("discovery_" + id + ".svg");
    const std::string title = fmt::format("{}: {} (present in {} frames)", id, s["idiosyncrasy"].get<std::string>(),
                                          s["present_frames"].get<int>());
    try {
      gnuplot_svg(data.str() +
                      "set style fill solid 0.85 border -1\nset boxwidth 0.6\nset yrange [0:1.05]\nset grid ytics\n"
                      "set offsets 0.5, 0.5, 0, 0\nset xtics rotate by -30 nomirror noenhanced\nset ylabel 'score'\n"
                      "set title " + gp_quote(title) + " noenhanced\n"
                      "plot $d using 0:2:xtic(1) with boxes lc rgb '#1f77b4' notitle, '' using 0:2:3:4 with yerrorbars lt -1 ps 0 notitle\n",
                  file, 900, 380);
      out["discovery_" + id] = file;
    } catch (const std::exception& e) {
      spdlog::warn("collect: figure discovery_{} not drawn: {}", id, e.what());
    }
  }
}

}  // namespace psmflow::report

// evaluate + collect on a small run written with the real store, the aggregation maths on
// synthetic eval.json files, and the report rendered in headless Chromium.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/report/report.hpp"
#include "support/test_support.hpp"
#include "synthetic_run.hpp"

using namespace psmflow;
using nlohmann::json;
using psmflow::test::run_psmflow;
using psmflow::test::run_shell;
using psmflow::test::ScratchDir;
using psmflow::test::shell_quote;

namespace {

// Three evaluated subjects (S03 with transfer and CTL variants) and S04 whose preprocess failed.
struct EvaluatedRun : ::testing::Test {
  static ScratchDir* dir;
  static fs::path run_dir() { return dir->path() / "run"; }
  static void SetUpTestSuite() {
    dir = new ScratchDir;
    test::write_synthetic_run(run_dir(), {{"S01", 90, {}},
                                          {"S02", 90, {}},
                                          {"S03", 90, {"tl-gm", "tl-psm-S01", "tl-psm-S02", "tl-scratch", "psm-e10",
                                                       "ctl-e10", "psm-e20", "ctl-e20"}}});
    RunDir run(run_dir());
    Manifest m(run);
    fs::create_directories(run.manifest_dir());
    Record r = m.begin("S04", stage::preprocess, "in", "cfg");
    m.finish_failed(r, "S04.avi: no face found in 270 frames");
    auto ev = run_psmflow("evaluate --run-dir " + shell_quote(run_dir().string()) + " --subject S01 --subject S02 --subject S03");
    ASSERT_EQ(ev.exit_code, 0) << ev.output;
    auto co = run_psmflow("collect --run-dir " + shell_quote(run_dir().string()));
    ASSERT_EQ(co.exit_code, 0) << co.output;
  }
  static void TearDownTestSuite() { delete dir; }
  static json report() { return json::parse(read_file(run_dir() / "report" / "report.json")); }
};
ScratchDir* EvaluatedRun::dir = nullptr;

}  // namespace

TEST_F(EvaluatedRun, EvalJsonHasEveryModelAndBaseline) {
  json e = json::parse(read_file(run_dir() / "subjects" / "S01" / "eval.json"));
  for (const char* m : {"psm", "gm", "untrained", "pixels-pca"}) EXPECT_TRUE(e["models"].contains(m)) << m;
  EXPECT_EQ(e["embedding"], "code");
  EXPECT_EQ(e["models"]["psm"]["dims"], 12);
  EXPECT_GT(e["models"]["psm"]["mean"]["mean"].get<double>(), e["models"]["untrained"]["mean"]["mean"].get<double>());
  auto rec = Manifest(RunDir(run_dir())).get("S01", stage::evaluate);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, Status::done);
  // A second run with nothing changed is skipped.
  auto again = run_psmflow("evaluate --run-dir " + shell_quote(run_dir().string()) + " --subject S01");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.find("skipped"), std::string::npos) << again.output;
}

TEST_F(EvaluatedRun, EvaluateWithoutInputsFailsAndSaysWhy) {
  auto r = run_psmflow("evaluate --run-dir " + shell_quote(run_dir().string()) + " --subject S09");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("evaluate of S09 needs preprocess: no record and no "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("subjects/S09/frames.h5"), std::string::npos) << r.output;
}

TEST_F(EvaluatedRun, ReportJsonAggregatesAndNamesTheFailedSubject) {
  json r = report();
  EXPECT_EQ(r["subjects_evaluated"], 3);
  ASSERT_EQ(r["missing"].size(), 1u);
  EXPECT_EQ(r["missing"][0]["subject"], "S04");
  EXPECT_EQ(r["missing"][0]["stage"], "preprocess");
  EXPECT_NE(r["missing"][0]["error"].get<std::string>().find("no face found"), std::string::npos);
  EXPECT_EQ(r["psmflow_version"], PSMFLOW_VERSION);
  EXPECT_FALSE(r["config_hash"].get<std::string>().empty());
  EXPECT_GT(r["headline"]["psm"]["mean"].get<double>(), r["headline"]["untrained"]["mean"].get<double>());
  EXPECT_EQ(r["psm_vs_gm"]["subjects_with_both"], 3);
  EXPECT_TRUE(r["transfer"].contains("tl-psm"));
  EXPECT_EQ(r["transfer"]["tl-psm"]["subjects"], 1);
  ASSERT_TRUE(r["ctl"].contains("ctl"));
  EXPECT_EQ(r["ctl"]["ctl"].size(), 2u);
  EXPECT_TRUE(r["person_independent"]["models"].contains("psm"));
  for (const char* f : {"f1_per_au", "psm_minus_gm", "cluster_diff", "novel_clusters", "losses", "ctl", "transfer"}) {
    ASSERT_TRUE(r["figures"].contains(f)) << f;
    EXPECT_TRUE(fs::exists(run_dir() / "report" / r["figures"][f].get<std::string>())) << f;
  }
  std::string md = read_file(run_dir() / "report" / "report.md");
  EXPECT_NE(md.find("Missing or failed subjects"), std::string::npos);
  EXPECT_NE(md.find("| S04 | preprocess | failed |"), std::string::npos) << md;
}

TEST_F(EvaluatedRun, HtmlIsSelfContained) {
  std::string html = read_file(run_dir() / "report" / "report.html");
  // Every src and href is a data: URI or an anchor; nothing points at a network or a file.
  // (Scanned by hand: std::regex recurses per character and overflows the stack on megabyte URIs.)
  int figures = 0;
  for (const std::string attr : {"src=\"", "href=\""})
    for (auto at = html.find(attr); at != std::string::npos; at = html.find(attr, at + 1)) {
      std::string target = html.substr(at + attr.size(), 40);
      EXPECT_TRUE(target.rfind("data:", 0) == 0 || target.rfind("#", 0) == 0) << target;
      figures += target.rfind("data:image/svg+xml;base64,", 0) == 0;
    }
  EXPECT_EQ(figures, 7);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST_F(EvaluatedRun, RendersInHeadlessChromiumWithEveryFigureLoaded) {
  if (run_shell("command -v chromium").exit_code != 0) GTEST_SKIP() << "chromium is absent: the browser rendering is not checked";
  fs::path html = run_dir() / "report" / "report.html";
  const std::string flags = "--headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run "
                            "--disable-component-update --disable-sync --hide-scrollbars --user-data-dir=" +
                            shell_quote((dir->path() / "chromium-profile").string());
  fs::path png = dir->path() / "report.png";
  auto shot = run_shell("timeout 120 chromium " + flags + " --screenshot=" + shell_quote(png.string()) +
                        " --window-size=1200,2400 " + shell_quote("file://" + html.string()));
  ASSERT_TRUE(fs::exists(png)) << shot.output;
  cv::Mat img = cv::imread(png.string(), cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, 1200);
  cv::Scalar mean, sd;
  cv::meanStdDev(img, mean, sd);
  EXPECT_GT(sd[0], 20.0) << "screenshot looks blank (mean " << mean[0] << ")";
  if (const char* keep = std::getenv("PSMFLOW_REPORT_SCREENSHOT")) fs::copy_file(png, keep, fs::copy_options::overwrite_existing);

  // A copy whose load handler writes how many images decoded into the DOM that Chromium dumps.
  std::string page = read_file(html);
  page.replace(page.rfind("</body>"), 7,
               "<script>window.addEventListener('load',()=>{const i=[...document.images];"
               "document.body.setAttribute('data-loaded',i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);"
               "});</script></body>");
  fs::path probe = dir->path() / "report" / "probe.html";
  fs::create_directories(probe.parent_path());
  write_file_atomic(probe, page);
  auto dom = run_shell("timeout 120 chromium " + flags + " --dump-dom " + shell_quote("file://" + probe.string()) + " 2>/dev/null");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.output, m, std::regex("data-loaded=\"([0-9]+)/([0-9]+)\""))) << dom.output.substr(0, 400);
  EXPECT_EQ(m[1], m[2]) << "images loaded / images";
  EXPECT_GE(std::stoi(m[2]), 7 + 3);  // seven figures and three subjects' faces
}

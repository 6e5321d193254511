// The collector's arithmetic on eval.json files whose numbers are chosen by hand.
#include <gtest/gtest.h>

#include "psmflow/core/fs.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/report/report.hpp"
#include "psmflow/store/manifest.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using nlohmann::json;
using psmflow::test::ScratchDir;

namespace {

json model(double v) {
  json au = {{"f1", v}, {"boot", {{"mean", v}, {"lo", v - 0.1}, {"hi", v + 0.1}}}};
  return {{"dims", 4}, {"baseline", false}, {"aus", {{"AU1", au}, {"AU2", au}}}, {"mean_f1", v},
          {"mean", {{"mean", v}, {"lo", v - 0.05}, {"hi", v + 0.05}}}, {"mean_draws", {v - 0.01, v, v + 0.01}}};
}

json fake_eval(const std::string& id, double psm, double gm, json psm_counts, json gm_counts, int novel_psm, int novel_gm) {
  return {{"subject", id},
          {"frames", 100},
          {"active_aus", {1, 2}},
          {"aus", {{"AU1", {{"fraction", 0.2}}}, {"AU2", {{"fraction", 0.1}}}}},
          {"models", {{"psm", model(psm)}, {"gm", model(gm)}}},
          {"clusters", {{"counts", {{"psm", psm_counts}, {"gm", gm_counts}}},
                        {"chosen", {{"novel_psm", novel_psm}, {"novel_gm", novel_gm}}}}},
          {"warnings", json::array()}};
}

void put(const RunDir& run, const json& e) {
  fs::create_directories(run.subject_dir(e["subject"]));
  write_file_atomic(run.eval_json(e["subject"]), e.dump());
}

}  // namespace

TEST(ReportAggregate, NumbersByHand) {
  ScratchDir dir;
  RunDir run(dir / "run");
  put(run, fake_eval("A", 0.8, 0.7, {{3, 1}}, {{2, 1}}, 2, 0));  // cluster diff GM-PSM: (-1 + 0) / 2
  put(run, fake_eval("B", 0.6, 0.65, {{1, 1}}, {{2, 2}}, 0, 1));  // +1
  put(run, fake_eval("C", 0.9, 0.7, {{4, 2}}, {{2, 2}}, 1, 0));  // -1
  Config cfg = default_config();
  json r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_EQ(r["subjects_evaluated"], 3);
  EXPECT_NEAR(r["headline"]["psm"]["mean"].get<double>(), 2.3 / 3, 1e-12);
  // Per-draw means over subjects: psm - 0.01, psm, psm + 0.01; percentiles 2.5 / 97.5 of three values.
  EXPECT_NEAR(r["headline"]["psm"]["lo"].get<double>(), 2.3 / 3 - 0.01 + 0.05 * 0.01, 1e-12);
  EXPECT_NEAR(r["headline"]["psm"]["hi"].get<double>(), 2.3 / 3 + 0.01 - 0.05 * 0.01, 1e-12);
  EXPECT_EQ(r["psm_vs_gm"]["psm_ahead"], 2);
  EXPECT_EQ(r["psm_vs_gm"]["subjects_with_both"], 3);
  EXPECT_NEAR(r["clusters"]["mean_diff_gm_minus_psm"].get<double>(), (-0.5 + 1 - 1) / 3, 1e-12);
  EXPECT_EQ(r["clusters"]["novel_psm_total"], 3);
  EXPECT_EQ(r["clusters"]["novel_gm_total"], 1);
  EXPECT_NEAR(r["chance_f1"].get<double>(), (2 * 0.2 / 1.2 + 2 * 0.1 / 1.1) / 2, 1e-12);
  EXPECT_NEAR(r["per_au"][0]["models"]["gm"]["mean"].get<double>(), (0.7 + 0.65 + 0.7) / 3, 1e-12);
  EXPECT_EQ(r["per_au"][0]["au"], 1);
  EXPECT_NEAR(r["per_subject"][0]["psm_minus_gm"]["mean"].get<double>(), 0.1, 1e-12);
  EXPECT_TRUE(r["transfer"].is_null());
  EXPECT_TRUE(r["ctl"].is_null());
  // No baselines in these files: the verdict cannot claim the models beat them.
  EXPECT_FALSE(r["verdict"]["beats_baselines"].get<bool>());
}

TEST(ReportAggregate, SaysPlainlyWhenModelsDoNotBeatBaselines) {
  ScratchDir dir;
  RunDir run(dir / "run");
  json e = fake_eval("A", 0.59, 0.6, {{1}}, {{1}}, 0, 0);
  e["models"]["untrained"] = model(0.78);
  e["models"]["pixels-pca"] = model(0.78);
  put(run, e);
  Config cfg = default_config();
  json r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_FALSE(r["verdict"]["beats_baselines"].get<bool>());
  std::string all = r["verdict"]["lines"].dump();
  EXPECT_NE(all.find("do not beat the baselines"), std::string::npos) << all;
  EXPECT_NE(all.find("BELOW"), std::string::npos) << all;
}

TEST(ReportAggregate, ManySubjectsAndAnUnreadableFile) {
  ScratchDir dir;
  RunDir run(dir / "run");
  int ahead = 0;
  for (int i = 0; i < 150; ++i) {
    double psm = 0.5 + (i % 7) * 0.05, gm = 0.5 + (i % 5) * 0.05;
    ahead += psm > gm;
    put(run, fake_eval("S" + std::to_string(i), psm, gm, {{2, 1}}, {{1, 1}}, i % 2, 0));
  }
  fs::create_directories(run.subject_dir("BAD"));
  write_file_atomic(run.eval_json("BAD"), "{\"models\": ");
  Config cfg = default_config();
  json r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_EQ(r["subjects_evaluated"], 150);
  EXPECT_EQ(r["psm_vs_gm"]["psm_ahead"], ahead);
  ASSERT_EQ(r["missing"].size(), 1u);
  EXPECT_EQ(r["missing"][0]["status"], "unreadable");
  EXPECT_NE(r["missing"][0]["error"].get<std::string>().find("BAD/eval.json"), std::string::npos);
  EXPECT_NEAR(r["clusters"]["mean_diff_gm_minus_psm"].get<double>(), -0.5, 1e-12);
}

TEST(ReportLosses, ReadsColumnsByHeaderName) {
  ScratchDir dir;
  test::write_text(dir / "a.csv", "total,epoch,pixel\n9.5,1,3\n8.25,2,2\nbad,3,1\n");
  auto c = report::read_loss_csv(dir / "a.csv", "x");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->epoch, (std::vector<double>{1, 2}));
  EXPECT_EQ(c->total, (std::vector<double>{9.5, 8.25}));
  test::write_text(dir / "b.csv", "step,loss\n1,2\n");
  EXPECT_FALSE(report::read_loss_csv(dir / "b.csv", "x"));
  EXPECT_FALSE(report::read_loss_csv(dir / "none.csv", "x"));
}

namespace {
json with_discovery(json e, double psm_f1, double gm_f1, double psm_p, double gm_p) {
  auto det = [](double f) { return json{{"f1", f}, {"boot", {{"mean", f}, {"lo", f - 0.1}, {"hi", f + 0.1}}}, {"baseline", false}}; };
  auto cl = [](double p) {
    return json{{"novel_frames", 20}, {"idio_frames", 30}, {"both", 10}, {"precision", 0.5}, {"recall", 1.0 / 3},
                {"p_value", p}, {"permutations", 99}};
  };
  e["discovery"] = {{"idiosyncrasy", "wink"}, {"present_frames", 30}, {"fraction", 0.3},
                    {"detection", {{"psm", det(psm_f1)}, {"gm", det(gm_f1)}}},
                    {"clusters", {{"psm", cl(psm_p)}, {"gm", cl(gm_p)}}}};
  return e;
}
}  // namespace

// The discovery section: counts of subjects whose PSM (or GM) alone holds the idiosyncrasy, the
// sentence at the top of the report, the table, and one figure per subject.
TEST(ReportAggregate, DiscoverySectionAndTopSentence) {
  ScratchDir dir;
  RunDir run(dir / "run");
  put(run, with_discovery(fake_eval("A", 0.8, 0.7, {{3}}, {{2}}, 2, 0), 0.9, 0.3, 0.01, 0.5));  // PSM only
  put(run, with_discovery(fake_eval("B", 0.8, 0.7, {{3}}, {{2}}, 2, 0), 0.7, 0.5, 0.01, 0.02));  // both
  put(run, fake_eval("C", 0.8, 0.7, {{3}}, {{2}}, 2, 0));                                        // no truth
  Config cfg = default_config();
  json r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  const json& d = r["discovery"];
  EXPECT_EQ(d["subjects_with_truth"], 2);
  EXPECT_EQ(d["psm_only"], 1);
  EXPECT_EQ(d["gm_only"], 0);
  EXPECT_EQ(d["both"], 1);
  EXPECT_TRUE(d["found"].get<bool>());
  EXPECT_NEAR(d["mean_detection"]["psm"]["mean"].get<double>(), 0.8, 1e-12);
  const std::string top = r["verdict"]["lines"][0];
  EXPECT_NE(top.find("PSMs found what GMs missed in this run"), std::string::npos) << top;
  EXPECT_NE(top.find("1 of 2 subjects"), std::string::npos) << top;
  std::string md = report::render_markdown(r);
  EXPECT_NE(md.find("## Discovery (synthetic ground truth)"), std::string::npos);
  EXPECT_NE(md.find("| A | wink | 30 (30.0%)"), std::string::npos) << md;
  auto figures = report::draw_figures(r, {}, dir / "fig");
  EXPECT_TRUE(figures.count("discovery_A") && figures.count("discovery_B"));
  EXPECT_FALSE(figures.count("discovery_C"));
  EXPECT_NE(report::render_html(r, figures, {}).find("id=\"fig-discovery_A\""), std::string::npos);

  // The GM alone holding it in more subjects turns the sentence round.
  put(run, with_discovery(fake_eval("A", 0.8, 0.7, {{3}}, {{2}}, 2, 0), 0.9, 0.3, 0.5, 0.01));
  r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_FALSE(r["discovery"]["found"].get<bool>());
  EXPECT_NE(r["verdict"]["lines"][0].get<std::string>().find("did NOT find"), std::string::npos);
  // Without truth files there is no section and no sentence.
  fs::remove_all(run.subject_dir("A")), fs::remove_all(run.subject_dir("B"));
  r = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_TRUE(r["discovery"].is_null());
}

TEST(ReportAggregate, EachSubjectsRowSaysHowManyFramesItKept) {
  ScratchDir dir;
  RunDir run(dir / "run");
  put(run, fake_eval("A", 0.8, 0.7, {{1}}, {{1}}, 0, 0));
  put(run, fake_eval("B", 0.6, 0.65, {{1}}, {{1}}, 0, 0));
  Manifest m(run);
  Record r = m.begin("A", stage::preprocess, "in", "cfg");
  m.finish_done(r, {}, {{"frames", "270"}, {"detected", "268"}, {"kept", "251"}});
  Config cfg = default_config();
  json out = report::aggregate(run, cfg, report::run_subjects(run, cfg));
  EXPECT_EQ(out["per_subject"][0]["preprocess"], json({{"frames", 270}, {"detected", 268}, {"kept", 251}}));
  EXPECT_TRUE(out["per_subject"][1]["preprocess"].is_null()) << "B has no preprocess record";
  std::string md = report::render_markdown(out);
  EXPECT_NE(md.find("| A | 251 / 270 | 100 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| B | - | 100 |"), std::string::npos) << md;
}

// The stage registry (issue 11): its phases, every consumer's stage list derived from it, config
// hashes from the sections each stage declares, a stage added in a test seen by status, resume
// and the report without other edits, and inputs refused when the record they come from is not done.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "psmflow/core/error.hpp"
#include "psmflow/eval/jobs.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/report/report.hpp"
#include "psmflow/slurm/status.hpp"
#include "psmflow/slurm/submit.hpp"
#include "support/cohort.hpp"

using namespace psmflow;
using namespace psmflow::pipeline;
using namespace psmflow::test;

namespace {

using Names = std::vector<std::string>;

Names records_of(const std::vector<StageStep>& chain) {
  Names out;
  for (const auto& s : chain) out.push_back(s.record);
  return out;
}

void finish(Manifest& m, const std::string& id, const std::string& st, Status status = Status::done,
            const std::string& error = "") {
  fs::path out = m.run().subject_dir(id) / (st + ".out");
  write_text(out, st + " of " + id);
  Record r = m.begin(id, st, "in", "cfg");
  if (status == Status::done)
    m.finish_done(r, {out});
  else
    m.finish_failed(r, error, status);
}

// The standard pipeline with one more subject stage after preprocess, as a new stage would be added.
Pipeline with_landmarks() {
  std::vector<Stage> stages = standard_pipeline().stages();
  Stage landmarks;
  landmarks.name = "landmarks";
  landmarks.needs = {stage::preprocess};
  landmarks.command = {"landmarks"};
  landmarks.sections = {"preprocess"};
  landmarks.output = [](const RunDir& run, const std::string& id) { return run.subject_dir(id) / "landmarks.h5"; };
  stages.insert(stages.begin() + 1, landmarks);
  return Pipeline(stages);
}

}  // namespace

TEST(Registry, StandardPipelinePhases) {
  const Pipeline& p = standard_pipeline();
  EXPECT_EQ(p.in_phase(0), (Names{stage::preprocess, stage::psm, stage::embed, stage::embed_untrained}));
  EXPECT_EQ(p.in_phase(1), (Names{stage::gm}));
  EXPECT_EQ(p.in_phase(2), (Names{stage::embed_gm, stage::evaluate}));
  EXPECT_EQ(p.in_phase(3), (Names{stage::collect}));
  EXPECT_EQ(p.phases(), 4);
  // One output file per stage, each a distinct path: every record can checksum its own.
  RunDir run("/r");
  std::set<fs::path> outputs;
  for (const auto& s : p.stages())
    EXPECT_TRUE(outputs.insert(s.output(run, s.scope == Scope::run ? kRunScope : "S01")).second) << s.name;
  EXPECT_EQ(p.at(stage::embed_gm).output(run, "S01"), fs::path("/r/subjects/S01/embeddings/gm.h5"));
}

TEST(Registry, EveryConsumerDerivesItsStagesFromIt) {
  const Pipeline& p = standard_pipeline();
  const Names subject_stages = p.names(Scope::subject), run_stages = p.names(Scope::run);
  // psmflow run (and the Slurm jobs, which call it per phase)
  EXPECT_EQ(records_of(subject_chain()), p.in_phase(0));
  EXPECT_EQ(records_of(gm_chain()), p.in_phase(2));
  // psmflow status and resume
  ScratchDir dir;
  Config cfg = load_config(make_cohort(dir.path(), 2));
  Manifest m(RunDir::create(cfg));
  slurm::RunStatus s = slurm::read_status(cfg, m, std::nullopt, nullptr);
  EXPECT_EQ(s.subject_stages, subject_stages);
  EXPECT_EQ(s.run_stages, run_stages);
  EXPECT_EQ(slurm::shard_stages(p), p.in_phase(0));
  const std::string text = slurm::format_status(s);
  for (const auto& st : p.stages()) EXPECT_NE(text.find("\n" + st.name + " "), std::string::npos) << st.name << text;
  // the report's missing reasons
  EXPECT_EQ(report::missing_reason_order(p), subject_stages);
  // jobs/ experiments run each stage by its declared command
  eval::JobSpec job;
  job.kind = "psm-vs-gm";
  job.config = cfg.file;
  std::set<Names> commands;
  for (const auto& step : eval::expand_job(job, cfg)) {
    Names args;
    for (std::size_t i = 0; i < step.args.size(); ++i) {
      if (step.args[i] == "--config" || step.args[i] == "--subject") {
        ++i;
        continue;
      }
      args.push_back(step.args[i]);
    }
    commands.insert(args);
  }
  for (const auto& st : p.stages()) {
    bool found = std::any_of(commands.begin(), commands.end(), [&](const Names& c) {
      return c.size() >= st.command.size() && std::equal(st.command.begin(), st.command.end(), c.begin());
    });
    EXPECT_TRUE(found) << st.name << " is not run by its command in jobs/ expansion";
  }
}

TEST(Registry, ConfigHashCoversTheDeclaredSections) {
  ScratchDir dir;
  Config a = load_config(make_cohort(dir.path(), 2));
  Config eval_edit = load_config(make_cohort(dir.path(), 2, "[eval]\nfolds = 4\n"));
  Config psm_edit = load_config(make_cohort(dir.path(), 2, "[train.psm]\nepochs = 7\n"));
  auto changed = [&](const Config& b) {
    Names out;
    for (const auto& s : standard_pipeline().stages())
      if (config_hash(a, s) != config_hash(b, s)) out.push_back(s.name);
    return out;
  };
  EXPECT_EQ(changed(eval_edit), (Names{stage::evaluate, stage::collect}));
  EXPECT_EQ(changed(psm_edit), (Names{stage::psm, stage::embed, stage::embed_untrained}));
  // Tagged variants hash like the stage they vary.
  EXPECT_EQ(config_hash(a, "train-tl-gm"), config_hash(a, stage::psm));
  EXPECT_EQ(config_hash(a, "embed-ctl-e10"), config_hash(a, stage::embed));
  EXPECT_THROW(config_hash(a, "no-such-stage"), std::invalid_argument);
}

TEST(Registry, AStageAddedInATestIsSeenByStatusResumeAndReport) {
  const Pipeline p = with_landmarks();
  EXPECT_EQ(p.in_phase(0), (Names{stage::preprocess, "landmarks", stage::psm, stage::embed, stage::embed_untrained}));
  EXPECT_EQ(records_of(chain_of_phase(p, 0)), p.in_phase(0));
  EXPECT_EQ(report::missing_reason_order(p)[1], "landmarks");

  ScratchDir dir;
  Config cfg = load_config(make_cohort(dir.path(), 2, "[slurm]\nsubjects_per_task = 1\n"));
  Manifest m(RunDir::create(cfg));
  for (const auto& id : {"S01", "S02"})
    for (const auto& st : standard_pipeline().in_phase(0)) finish(m, id, st);
  finish(m, "S02", "landmarks");
  finish(m, "S01", "landmarks", Status::failed, "no landmarks in frame 3");
  slurm::RunStatus s = slurm::read_status(cfg, m, std::nullopt, nullptr, p);
  EXPECT_EQ(s.counts["landmarks"][Status::failed], 1);
  EXPECT_EQ(s.counts["landmarks"][Status::done], 1);
  ASSERT_EQ(s.problems.size(), 1u);
  EXPECT_EQ(s.problems[0].stage, "landmarks");
  EXPECT_EQ(s.unfinished_shards, (std::vector<int>{0}));  // S01's shard only
  EXPECT_EQ(slurm::plan_resume(s).shards, (std::vector<int>{0}));
  EXPECT_NE(slurm::format_status(s).find("S01 landmarks failed: no landmarks in frame 3"), std::string::npos);
  // Without the new stage, both shards were finished.
  EXPECT_TRUE(slurm::read_status(cfg, m, std::nullopt, nullptr).unfinished_shards.empty());
}

TEST(Registry, RefusesNeedsNotDeclaredBeforeAndDuplicates) {
  Stage a;
  a.name = "a";
  a.needs = {"b"};
  EXPECT_THROW(Pipeline({a}), std::logic_error);
  Stage b;
  b.name = "b";
  EXPECT_THROW(Pipeline({b, b}), std::logic_error);
  EXPECT_NO_THROW(Pipeline({b, a}));
}

TEST(Registry, InputsFromARecordThatIsNotDoneAreRefusedNamingIt) {
  ScratchDir dir;
  Config cfg = load_config(make_cohort(dir.path(), 1));
  RunDir run = RunDir::create(cfg);
  Manifest m(run);
  const Stage train = train_stage("psm");
  write_text(run.frames("S01"), "42 of 80 frames");
  Record r = m.begin("S01", stage::preprocess, "in", "cfg");
  m.finish_failed(r, "video ends early at frame 42");
  try {
    needs_hash(m, train, "S01");
    FAIL() << "frames of a failed preprocess were accepted";
  } catch (const StageError& e) {
    EXPECT_NE(std::string(e.what()).find("psm of S01 needs the preprocess record of S01 to be done, and it is failed: "
                                         "video ends early at frame 42"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--accept-unfinished-inputs"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(needs_hash(m, train, "S01", /*accept_unfinished=*/true));

  // Done: the hash follows the need's output checksum.
  r = m.begin("S01", stage::preprocess, "in", "cfg");
  m.finish_done(r, {run.frames("S01")});
  const std::string before = needs_hash(m, train, "S01");
  write_text(run.frames("S01"), "80 of 80 frames");
  r = m.begin("S01", stage::preprocess, "in", "cfg");
  m.finish_done(r, {run.frames("S01")});
  EXPECT_NE(needs_hash(m, train, "S01"), before);
}

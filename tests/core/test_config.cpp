#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/ids.hpp"
#include "fields.hpp"  // src/config: the parser's table of keys
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::test::ScratchDir;
using psmflow::test::write_text;

namespace {

// A minimal valid config with two subjects whose inputs exist in `dir`.
std::string base_config(const ScratchDir& dir) {
  write_text(dir / "a.avi", "x");
  write_text(dir / "b.avi", "x");
  return "[run]\nrun_dir = \"out\"\nseed = 7\n\n"
         "[[data.subject]]\nid = \"A\"\ninput = \"a.avi\"\n\n"
         "[[data.subject]]\nid = \"B\"\ninput = \"b.avi\"\n";
}

std::string error_of(const std::string& text, const ScratchDir& dir) {
  try {
    parse_config(text, dir / "c.toml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Config, ParsesSubjectsAndResolvesPathsAgainstTheConfigFolder) {
  ScratchDir dir;
  Config c = parse_config(base_config(dir), dir / "c.toml");
  ASSERT_EQ(c.data.subjects.size(), 2u);
  EXPECT_EQ(c.data.subjects[1].id, "B");
  EXPECT_EQ(c.data.subjects[0].input, dir / "a.avi");
  EXPECT_EQ(c.run.run_dir, dir / "out");
  EXPECT_EQ(c.run.seed, 7u);
  EXPECT_EQ(c.psm.mode, "psm");
  EXPECT_EQ(c.gm.mode, "gm");
  EXPECT_EQ(c.psm.epochs, 500);  // METHOD.md default
  EXPECT_EQ(c.hash.size(), 64u);
}

TEST(Config, ExpandsIdPatterns) {
  ScratchDir dir;
  write_text(dir / "v/SN001.avi", "x");
  write_text(dir / "v/SN002.avi", "x");
  fs::create_directories(dir / "l/SN001");
  fs::create_directories(dir / "l/SN002");
  Config c = parse_config("[data]\nroot = \".\"\nids = [\"SN001\", \"SN002\"]\ninput = \"{root}/v/{id}.avi\"\n"
                          "labels = \"{root}/l/{id}\"\n",
                          dir / "c.toml");
  ASSERT_EQ(c.data.subjects.size(), 2u);
  EXPECT_EQ(c.data.subjects[1].input, dir / "v/SN002.avi");
  EXPECT_EQ(c.data.subjects[1].labels, dir / "l/SN002");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  ScratchDir dir;
  std::string err = error_of(base_config(dir) + "\n[train.psm]\nepochs = 3\nepoch = 4\n", dir);
  EXPECT_NE(err.find("c.toml:15"), std::string::npos) << err;
  EXPECT_NE(err.find("'train.psm.epoch'"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key"), std::string::npos) << err;
}

TEST(Config, WrongTypeIsAnError) {
  ScratchDir dir;
  std::string err = error_of(base_config(dir) + "\n[train.psm]\nepochs = \"ten\"\n", dir);
  EXPECT_NE(err.find("c.toml:14"), std::string::npos) << err;
  EXPECT_NE(err.find("expected an integer"), std::string::npos) << err;
}

TEST(Config, NegativeEpochsIsAnError) {
  ScratchDir dir;
  std::string err = error_of(base_config(dir) + "\n[train.gm]\nepochs = -5\n", dir);
  EXPECT_NE(err.find(":14: key 'train.gm.epochs': must be >= 1"), std::string::npos) << err;
}

TEST(Config, MissingInputFileIsAnErrorUnlessChecksAreOff) {
  ScratchDir dir;
  std::string text = "[[data.subject]]\nid = \"A\"\ninput = \"nowhere.avi\"\n";
  std::string err = error_of(text, dir);
  EXPECT_NE(err.find("c.toml:1"), std::string::npos) << err;
  EXPECT_NE(err.find("no such file or folder"), std::string::npos) << err;
  EXPECT_NO_THROW(parse_config(text, dir / "c.toml", /*check_files=*/false));
}

TEST(Config, EmptySubjectListIsAnError) {
  ScratchDir dir;
  EXPECT_NE(error_of("[run]\nseed = 1\n", dir).find("no subjects"), std::string::npos);
}

TEST(Config, DuplicateSubjectIdsNameBothLines) {
  ScratchDir dir;
  std::string text = base_config(dir) + "\n[[data.subject]]\nid = \"A\"\ninput = \"b.avi\"\n";
  std::string err = error_of(text, dir);
  EXPECT_NE(err.find("duplicate subject id 'A' (first declared on line 5)"), std::string::npos) << err;
  EXPECT_NE(err.find("c.toml:13"), std::string::npos) << err;
}

TEST(Config, UnsafeSubjectIdsAreRejected) {
  ScratchDir dir;
  write_text(dir / "a.avi", "x");
  for (std::string id : {"..", "a b", "x\\\"y", "../etc", "$(reboot)", "_run", ""}) {
    std::string err = error_of("[[data.subject]]\nid = \"" + id + "\"\ninput = \"a.avi\"\n", dir);
    EXPECT_NE(err.find("c.toml:1"), std::string::npos) << id << ": " << err;
  }
}

TEST(Config, SyntaxErrorNamesTheLine) {
  ScratchDir dir;
  std::string err = error_of("[run]\nseed = = 3\n", dir);
  EXPECT_NE(err.find("c.toml:2"), std::string::npos) << err;
}

TEST(Config, BadValuesInEachSectionAreCaught) {
  ScratchDir dir;
  std::string base = base_config(dir);
  for (std::string bad : {"[model]\npreset = \"huge\"\n", "[preprocess]\ncrop_size = 3\n", "[eval]\nfolds = 1\n",
                          "[slurm]\nmem = \"8G; rm -rf /\"\n", "[slurm]\npartition = \"$(id)\"\n",
                          "[train.psm]\nmode = \"gm\"\n", "[train.psm]\nlr_epochs = [1, 10]\n",
                          "[run]\ndevice = \"tpu\"\n", "[nonsense]\nx = 1\n"}) {
    std::string text = base;
    if (bad.rfind("[run]", 0) == 0) text.replace(text.find("seed = 7\n"), 9, "seed = 7\n" + bad.substr(6));
    else text += "\n" + bad;
    EXPECT_NE(error_of(text, dir), "(no error)") << bad;
  }
}

TEST(Config, StageHashesChangeOnlyWithTheirSections) {
  ScratchDir dir;
  Config a = parse_config(base_config(dir), dir / "c.toml");
  Config b = parse_config(base_config(dir) + "\n[eval]\nfolds = 5\n", dir / "c.toml");
  Config c = parse_config(base_config(dir) + "\n[train.psm]\nepochs = 5\n", dir / "c.toml");
  EXPECT_EQ(psmflow::pipeline::config_hash(a, "psm"), psmflow::pipeline::config_hash(b, "psm"));
  EXPECT_NE(psmflow::pipeline::config_hash(a, "evaluate"), psmflow::pipeline::config_hash(b, "evaluate"));
  EXPECT_NE(psmflow::pipeline::config_hash(a, "psm"), psmflow::pipeline::config_hash(c, "psm"));
  EXPECT_EQ(psmflow::pipeline::config_hash(a, "preprocess"), psmflow::pipeline::config_hash(c, "preprocess"));
  EXPECT_EQ(psmflow::pipeline::config_hash(a, "gm"), psmflow::pipeline::config_hash(c, "gm"));
}

TEST(Config, ShippedConfigsParse) {
  for (const char* name : {"demo.toml", "disfa.toml"}) {
    fs::path p = fs::path(PSMFLOW_SOURCE_DIR) / "configs" / name;
    Config c;
    ASSERT_NO_THROW(c = load_config(p, /*check_files=*/false)) << p;
    EXPECT_FALSE(c.data.subjects.empty()) << name;
  }
  Config disfa = load_config(fs::path(PSMFLOW_SOURCE_DIR) / "configs/disfa.toml", false);
  EXPECT_EQ(disfa.data.subjects.size(), 27u);
  EXPECT_EQ(disfa.model.preset, "paper");
  EXPECT_EQ(disfa.psm.epochs, 500);
}

TEST(Config, ReferenceConfigParsesAndDocumentsEveryKey) {
  fs::path ref = fs::path(PSMFLOW_SOURCE_DIR) / "configs/reference.toml";
  Config c;
  ASSERT_NO_THROW(c = load_config(ref, /*check_files=*/false));
  Config d = default_config();
  // The reference states the defaults: parsing it must give the built-in values.
  EXPECT_EQ(psmflow::pipeline::config_hash(c, "psm"), psmflow::pipeline::config_hash(d, "psm"));
  EXPECT_EQ(psmflow::pipeline::config_hash(c, "gm"), psmflow::pipeline::config_hash(d, "gm"));
  EXPECT_EQ(psmflow::pipeline::config_hash(c, "preprocess"), psmflow::pipeline::config_hash(d, "preprocess"));
  EXPECT_EQ(psmflow::pipeline::config_hash(c, "evaluate"), psmflow::pipeline::config_hash(d, "evaluate"));
  // Every key the parser reads is written out in the reference, so none is undocumented.
  toml::table doc = toml::parse_file(ref.string());
  std::vector<std::string> missing;
  auto check = [&](const std::string& section, const auto& fields) {
    const toml::table* t = doc.at_path(section).as_table();
    for (const auto& f : fields)
      if (!t || !t->contains(f.key)) missing.push_back(section + "." + f.key);
  };
  using namespace psmflow::config_detail;
  check("run", run_fields());
  check("data", data_fields());
  check("preprocess", preprocess_fields());
  check("model", model_fields());
  check("train.psm", train_fields());
  check("train.gm", train_fields());
  check("eval", eval_fields());
  check("slurm", slurm_fields());
  EXPECT_TRUE(missing.empty()) << "not in configs/reference.toml: " << fmt::format("{}", fmt::join(missing, ", "));
}

// Issue 16 defect 11: the offending character is printed as itself, with its code point.
TEST(Config, NonAsciiIdErrorPrintsTheCharacter) {
  ScratchDir dir;
  write_text(dir / "a.avi", "x");
  std::string err = error_of("[[data.subject]]\nid = \"S\xc3\xa9\"\ninput = \"a.avi\"\n", dir);
  EXPECT_NE(err.find("'\xc3\xa9' (U+00E9)"), std::string::npos) << err;
  err = error_of("[[data.subject]]\nid = \"\xe2\x82\xac" "1\"\ninput = \"a.avi\"\n", dir);
  EXPECT_NE(err.find("not '\xe2\x82\xac' (U+20AC)"), std::string::npos) << err;
  EXPECT_EQ(unsafe_id_reason("a\x07"), "it contains control byte 0x07 (allowed: ASCII letters, digits, '.', '_', '-')");
  EXPECT_NE(unsafe_id_reason("a\xe9z").find("byte 0xE9 (not UTF-8)"), std::string::npos);
}

TEST(Config, IdsMustBeAList) {
  ScratchDir dir;
  write_text(dir / "S01.avi", "x");
  std::string err = error_of("[data]\nids = \"S01\"\ninput = \"{id}.avi\"\n", dir);
  EXPECT_NE(err.find("c.toml:2: key 'data.ids': expected a list of subject ids"), std::string::npos) << err;
  EXPECT_EQ(parse_config("[data]\nids = [\"S01\"]\ninput = \"{id}.avi\"\n", dir / "c.toml").data.subjects.size(), 1u);
}

TEST(Config, ADirectoryIsNotAConfigFile) {
  ScratchDir dir;
  fs::create_directories(dir / "configs.toml");
  try {
    load_config(dir / "configs.toml");
    FAIL() << "a directory was read as a config";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory, not a config file"), std::string::npos) << e.what();
  }
}

TEST(Config, TruthFilesFromPatternsAndSubjectTables) {
  ScratchDir dir;
  write_text(dir / "v/S01.avi", "x");
  write_text(dir / "t/S01.csv", "frame\n");
  write_text(dir / "b.avi", "x");
  Config c = parse_config("[data]\nroot = \".\"\nids = [\"S01\"]\ninput = \"{root}/v/{id}.avi\"\ntruth = \"{root}/t/{id}.csv\"\n"
                          "[[data.subject]]\nid = \"B\"\ninput = \"b.avi\"\ntruth = \"t/S01.csv\"\n",
                          dir / "c.toml");
  ASSERT_EQ(c.data.subjects.size(), 2u);
  EXPECT_EQ(c.data.subjects[0].truth, dir / "t/S01.csv");
  EXPECT_EQ(c.data.subjects[1].truth, dir / "t/S01.csv");
  EXPECT_NE(error_of("[data]\nroot = \".\"\nids = [\"S01\"]\ninput = \"{root}/v/{id}.avi\"\ntruth = \"{root}/none/{id}.csv\"\n", dir)
                .find("data.subject.truth"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\ntruth = \"x.csv\"\n", dir).find("only used together with data.ids"), std::string::npos);
}

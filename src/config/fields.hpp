// One table of fields per config section: it drives parsing, unknown-key errors and the
// canonical text that stage hashes are computed from, so the three can never disagree.
#pragma once
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "psmflow/config/config.hpp"

namespace psmflow::config_detail {

template <class S>
using Member = std::variant<int S::*, long long S::*, unsigned long long S::*, double S::*, bool S::*,
                            std::string S::*, std::filesystem::path S::*, std::vector<int> S::*,
                            std::vector<double> S::*, std::vector<std::string> S::*>;

template <class S>
struct Field {
  const char* key;
  Member<S> member;
};

template <class S>
using Fields = std::vector<Field<S>>;

const Fields<RunSection>& run_fields();
const Fields<DataSection>& data_fields();
const Fields<PreprocessSection>& preprocess_fields();
const Fields<ModelSection>& model_fields();
const Fields<TrainSection>& train_fields();
const Fields<EvalSection>& eval_fields();
const Fields<SlurmSection>& slurm_fields();

}  // namespace psmflow::config_detail

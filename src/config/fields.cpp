#include "fields.hpp"

namespace psmflow::config_detail {

#define F(S, name) Field<S>{#name, &S::name}

const Fields<RunSection>& run_fields() {
  static const Fields<RunSection> f = {F(RunSection, run_dir), F(RunSection, seed), F(RunSection, threads),
                                       F(RunSection, device)};
  return f;
}

const Fields<DataSection>& data_fields() {
  static const Fields<DataSection> f = {F(DataSection, label_format), F(DataSection, label_frame_base),
                                        F(DataSection, aus)};
  return f;
}

const Fields<PreprocessSection>& preprocess_fields() {
  using P = PreprocessSection;
  static const Fields<P> f = {F(P, detector),    F(P, cascade),    F(P, dnn_model),   F(P, eye_cascade),
                              F(P, detect_every), F(P, detect_width), F(P, margin),    F(P, crop_size),
                              F(P, align_eyes),  F(P, frame_stride), F(P, frame_start), F(P, frame_end),
                              F(P, contact_sheet_tiles), F(P, landmark_model), F(P, smooth_landmarks),
                              F(P, min_confidence)};
  return f;
}

const Fields<ModelSection>& model_fields() {
  static const Fields<ModelSection> f = {F(ModelSection, preset), F(ModelSection, vgg_weights),
                                         F(ModelSection, embedding)};
  return f;
}

const Fields<TrainSection>& train_fields() {
  using T = TrainSection;
  static const Fields<T> f = {F(T, mode),       F(T, epochs),         F(T, batch),          F(T, lr_epochs),
                              F(T, lr_values),  F(T, beta1),          F(T, beta2),          F(T, neutral_weight),
                              F(T, checkpoint_every), F(T, sample_every), F(T, augment),   F(T, precision),
                              F(T, init),       F(T, enabled)};
  return f;
}

const Fields<EvalSection>& eval_fields() {
  using E = EvalSection;
  static const Fields<E> f = {F(E, present_threshold), F(E, active_fraction), F(E, classifier),
                              F(E, c),                 F(E, folds),           F(E, bootstraps),
                              F(E, pca_components),    F(E, dbscan_eps),      F(E, dbscan_min_samples),
                              F(E, chosen_eps),        F(E, chosen_min_samples), F(E, novel_threshold),
                              F(E, person_independent_aus)};
  return f;
}

const Fields<SlurmSection>& slurm_fields() {
  using S = SlurmSection;
  static const Fields<S> f = {F(S, partition),     F(S, account),          F(S, qos),
                              F(S, subjects_per_task), F(S, throttle),     F(S, cpus_per_task),
                              F(S, mem),           F(S, time),             F(S, gpus_per_task),
                              F(S, gm_nodes),      F(S, gm_gpus_per_node), F(S, gm_ranks_per_node),
                              F(S, gm_time),       F(S, collect_time),     F(S, signal_lead_s),
                              F(S, max_requeues),  F(S, max_array_size),   F(S, templates),
                              F(S, extra_sbatch),  F(S, psmflow_bin)};
  return f;
}

#undef F

}  // namespace psmflow::config_detail

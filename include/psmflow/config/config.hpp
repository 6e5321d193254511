// The run configuration (PRODUCT.md "Config"), parsed from one TOML file into typed structs.
// Every key, its default and its meaning are listed in configs/reference.toml; parse errors
// name file:line and key. Relative paths are resolved against the config file's directory.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace psmflow {
namespace fs = std::filesystem;

struct RunSection {
  fs::path run_dir = "run";
  unsigned long long seed = 1;
  int threads = 0;             // CPU threads per process; 0 = all cores allotted (Slurm/MPI aware)
  std::string device = "auto";  // auto | cpu | cuda
};

struct SubjectSpec {
  std::string id;
  fs::path input;   // video file or folder of frame images
  fs::path labels;  // DISFA label folder, or CSV file; empty = no labels
  fs::path truth;   // psmflow synth's truth/<id>.csv (idiosyncrasy per frame); empty = none
  int line = 0;     // where it was declared, for messages
};

struct DataSection {
  std::vector<SubjectSpec> subjects;  // explicit [[data.subject]] entries and pattern expansions
  std::string label_format = "disfa";  // disfa (one file per AU: frame,intensity) | csv
  int label_frame_base = 1;            // DISFA numbers frames from 1
  std::vector<int> aus = {1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26};
};

struct PreprocessSection {
  std::string detector = "haar";  // haar | lbp | dnn | dlib
  fs::path cascade;               // empty = opencv-data's default for the detector
  fs::path dnn_model;             // FaceDetectorYN .onnx, required when detector = dnn
  fs::path eye_cascade;           // empty = opencv-data's haarcascade_eye.xml
  int detect_every = 5;           // run the detector every N frames, track in between
  int detect_width = 320;         // frames are downscaled to this width for detection
  double margin = 0.25;           // extra border around the face box, fraction of its size
  int crop_size = 64;
  bool align_eyes = true;
  int frame_stride = 1;
  long long frame_start = 0;  // first source frame (0-based)
  long long frame_end = -1;   // one past the last source frame; -1 = to the end
  int contact_sheet_tiles = 48;
  fs::path landmark_model;    // dlib 68-point shape predictor; empty = libdlib-data's
  bool smooth_landmarks = true;  // temporal smoothing of landmark jitter
  double min_confidence = 0.5;  // frames whose /confidence is lower are left out of training
};

struct ModelSection {
  std::string preset = "tiny";  // paper | small | tiny
  fs::path vgg_weights;         // VGG19 weights file; empty = train the stem, no perceptual term
  std::string embedding = "code";  // code (256-d) | feature (2048-d pre-MLP)
};

struct TrainSection {
  std::string mode;  // psm | psm-ctl (train.psm), gm | gm-ctl (train.gm)
  int epochs = 500;
  int batch = 16;  // pairs per step (per rank for the GM)
  std::vector<int> lr_epochs = {1, 10, 50, 200};  // 1-based epoch where each rate starts
  std::vector<double> lr_values = {8e-5, 5e-5, 1e-5, 5e-6};
  double beta1 = 0.5, beta2 = 0.999;
  std::vector<double> neutral_weight = {1.0};  // one value = constant; two = linear ramp a..b
  int checkpoint_every = 10;
  int sample_every = 10;
  bool augment = true;
  std::string precision = "fp32";  // fp32 | bf16 (bf16 compute, fp32 weights and loss reductions)
  fs::path init;  // start from this checkpoint (psmflow or PyTorch); empty = from scratch
  bool enabled = true;
};

struct EvalSection {
  double present_threshold = 2.0;
  double active_fraction = 0.02;
  std::string classifier = "logreg";  // logreg | svm
  double c = 1.0;                     // inverse L2 strength
  int folds = 3;
  int bootstraps = 100;
  int pca_components = 30;
  std::vector<double> dbscan_eps = {2, 4, 6, 8, 10, 12, 14, 16, 18, 20};
  std::vector<int> dbscan_min_samples = {3, 5, 10, 20};
  double chosen_eps = 10;
  int chosen_min_samples = 5;
  double novel_threshold = 0.8;
  std::vector<int> person_independent_aus = {1, 2, 4, 6, 9, 12, 25, 26};
};

struct SlurmSection {
  std::string partition;
  std::string account;
  std::string qos;
  int subjects_per_task = 1;
  int throttle = 0;  // max array tasks at once; 0 = no limit
  int cpus_per_task = 2;
  std::string mem = "8G";
  std::string time = "04:00:00";
  int gpus_per_task = 0;
  int gm_nodes = 1;
  int gm_gpus_per_node = 0;
  int gm_ranks_per_node = 1;
  std::string gm_time = "24:00:00";
  std::string collect_time = "02:00:00";
  int signal_lead_s = 300;
  int max_requeues = 3;
  int max_array_size = 0;  // 0 = ask the cluster (scontrol show config)
  fs::path templates;      // empty = the shipped slurm/ folder
  std::vector<std::string> extra_sbatch;  // extra "#SBATCH" option lines, validated
  std::string psmflow_bin;                // empty = this binary
};

struct Config {
  Config() {
    psm.mode = "psm";
    gm.mode = "gm";
  }
  fs::path file;         // the config file it came from (absolute)
  std::string text;      // its exact text, frozen into the run directory
  std::string hash;      // SHA-256 of text
  RunSection run;
  DataSection data;
  PreprocessSection preprocess;
  ModelSection model;
  TrainSection psm;  // mode defaults to psm
  TrainSection gm;   // mode defaults to gm
  EvalSection eval;
  SlurmSection slurm;

  // Hash of the named sections ("preprocess", "data", "model", "train.psm", "train.gm", "eval",
  // "seed"): each stage declares the ones it depends on, so editing [eval] does not retrain models.
  std::string sections_hash(const std::vector<std::string>& sections) const;
  const SubjectSpec* find_subject(const std::string& id) const;
};

// Throws UsageError("FILE:LINE: key 'a.b': reason") on any problem. check_files = false skips
// the checks that named files exist (for shipped configs whose data lives elsewhere).
// require_subjects = false where the subjects come from elsewhere: the command line
// (`preprocess --input`), or the manifest for the frozen config of a run directory that the
// single-subject commands made.
Config load_config(const fs::path& file, bool check_files = true, bool require_subjects = true);
Config parse_config(const std::string& text, const fs::path& origin, bool check_files = true,
                    bool require_subjects = true);
// The built-in defaults as a Config with no subjects (used by one-subject commands without --config).
Config default_config();

}  // namespace psmflow

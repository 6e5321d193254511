// Face detectors behind one interface (STYLE.md 1): OpenCV cascades (Haar, LBP) from Debian's
// opencv-data, OpenCV's DNN detector (FaceDetectorYN, a YuNet .onnx file the user gives), and
// dlib's HOG frontal face detector (libdlib-dev).
#pragma once
#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/video/haar.hpp"

namespace psmflow::video {

struct Detection {
  cv::Rect2f box;  // pixels of the image given to detect()
  float score = 0;  // 0..1: how sure the detector is (cascades: from the neighbour votes)
  std::optional<std::pair<cv::Point2f, cv::Point2f>> eyes;  // (left in image, right in image) when the detector gives them
};

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  // Faces in a BGR image (or an 8-bit grey one, unless needs_colour()) whose width lies within
  // [min_size, max_size] pixels (max_size 0 = no limit).
  // scale_step: ratio between the sizes a multi-scale detector tries (cascades; 1.1 is OpenCV's default).
  virtual std::vector<Detection> detect(const cv::Mat& bgr, float min_size, float max_size, double scale_step = 1.1) = 0;
  virtual std::string name() const = 0;
  // Grey images let the caller shrink one channel instead of three (the cascades).
  virtual bool needs_colour() const { return true; }
};

// Throws UsageError naming the file when a cascade or model cannot be loaded.
std::unique_ptr<FaceDetector> make_detector(const PreprocessSection& p);

// A cascade file (preprocess.cascade, preprocess.eye_cascade): evaluated by psmflow's
// HaarCascade where that takes the file (the same results, faster), by OpenCV's
// CascadeClassifier otherwise. psmflow's reading is kept for the process and shared. Throws
// UsageError naming the file and the setting `key` when neither can read it.
class CascadeFile {
 public:
  CascadeFile(const fs::path& file, const std::string& key);
  // detectMultiScale's results with 3 neighbours: found boxes and their neighbour votes.
  void detect(const cv::Mat& gray, std::vector<cv::Rect>& found, std::vector<int>& votes, double scale_step,
              cv::Size min_size, cv::Size max_size);

 private:
  std::shared_ptr<const HaarCascade> haar_;
  cv::Ptr<cv::CascadeClassifier> opencv_;  // the cascades haar_ does not take
};

// Reads the face and eye cascades that psmflow evaluates itself into the process's store, so
// that each subject's pipeline finds them read (9 ms for the default face cascade, 3 for the
// eyes). Errors are left to each subject's detector, which reports them as that subject's.
void preload_cascades(const PreprocessSection& p);

// Roll angle (degrees, positive = the face's right-hand side of the image is lower) from the eye
// cascade on a face box; nullopt unless exactly one eye is found in each upper half.
class EyeFinder {
 public:
  explicit EyeFinder(const fs::path& cascade);  // empty = opencv-data's haarcascade_eye.xml
  std::optional<float> roll_deg(const cv::Mat& face_gray);  // 8-bit grey face box
  // The same on `box` of a whole 8-bit grey image, shrunk first to the size the cascade suits.
  std::optional<float> roll_deg(const cv::Mat& gray, const cv::Rect2f& box);

 private:
  CascadeFile cascade_;
  cv::Mat small_;
};

inline const fs::path kOpenCvData = "/usr/share/opencv4";
fs::path default_cascade(const std::string& detector);  // haar | lbp
// Whether `detector` (a preprocess.detector name) is one of OpenCV's cascades: haar or lbp.
bool is_cascade(const std::string& detector);

}  // namespace psmflow::video

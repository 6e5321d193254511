// frames.h5 reader and writer (layout in psmflow/store/frames.hpp and PRODUCT.md).
#include <libdeflate.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <stdexcept>

#include "psmflow/core/parse.hpp"
#include "psmflow/store/frames.hpp"
#include "h5_util.hpp"

namespace psmflow {
namespace {

// Frames are written in small batches, one extent change per batch, while each frame still gets
// its own chunk (so readers decompress one frame at a time).
constexpr std::size_t kWriteBatch = 32;
constexpr hsize_t kLandmarkValues = 68 * 2;
// Deflate's fastest level: face crops shrink by a fifth at any level (Megamind: 2.72 MB at
// level 1, 2.68 MB at 4), and level 4 cost the stage 3% of its frames/s.
constexpr int kDeflateLevel = 1;

std::string sources_json(const std::vector<SourceFile>& sources) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : sources) j.push_back({{"path", s.path}, {"sha256", s.sha256}});
  return j.dump();
}

std::vector<SourceFile> parse_sources(const std::string& text, const fs::path& file) {
  std::vector<SourceFile> out;
  try {
    for (const auto& s : nlohmann::json::parse(text)) out.push_back({s.at("path"), s.at("sha256")});
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + ": attribute 'sources' is not a JSON list of {path, sha256}: " + e.what());
  }
  return out;
}

}  // namespace

struct FramesWriter::Impl {
  fs::path path;
  FramesMeta meta;
  h5::Handle file;
  h5::Handle frames;
  std::size_t frame_bytes = 0;
  std::vector<std::uint8_t> pending;  // frames not yet written
  std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)> deflater{
      libdeflate_alloc_compressor(kDeflateLevel), &libdeflate_free_compressor};
  std::vector<std::uint8_t> deflated;  // one frame's chunk
  std::int64_t written = 0;
  std::vector<std::int64_t> frame_index;
  std::vector<double> time_s;
  std::vector<float> bbox;
  std::vector<std::uint8_t> detected;
  std::map<int, std::vector<std::int8_t>> labels;
  std::vector<float> landmarks, confidence, fit;
  bool closed = false;

  // Each frame is deflated here, by libdeflate, and written as its chunk: the zlib stream that
  // HDF5's deflate filter would write and reads back, at 0.05 instead of 0.13 ms per 64x64 crop
  // (Megamind, 2-core EPYC).
  void flush() {
    if (pending.empty()) return;
    hsize_t c = static_cast<hsize_t>(meta.crop_size);
    std::size_t count = pending.size() / frame_bytes;
    hsize_t new_dims[4] = {static_cast<hsize_t>(written) + count, c, c, 3};
    h5::check_status(H5Dset_extent(frames, new_dims), "H5Dset_extent(/frames)", path);
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t size = libdeflate_zlib_compress(deflater.get(), &pending[i * frame_bytes], frame_bytes,
                                                  deflated.data(), deflated.size());
      if (size == 0) throw std::logic_error("libdeflate: the bound for one frame was too small");
      hsize_t offset[4] = {static_cast<hsize_t>(written), 0, 0, 0};
      h5::check_status(H5Dwrite_chunk(frames, H5P_DEFAULT, 0, offset, size, deflated.data()),
                       "H5Dwrite_chunk(/frames)", path);
      ++written;
    }
    pending.clear();
  }
};

FramesWriter::FramesWriter(const fs::path& path, const FramesMeta& meta) : impl_(std::make_unique<Impl>()) {
  if (meta.crop_size < 1) throw std::invalid_argument("FramesWriter: crop_size must be positive");
  Impl& m = *impl_;
  m.path = path;
  m.meta = meta;
  hsize_t c = static_cast<hsize_t>(meta.crop_size);
  m.frame_bytes = static_cast<std::size_t>(c * c * 3);
  if (!m.deflater) throw std::bad_alloc();
  m.deflated.resize(libdeflate_zlib_compress_bound(m.deflater.get(), m.frame_bytes));
  m.file = h5::create_file(path);
  h5::write_string_attr(m.file, "subject", meta.subject, path);
  h5::write_string_attr(m.file, "sources", sources_json(meta.sources), path);
  h5::write_double_attr(m.file, "fps", meta.fps, path);
  h5::write_int_attr(m.file, "crop_size", meta.crop_size, path);
  h5::write_string_attr(m.file, "psmflow_version", meta.psmflow_version, path);
  h5::write_string_attr(m.file, "config_hash", meta.config_hash, path);
  h5::write_double_attr(m.file, "min_confidence", meta.min_confidence, path);

  hsize_t dims[4] = {0, c, c, 3};
  hsize_t maxdims[4] = {H5S_UNLIMITED, c, c, 3};
  hsize_t chunk[4] = {1, c, c, 3};
  h5::Handle space(h5::check(H5Screate_simple(4, dims, maxdims), "H5Screate_simple", path));
  h5::Handle dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path));
  h5::check_status(H5Pset_chunk(dcpl, 4, chunk), "H5Pset_chunk", path);
  // The filter that readers apply; the writer deflates the chunks itself (Impl::flush).
  h5::check_status(H5Pset_deflate(dcpl, kDeflateLevel), "H5Pset_deflate", path);
  m.frames = h5::Handle(h5::check(
      H5Dcreate2(m.file, "frames", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "H5Dcreate(/frames)", path));
}

FramesWriter::~FramesWriter() = default;

void FramesWriter::append(const std::uint8_t* rgb, std::int64_t frame_index, double time_s,
                          const std::array<float, 4>& bbox, bool detected) {
  Impl& m = *impl_;
  if (m.closed) throw std::logic_error("FramesWriter::append after close");
  m.pending.insert(m.pending.end(), rgb, rgb + m.frame_bytes);
  m.frame_index.push_back(frame_index);
  m.time_s.push_back(time_s);
  m.bbox.insert(m.bbox.end(), bbox.begin(), bbox.end());
  m.detected.push_back(detected ? 1 : 0);
  if (m.pending.size() >= kWriteBatch * m.frame_bytes) m.flush();
}

void FramesWriter::set_labels(const std::map<int, std::vector<std::int8_t>>& au) { impl_->labels = au; }

void FramesWriter::set_landmarks(std::vector<float> xy, std::vector<float> confidence, std::vector<float> fit) {
  impl_->landmarks = std::move(xy);
  impl_->confidence = std::move(confidence);
  impl_->fit = std::move(fit);
}

void FramesWriter::close() {
  Impl& m = *impl_;
  if (m.closed) return;
  m.flush();
  const fs::path& p = m.path;
  hsize_t n = m.frame_index.size();
  h5::write_dataset(m.file, "frame_index", H5T_NATIVE_INT64, {n}, m.frame_index.data(), p);
  h5::write_dataset(m.file, "time_s", H5T_NATIVE_DOUBLE, {n}, m.time_s.data(), p);
  h5::write_dataset(m.file, "bbox", H5T_NATIVE_FLOAT, {n, 4}, m.bbox.data(), p);
  h5::write_dataset(m.file, "detected", H5T_NATIVE_UINT8, {n}, m.detected.data(), p);
  if (!m.confidence.empty() || !m.landmarks.empty()) {
    if (m.confidence.size() != n || m.fit.size() != n || m.landmarks.size() != n * kLandmarkValues)
      throw std::invalid_argument(p.string() + ": " + std::to_string(m.landmarks.size() / kLandmarkValues) +
                                  " landmark sets, " + std::to_string(m.confidence.size()) + " confidences and " +
                                  std::to_string(m.fit.size()) + " fits for " + std::to_string(n) + " frames");
    h5::write_dataset(m.file, "landmarks", H5T_NATIVE_FLOAT, {n, 68, 2}, m.landmarks.data(), p);
    h5::write_dataset(m.file, "confidence", H5T_NATIVE_FLOAT, {n}, m.confidence.data(), p);
    h5::write_dataset(m.file, "landmark_fit", H5T_NATIVE_FLOAT, {n}, m.fit.data(), p);
  }
  for (const auto& [k, v] : m.labels) {
    if (v.size() != n)
      throw std::invalid_argument(p.string() + ": AU" + std::to_string(k) + " has " + std::to_string(v.size()) +
                                  " labels for " + std::to_string(n) + " frames");
    h5::write_dataset(m.file, "au/AU" + std::to_string(k), H5T_NATIVE_INT8, {n}, v.data(), p);
  }
  m.frames.reset();
  h5::check_status(H5Fflush(m.file, H5F_SCOPE_GLOBAL), "H5Fflush", p);
  m.file.reset();
  m.closed = true;
}

std::int64_t FramesWriter::size() const { return static_cast<std::int64_t>(impl_->frame_index.size()); }

struct FramesReader::Impl {
  fs::path path;
  FramesMeta meta;
  h5::Handle file;
  h5::Handle frames;
  std::int64_t n = 0;
  std::vector<std::int64_t> frame_index;
  std::vector<double> time_s;
  std::vector<std::array<float, 4>> bbox;
  std::vector<std::uint8_t> detected;
  std::vector<float> landmarks, confidence, fit;
  std::map<int, std::vector<std::int8_t>> labels;

  void expect_length(const std::string& name, std::size_t got) const {
    if (static_cast<std::int64_t>(got) != n)
      throw std::runtime_error(path.string() + ": '" + name + "' has " + std::to_string(got) + " entries but /frames has " +
                               std::to_string(n));
  }
  void read_meta();
  void read_arrays();
  void read_labels();
};

void FramesReader::Impl::read_meta() {
  meta.subject = h5::read_string_attr(file, "subject", path);
  meta.sources = parse_sources(h5::read_string_attr(file, "sources", path), path);
  meta.fps = h5::read_double_attr(file, "fps", path);
  meta.crop_size = static_cast<int>(h5::read_int_attr(file, "crop_size", path));
  meta.psmflow_version = h5::read_string_attr(file, "psmflow_version", path);
  meta.config_hash = h5::read_string_attr(file, "config_hash", path);
  if (H5Aexists(file, "min_confidence") > 0) meta.min_confidence = h5::read_double_attr(file, "min_confidence", path);
}

void FramesReader::Impl::read_arrays() {
  auto dims = h5::dataset_dims(file, "frames", path);
  hsize_t c = static_cast<hsize_t>(meta.crop_size);
  if (dims.size() != 4 || dims[1] != c || dims[2] != c || dims[3] != 3)
    throw std::runtime_error(path.string() + ": /frames is not [N, " + std::to_string(c) + ", " + std::to_string(c) +
                             ", 3] as crop_size says");
  h5::checked_count(dims, 1, "frames", path);  // read_all() allocates all of it
  n = static_cast<std::int64_t>(dims[0]);
  frames = h5::Handle(h5::check(H5Dopen2(file, "frames", H5P_DEFAULT), "H5Dopen(/frames)", path));
  h5::check_layout(frames, "frames", path);
  h5::read_dataset(file, "frame_index", H5T_NATIVE_INT64, frame_index, path);
  expect_length("frame_index", frame_index.size());
  h5::read_dataset(file, "time_s", H5T_NATIVE_DOUBLE, time_s, path);
  expect_length("time_s", time_s.size());
  std::vector<float> flat;
  h5::read_dataset(file, "bbox", H5T_NATIVE_FLOAT, flat, path);
  expect_length("bbox", flat.size() / 4);
  bbox.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < bbox.size(); ++i) std::memcpy(bbox[i].data(), &flat[i * 4], sizeof(float) * 4);
  h5::read_dataset(file, "detected", H5T_NATIVE_UINT8, detected, path);
  expect_length("detected", detected.size());
  if (h5::exists(file, "confidence")) {
    h5::read_dataset(file, "confidence", H5T_NATIVE_FLOAT, confidence, path);
    expect_length("confidence", confidence.size());
    h5::read_dataset(file, "landmarks", H5T_NATIVE_FLOAT, landmarks, path);
    expect_length("landmarks", landmarks.size() / kLandmarkValues);
    h5::read_dataset(file, "landmark_fit", H5T_NATIVE_FLOAT, fit, path);
    expect_length("landmark_fit", fit.size());
  }
}

void FramesReader::Impl::read_labels() {
  if (!h5::exists(file, "au")) return;
  h5::Handle group(h5::check(H5Gopen2(file, "au", H5P_DEFAULT), "H5Gopen(/au)", path));
  H5G_info_t info;
  h5::check_status(H5Gget_info(group, &info), "H5Gget_info(/au)", path);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (length < 0) throw std::runtime_error(path.string() + ": cannot read the names in /au: " + h5::last_error());
    std::string s(static_cast<std::size_t>(length) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size(), H5P_DEFAULT);
    s.resize(static_cast<std::size_t>(length));
    if (s.rfind("AU", 0) != 0 || s.size() < 3 || s.find_first_not_of("0123456789", 2) != std::string::npos)
      throw std::runtime_error(path.string() + ": unexpected dataset /au/" + s + " (expected AU<number>)");
    std::vector<std::int8_t> v;
    h5::read_dataset(group, s, H5T_NATIVE_INT8, v, path);
    expect_length("au/" + s, v.size());
    const auto au = parse_integer(s.substr(2));  // digits only, checked above; an AU past 999 is not one
    if (!au || *au > 999) throw std::runtime_error(path.string() + ": unexpected dataset /au/" + s + " (AU number out of range)");
    labels[static_cast<int>(*au)] = std::move(v);
  }
}

FramesReader::FramesReader(const fs::path& path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.file = h5::open_file(path, false);
  m.read_meta();
  m.read_arrays();
  m.read_labels();
}

FramesReader::~FramesReader() = default;
std::int64_t FramesReader::size() const { return impl_->n; }
int FramesReader::crop_size() const { return impl_->meta.crop_size; }
const FramesMeta& FramesReader::meta() const { return impl_->meta; }

void FramesReader::read(std::int64_t i, std::uint8_t* out) const {
  const Impl& m = *impl_;
  if (i < 0 || i >= m.n)
    throw std::out_of_range(m.path.string() + ": frame " + std::to_string(i) + " out of range (N = " + std::to_string(m.n) + ")");
  hsize_t c = static_cast<hsize_t>(m.meta.crop_size);
  h5::Handle space(h5::check(H5Dget_space(m.frames), "H5Dget_space", m.path));
  hsize_t start[4] = {static_cast<hsize_t>(i), 0, 0, 0};
  hsize_t block[4] = {1, c, c, 3};
  h5::check_status(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, block, nullptr), "H5Sselect_hyperslab", m.path);
  h5::Handle mem(h5::check(H5Screate_simple(4, block, nullptr), "H5Screate_simple", m.path));
  if (H5Dread(m.frames, H5T_NATIVE_UINT8, mem, space, H5P_DEFAULT, out) < 0)
    throw std::runtime_error(m.path.string() + ": reading frame " + std::to_string(i) +
                             " failed (truncated or corrupt file?): " + h5::last_error());
}

std::vector<std::uint8_t> FramesReader::read_all() const {
  const Impl& m = *impl_;
  std::size_t c = static_cast<std::size_t>(m.meta.crop_size);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(m.n) * c * c * 3);
  if (m.n > 0 && H5Dread(m.frames, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw std::runtime_error(m.path.string() + ": reading /frames failed (truncated or corrupt file?): " + h5::last_error());
  return out;
}

const std::vector<std::int64_t>& FramesReader::frame_index() const { return impl_->frame_index; }
const std::vector<double>& FramesReader::time_s() const { return impl_->time_s; }
const std::vector<std::array<float, 4>>& FramesReader::bbox() const { return impl_->bbox; }
const std::vector<std::uint8_t>& FramesReader::detected() const { return impl_->detected; }
const std::map<int, std::vector<std::int8_t>>& FramesReader::labels() const { return impl_->labels; }
const std::vector<float>& FramesReader::landmarks() const { return impl_->landmarks; }
const std::vector<float>& FramesReader::confidence() const { return impl_->confidence; }
const std::vector<float>& FramesReader::landmark_fit() const { return impl_->fit; }

std::vector<std::uint8_t> FramesReader::usable() const {
  const Impl& m = *impl_;
  std::vector<std::uint8_t> out = m.detected;
  for (std::size_t i = 0; i < m.confidence.size(); ++i) out[i] = out[i] && m.confidence[i] >= m.meta.min_confidence;
  return out;
}

}  // namespace psmflow

#include "h5_util.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "psmflow/core/fs.hpp"

namespace psmflow::h5 {
namespace {

herr_t collect_message(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  (void)n;
  if (err->desc && *err->desc) out->push_back(err->desc);
  return 0;
}

// HDF5's file driver puts the OS's error inside a long description ("..., errno = 28, error
// message = 'No space left on device', ..."): that reason, or "" when there is none.
std::string os_reason(const std::string& desc) {
  const std::string key = "error message = '";
  std::size_t at = desc.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  const std::size_t end = desc.find('\'', at);
  return end == std::string::npos ? "" : desc.substr(at, end - at);
}

std::string named(const std::filesystem::path& file) { return destination_of(file).string(); }

std::string type_class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound type";
    default: return "of type class " + std::to_string(static_cast<int>(c));
  }
}

Handle open_object(hid_t loc, const std::string& name, const std::filesystem::path& file) {
  if (!exists(loc, name)) throw std::runtime_error(named(file) + ": no dataset '" + name + "' (not a psmflow file?)");
  return Handle(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "H5Dopen", file));
}

// When the disk fills, H5Fclose fails half-way (its final flush cannot be written) and leaves the
// file's id registered over freed state: HDF5 1.10's exit-time cleanup (H5_term_library ->
// H5F__close_cb) then closes it again and crashes (issue 16 defect 5; closing it a second time
// by hand crashes the same way). Every handle is closed by its owner (Handle), so the exit-time
// cleanup has nothing to do but that: it is switched off before HDF5's first call.
const bool kNoExitCleanup = [] {
  H5dont_atexit();
  return true;
}();

}  // namespace

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

void quiet_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::string last_error() {
  std::vector<std::string> msgs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_message, &msgs);
  H5Eclear2(H5E_DEFAULT);
  for (const auto& m : msgs)
    if (std::string reason = os_reason(m); !reason.empty()) return reason + " (" + m.substr(0, m.find(':')) + ")";
  std::string out;
  // Innermost first: that is where HDF5 says what was actually wrong (e.g. a truncated file).
  for (std::size_t i = 0; i < msgs.size() && i < 2; ++i) out += (i ? "; " : "") + msgs[i];
  return out.empty() ? "unknown HDF5 error" : out;
}

hid_t check(hid_t id, const char* call, const std::filesystem::path& file) {
  if (id < 0) throw std::runtime_error(named(file) + ": " + call + " failed: " + last_error());
  return id;
}

void check_status(herr_t status, const char* call, const std::filesystem::path& file) {
  if (status < 0) throw std::runtime_error(named(file) + ": " + call + " failed: " + last_error());
}

Handle create_file(const std::filesystem::path& file) {
  quiet_errors();
  return Handle(check(H5Fcreate(file.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate", file));
}

Handle open_file(const std::filesystem::path& file, bool writable) {
  quiet_errors();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw std::runtime_error(named(file) + ": no such file");
  if (std::filesystem::file_size(file, ec) == 0 && !ec)
    throw std::runtime_error(named(file) + ": empty file (0 bytes), not an HDF5 file");
  hid_t id = H5Fopen(file.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0)
    throw std::runtime_error(named(file) + ": cannot open as HDF5 (truncated, corrupt or not HDF5): " + last_error());
  return Handle(id);
}

bool exists(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

void write_string_attr(hid_t obj, const std::string& name, const std::string& value, const std::filesystem::path& file) {
  // Variable-length UTF-8, so h5py returns str rather than bytes.
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy", file));
  check_status(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size", file);
  check_status(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset", file);
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate", file));
  Handle attr(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate", file));
  const char* p = value.c_str();
  check_status(H5Awrite(attr, type, &p), "H5Awrite", file);
}

void write_double_attr(hid_t obj, const std::string& name, double value, const std::filesystem::path& file) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate", file));
  Handle attr(check(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate", file));
  check_status(H5Awrite(attr, H5T_NATIVE_DOUBLE, &value), "H5Awrite", file);
}

void write_int_attr(hid_t obj, const std::string& name, std::int64_t value, const std::filesystem::path& file) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate", file));
  Handle attr(check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate", file));
  check_status(H5Awrite(attr, H5T_NATIVE_INT64, &value), "H5Awrite", file);
}

namespace {
Handle open_attr(hid_t obj, const std::string& name, const std::filesystem::path& file) {
  if (H5Aexists(obj, name.c_str()) <= 0) throw std::runtime_error(named(file) + ": missing attribute '" + name + "'");
  return Handle(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "H5Aopen", file));
}
}  // namespace

std::string read_string_attr(hid_t obj, const std::string& name, const std::filesystem::path& file) {
  Handle attr = open_attr(obj, name, file);
  Handle type(check(H5Aget_type(attr), "H5Aget_type", file));
  if (H5Tget_class(type) != H5T_STRING) throw std::runtime_error(named(file) + ": attribute '" + name + "' is not a string");
  if (H5Tis_variable_str(type) > 0) {
    char* s = nullptr;
    check_status(H5Aread(attr, type, &s), "H5Aread", file);
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  std::string out(H5Tget_size(type), '\0');
  check_status(H5Aread(attr, type, out.data()), "H5Aread", file);
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

double read_double_attr(hid_t obj, const std::string& name, const std::filesystem::path& file) {
  Handle attr = open_attr(obj, name, file);
  double v = 0;
  check_status(H5Aread(attr, H5T_NATIVE_DOUBLE, &v), "H5Aread", file);
  return v;
}

std::int64_t read_int_attr(hid_t obj, const std::string& name, const std::filesystem::path& file) {
  Handle attr = open_attr(obj, name, file);
  std::int64_t v = 0;
  check_status(H5Aread(attr, H5T_NATIVE_INT64, &v), "H5Aread", file);
  return v;
}

void write_dataset(hid_t loc, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data, const std::filesystem::path& file, const std::vector<hsize_t>& chunk) {
  Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple", file));
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", file));
  bool empty = false;
  for (hsize_t d : dims) empty = empty || d == 0;
  if (!chunk.empty() && !empty) {
    check_status(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk", file);
    check_status(H5Pset_deflate(dcpl, 4), "H5Pset_deflate", file);
  }
  Handle lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate", file));
  H5Pset_create_intermediate_group(lcpl, 1);
  Handle ds(check(H5Dcreate2(loc, name.c_str(), mem_type, space, lcpl, dcpl, H5P_DEFAULT), "H5Dcreate", file));
  if (!empty) check_status(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "H5Dwrite", file);
}

std::vector<hsize_t> dataset_dims(hid_t loc, const std::string& name, const std::filesystem::path& file) {
  Handle ds = open_object(loc, name, file);
  Handle space(check(H5Dget_space(ds), "H5Dget_space", file));
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) throw std::runtime_error(named(file) + ": cannot read the shape of '" + name + "': " + last_error());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

namespace {

std::uintmax_t product(const std::vector<hsize_t>& dims) {
  std::uintmax_t n = 1;
  for (hsize_t d : dims)
    if (__builtin_mul_overflow(n, d, &n)) return UINTMAX_MAX;
  return n;
}

// `what` ends where the element count follows: "dataset 'x' claims".
void check_claim(std::uintmax_t n, std::size_t element_size, const std::string& what, const std::filesystem::path& file) {
  // deflate packs at most about 1000:1, and a file written by psmflow is never smaller than that
  constexpr std::uintmax_t kMaxInflation = 1024, kSlack = std::uintmax_t{64} << 20;
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file, ec);
  const std::uintmax_t limit = (ec ? 0 : size) * kMaxInflation + kSlack;
  std::uintmax_t bytes = 0;
  if (__builtin_mul_overflow(n, element_size, &bytes) || bytes > limit)
    throw std::runtime_error(fmt::format("{}: {} {} elements, more than a file of {} bytes can hold", file.string(), what,
                                         n == UINTMAX_MAX ? std::string("over 2^64") : std::to_string(n), ec ? 0 : size));
}

}  // namespace

std::size_t checked_count(const std::vector<hsize_t>& dims, std::size_t element_size, const std::string& name,
                          const std::filesystem::path& file) {
  const std::uintmax_t n = product(dims);
  check_claim(n, element_size, "dataset '" + name + "' claims", file);
  return static_cast<std::size_t>(n);
}

void check_layout(hid_t ds, const std::string& name, const std::filesystem::path& file) {
  // HDF5 converts through a buffer of the file's element size for every element
  Handle type(check(H5Dget_type(ds), "H5Dget_type", file));
  const std::size_t element = H5Tget_size(type);
  if (element > 16)
    throw std::runtime_error(fmt::format("{}: dataset '{}' has elements of {} bytes, where numbers have at most 16 "
                                         "(a damaged type)", named(file), name, element));
  Handle dcpl(check(H5Dget_create_plist(ds), "H5Dget_create_plist", file));
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return;
  const int rank = H5Pget_chunk(dcpl, 0, nullptr);
  if (rank < 0) throw std::runtime_error(named(file) + ": cannot read the chunk shape of '" + name + "': " + last_error());
  std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
  H5Pget_chunk(dcpl, rank, chunk.data());
  check_claim(product(chunk), element, "dataset '" + name + "' has chunks of", file);
}

void read_dataset_raw(hid_t loc, const std::string& name, hid_t mem_type, void* out, const std::filesystem::path& file) {
  Handle ds = open_object(loc, name, file);
  Handle type(check(H5Dget_type(ds), "H5Dget_type", file));
  // HDF5 would convert a float dataset to integers (or back) silently, clipping what does not fit.
  if (H5Tget_class(type) != H5Tget_class(mem_type))
    throw std::runtime_error(named(file) + ": dataset '" + name + "' is " + type_class_name(H5Tget_class(type)) +
                             ", expected " + type_class_name(H5Tget_class(mem_type)));
  check_layout(ds, name, file);
  if (H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw std::runtime_error(named(file) + ": reading '" + name + "' failed (truncated or corrupt file?): " + last_error());
}

}  // namespace psmflow::h5

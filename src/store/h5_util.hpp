// Small helpers over the HDF5 C API shared by frames.h5 and embeddings.h5: owning handles and
// errors that name the call, the file and HDF5's own reason (STYLE.md 4).
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psmflow::h5 {

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Silences HDF5's automatic error printing for the whole process (errors become exceptions).
void quiet_errors();
// The innermost messages of the current thread's HDF5 error stack, e.g. "truncated file: eof = 96, ...".
std::string last_error();
// Throws std::runtime_error("FILE: CALL failed: reason") when id < 0; returns id otherwise.
hid_t check(hid_t id, const char* call, const std::filesystem::path& file);
void check_status(herr_t status, const char* call, const std::filesystem::path& file);

Handle create_file(const std::filesystem::path& file);  // fails if it exists
Handle open_file(const std::filesystem::path& file, bool writable);
bool exists(hid_t loc, const std::string& name);

void write_string_attr(hid_t obj, const std::string& name, const std::string& value, const std::filesystem::path& file);
void write_double_attr(hid_t obj, const std::string& name, double value, const std::filesystem::path& file);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value, const std::filesystem::path& file);
std::string read_string_attr(hid_t obj, const std::string& name, const std::filesystem::path& file);
double read_double_attr(hid_t obj, const std::string& name, const std::filesystem::path& file);
std::int64_t read_int_attr(hid_t obj, const std::string& name, const std::filesystem::path& file);

// A whole dataset of rank `dims.size()` written at once (contiguous, or chunked+deflated when chunk given).
void write_dataset(hid_t loc, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data, const std::filesystem::path& file, const std::vector<hsize_t>& chunk = {});
// Reads a whole dataset; returns its dimensions and fills `out` (resized to the element count).
std::vector<hsize_t> dataset_dims(hid_t loc, const std::string& name, const std::filesystem::path& file);
void read_dataset_raw(hid_t loc, const std::string& name, hid_t mem_type, void* out, const std::filesystem::path& file);
// Elements of a dataset of these dimensions, refused (naming the file) when their product
// overflows or claims more bytes than a file of this size can hold, even deflated.
std::size_t checked_count(const std::vector<hsize_t>& dims, std::size_t element_size, const std::string& name,
                          const std::filesystem::path& file);
// HDF5 allocates what a dataset's type and layout claim before it reads (a whole chunk to read
// any of it, a conversion buffer of the file's element size): a damaged file's claims are refused.
void check_layout(hid_t ds, const std::string& name, const std::filesystem::path& file);
template <typename T>
std::vector<hsize_t> read_dataset(hid_t loc, const std::string& name, hid_t mem_type, std::vector<T>& out,
                                  const std::filesystem::path& file) {
  std::vector<hsize_t> dims = dataset_dims(loc, name, file);
  const std::size_t n = checked_count(dims, sizeof(T), name, file);
  out.resize(n);
  if (n > 0) read_dataset_raw(loc, name, mem_type, out.data(), file);
  return dims;
}

}  // namespace psmflow::h5

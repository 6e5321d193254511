// SHA-256 (OpenSSL) of strings and files, as lowercase hex.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace psmflow {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view bytes);
  std::string hex();  // finishes the digest

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);
// A folder of frames hashes the sorted names and contents of its files.
std::string sha256_path(const std::filesystem::path& path);

}  // namespace psmflow

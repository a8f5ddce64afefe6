#include "harness/feature_cache.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/sha256.h"
#include "model/log.h"

namespace fs = std::filesystem;

namespace osor::harness {
namespace {

constexpr int kFormatVersion = 1;

// A fresh name for each in-memory HDF5 file (the core driver keys open files by name).
std::string memory_file_name() {
  static std::atomic<unsigned> counter{0};
  return "osor-feature-" + std::to_string(counter++) + ".h5";
}

// HDF5 handles closed on scope exit.
struct Handle {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id >= 0 && close) close(id);
  }
  explicit operator bool() const { return id >= 0; }
};

// HDF5 prints its error stack on stderr by default; a corrupt cache entry is a miss, not a message.
void silence_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

bool write_string_attribute(hid_t object, const char* name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type || H5Tset_size(type.id, std::max<size_t>(value.size(), 1)) < 0) return false;
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(object, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  return attr && H5Awrite(attr.id, type.id, value.c_str()) >= 0;
}

std::optional<std::string> read_string_attribute(hid_t object, const char* name) {
  if (H5Aexists(object, name) <= 0) return std::nullopt;
  Handle attr(H5Aopen(object, name, H5P_DEFAULT), H5Aclose);
  if (!attr) return std::nullopt;
  Handle type(H5Aget_type(attr.id), H5Tclose);
  if (!type || H5Tget_class(type.id) != H5T_STRING || H5Tis_variable_str(type.id) > 0) return std::nullopt;
  const size_t size = H5Tget_size(type.id);
  std::string value(size, '\0');
  if (H5Aread(attr.id, type.id, value.data()) < 0) return std::nullopt;
  value.resize(std::strlen(value.c_str()));
  return value;
}

// The whole HDF5 file built in memory (core driver, no backing store), returned as bytes, so that it can be
// written with write_file_atomic (temp file, fsync, rename).
std::optional<std::vector<unsigned char>> hdf5_image(const FeatureKey& key, const at::Tensor& features) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl || H5Pset_fapl_core(fapl.id, 1 << 16, 0) < 0) return std::nullopt;
  Handle file(H5Fcreate(memory_file_name().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id), H5Fclose);
  if (!file) return std::nullopt;
  const hsize_t dims[1] = {static_cast<hsize_t>(features.numel())};
  {
    Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Handle data(H5Dcreate2(file.id, "features", H5T_IEEE_F32LE, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
    if (!data || H5Dwrite(data.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, features.data_ptr<float>()) < 0)
      return std::nullopt;
    if (!write_string_attribute(data.id, "image_sha256", key.image_hash) ||
        !write_string_attribute(data.id, "extractor", key.extractor) ||
        !write_string_attribute(data.id, "weights_sha256", key.weights_hash) ||
        !write_string_attribute(data.id, "preprocessing", key.preprocessing) ||
        !write_string_attribute(data.id, "format_version", std::to_string(kFormatVersion)))
      return std::nullopt;
  }
  if (H5Fflush(file.id, H5F_SCOPE_GLOBAL) < 0) return std::nullopt;
  const ssize_t size = H5Fget_file_image(file.id, nullptr, 0);
  if (size <= 0) return std::nullopt;
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  if (H5Fget_file_image(file.id, bytes.data(), bytes.size()) != size) return std::nullopt;
  return bytes;
}

// Opens a file image read from disk (no HDF5 file locks, no file kept open) and returns its feature vector
// when every key attribute matches.
std::optional<at::Tensor> read_hdf5_image(std::vector<unsigned char>& bytes, const FeatureKey& key) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl || H5Pset_fapl_core(fapl.id, 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.id, bytes.data(), bytes.size()) < 0)
    return std::nullopt;
  Handle file(H5Fopen(memory_file_name().c_str(), H5F_ACC_RDONLY, fapl.id), H5Fclose);
  if (!file) return std::nullopt;
  Handle data(H5Dopen2(file.id, "features", H5P_DEFAULT), H5Dclose);
  if (!data) return std::nullopt;
  if (read_string_attribute(data.id, "image_sha256") != key.image_hash ||
      read_string_attribute(data.id, "extractor") != key.extractor ||
      read_string_attribute(data.id, "weights_sha256") != key.weights_hash ||
      read_string_attribute(data.id, "preprocessing") != key.preprocessing ||
      read_string_attribute(data.id, "format_version") != std::to_string(kFormatVersion))
    return std::nullopt;
  Handle space(H5Dget_space(data.id), H5Sclose);
  if (!space || H5Sget_simple_extent_ndims(space.id) != 1) return std::nullopt;
  hsize_t dims[1] = {0};
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  if (dims[0] == 0 || dims[0] > (1u << 24)) return std::nullopt;
  at::Tensor out = at::empty({static_cast<int64_t>(dims[0])}, at::kFloat);
  if (H5Dread(data.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr<float>()) < 0)
    return std::nullopt;
  return out;
}

// Folder names come from extractor and preprocessing names: keep them to a safe character set.
std::string folder_safe(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "_" : out;
}

bool is_temporary(const fs::path& p) { return p.filename().string().find(".tmp") != std::string::npos; }

}  // namespace

std::string image_content_hash(const at::Tensor& image) {
  const at::Tensor values = image.to(at::kCPU, at::kFloat).contiguous();
  Sha256 h;
  std::string shape;
  for (int64_t s : values.sizes()) shape += std::to_string(s) + ",";
  h.update("osor-image-f32:" + shape + ";");
  h.update(values.data_ptr<float>(), values.nbytes());
  return h.hex_digest();
}

FeatureCache::FeatureCache(fs::path dir) : dir_(std::move(dir)) { silence_hdf5(); }

fs::path FeatureCache::resolve_dir(const std::string& cli_value) {
  if (!cli_value.empty()) return cli_value;
  if (const char* env = std::getenv("OSOR_CACHE"); env && *env) return fs::path(env) / "features";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "osor" / "features";
}

fs::path FeatureCache::entry_path(const FeatureKey& key) const {
  if (key.image_hash.size() < 8) throw HarnessError("feature cache: malformed image hash '" + key.image_hash + "'");
  return dir_ / folder_safe(key.extractor) /
         (folder_safe(key.preprocessing) + "-" + key.weights_hash.substr(0, 16)) / key.image_hash.substr(0, 2) /
         (key.image_hash + ".h5");
}

std::optional<at::Tensor> FeatureCache::get(const FeatureKey& key) const {
  const fs::path path = entry_path(key);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return std::nullopt;
  return read_hdf5_image(bytes, key);
}

bool FeatureCache::put(const FeatureKey& key, const at::Tensor& features) const {
  const at::Tensor flat = features.to(at::kCPU, at::kFloat).contiguous().reshape({-1});
  const fs::path path = entry_path(key);
  const auto bytes = hdf5_image(key, flat);
  try {
    if (!bytes) throw HarnessError("HDF5 could not build the entry");
    write_file_atomic(path, *bytes);
    return true;
  } catch (const std::exception& e) {
    osor::log::warn("feature cache: cannot store " + path.string() + ": " + e.what());
    return false;
  }
}

FeatureCache::Info FeatureCache::info() const {
  Info info;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return info;
  for (auto it = fs::recursive_directory_iterator(dir_, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    if (is_temporary(p)) {
      ++info.stray_temporaries;
      continue;
    }
    if (p.extension() != ".h5") continue;
    ++info.entries;
    info.bytes += it->file_size(ec);
    const fs::path rel = fs::relative(p, dir_, ec);
    auto part = rel.begin();
    if (std::distance(rel.begin(), rel.end()) == 4) {
      const std::string extractor = (part++)->string();
      info.entries_by_group[extractor + "/" + part->string()]++;
    }
  }
  return info;
}

uint64_t FeatureCache::clear() const {
  const uint64_t entries = info().entries;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return 0;
  for (const auto& child : fs::directory_iterator(dir_, ec)) {
    if (child.path().filename() == "weights-hashes") continue;  // memoised file hashes stay valid
    fs::remove_all(child.path(), ec);
    if (ec) throw HarnessError("feature cache: cannot remove " + child.path().string() + ": " + ec.message());
  }
  return entries;
}

std::string weights_files_hash(const FeatureCache& cache, const std::vector<fs::path>& files) {
  Sha256 all;
  all.update("osor-weights:");
  for (const fs::path& file : files) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(file, ec);
    const auto size = fs::file_size(absolute, ec);
    if (ec) throw HarnessError(file.string() + ": cannot read weights file: " + ec.message());
    const auto mtime = fs::last_write_time(absolute, ec).time_since_epoch().count();
    const fs::path memo = cache.dir() / "weights-hashes" / (sha256_hex(absolute.string().data(), absolute.string().size()) + ".json");
    std::string digest;
    if (std::ifstream in(memo); in) {
      try {
        const auto j = nlohmann::json::parse(in);
        if (j.at("path") == absolute.string() && j.at("size") == size && j.at("mtime") == mtime)
          digest = j.at("sha256").get<std::string>();
      } catch (const std::exception&) {
      }
    }
    if (digest.empty()) {
      digest = sha256_file(absolute);
      try {
        write_file_atomic(memo, nlohmann::json{{"path", absolute.string()}, {"size", size}, {"mtime", mtime},
                                               {"sha256", digest}}.dump());
      } catch (const std::exception& e) {
        osor::log::warn("feature cache: cannot memoise the hash of " + absolute.string() + ": " + e.what());
      }
    }
    all.update(file.filename().string() + "=" + digest + ";");
  }
  return all.hex_digest();
}

}  // namespace osor::harness

#include "model/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/error.h"

namespace osor::model {

namespace {

// Pillow-style sanity bound, as the reference safetensors crate: a header above 100 MB is a corrupt length.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  size_t itemsize;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", at::kFloat, 4},  {"F16", at::kHalf, 2},  {"BF16", at::kBFloat16, 2}, {"F64", at::kDouble, 8},
    {"I64", at::kLong, 8},   {"I32", at::kInt, 4},   {"I16", at::kShort, 2},     {"I8", at::kChar, 1},
    {"U8", at::kByte, 1},    {"BOOL", at::kBool, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* find_dtype(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return &d;
  return nullptr;
}

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw ModelError("weights file " + label + ": " + problem);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << ']';
  return s.str();
}

std::string offsets_string(const SafetensorsEntry& e) {
  return "[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]";
}

// A JSON number that must be a non-negative integer (safetensors writes them as such).
uint64_t as_index(const nlohmann::json& v, const std::string& label, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  fail(label, what + " is " + v.dump() + ", expected a non-negative integer");
}

}  // namespace

struct SafetensorsFile::Mapping {
  const uint8_t* data = nullptr;  // whole file
  size_t size = 0;
  void* mapped = nullptr;         // non-null when mmap'ed
  std::vector<uint8_t> owned;     // when parsed from memory
  uint64_t data_start = 0;        // 8 + header length
  std::string label;
  ~Mapping() {
    if (mapped) munmap(mapped, size);
  }
};

namespace {

// The header as JSON, refusing a key that appears twice in any object. nlohmann::json keeps one value of a
// duplicated key silently, so a file could show one tensor to us and another to a reader that keeps the first
// (the reference parser rejects duplicates); the parser callback sees every key before it is merged.
nlohmann::json parse_json_header(const uint8_t* begin, const uint8_t* end, const std::string& label) {
  struct Frame {
    bool is_object = false;
    std::set<std::string> keys;
    std::string last_key;  // the key whose value is being parsed, for naming a duplicate below it
  };
  std::vector<Frame> frames;  // frames[d]: the object or array at nesting depth d (0 = the header itself)
  std::string duplicate;      // the first duplicate found, as a message; parsing goes on to report JSON errors
  const auto enter = [&](int depth, bool is_object) {
    frames.resize(static_cast<size_t>(depth));
    frames.push_back(Frame{is_object, {}, {}});
  };
  const auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) -> bool {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) enter(depth, true);
    if (event == E::array_start) enter(depth, false);
    if (event != E::key || depth < 1 || static_cast<size_t>(depth) > frames.size()) return true;
    Frame& f = frames[static_cast<size_t>(depth) - 1];
    const std::string key = parsed.get<std::string>();
    // A header that is not an object is reported as such after parsing, not by its duplicates.
    if (!f.keys.insert(key).second && duplicate.empty() && frames[0].is_object) {
      const std::string& top = depth == 1 ? key : frames[0].last_key;  // the tensor (or __metadata__) concerned
      if (depth == 1)
        duplicate = top == "__metadata__" ? "header has '__metadata__' twice"
                                          : "tensor '" + top + "' appears twice in the header";
      else
        duplicate = (top == "__metadata__" ? "__metadata__" : "tensor '" + top + "'") + " has key '" + key + "' twice";
    }
    f.last_key = key;
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(begin, end, callback);
  } catch (const nlohmann::json::exception& e) {
    fail(label, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!duplicate.empty()) fail(label, duplicate);
  return header;
}

void read_metadata(const nlohmann::json& v, const std::string& label, std::map<std::string, std::string>& metadata) {
  if (!v.is_object()) fail(label, "__metadata__ is not a JSON object");
  for (auto mt = v.begin(); mt != v.end(); ++mt) {
    if (!mt.value().is_string()) fail(label, "__metadata__ value of '" + mt.key() + "' is not a string");
    metadata[mt.key()] = mt.value().get<std::string>();
  }
}

// One tensor's header entry, checked on its own: dtype known, shape × itemsize = its byte count, offsets inside
// the `data_size`-byte data section.
SafetensorsEntry read_entry(const std::string& name, const nlohmann::json& v, uint64_t data_size,
                            const std::string& label) {
  const std::string where = "tensor '" + name + "'";
  if (!v.is_object()) fail(label, where + " is not a JSON object");
  const auto dt = v.find("dtype");
  const auto sh = v.find("shape");
  const auto off = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string()) fail(label, where + " has no string 'dtype'");
  if (sh == v.end() || !sh->is_array()) fail(label, where + " has no 'shape' array");
  if (off == v.end() || !off->is_array() || off->size() != 2) fail(label, where + " has no 'data_offsets' pair");
  SafetensorsEntry e;
  e.name = name;
  e.dtype = dt->get<std::string>();
  const DtypeInfo* info = find_dtype(e.dtype);
  if (!info) fail(label, where + " has unknown dtype '" + e.dtype + "'");
  // The element count with overflow checks: a hostile shape must not wrap around to the byte count.
  uint64_t count = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    const uint64_t dim = as_index(d, label, where + " shape entry");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    e.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
    count *= dim;
  }
  if (count > std::numeric_limits<uint64_t>::max() / info->itemsize) overflow = true;
  e.begin = as_index((*off)[0], label, where + " data_offsets[0]");
  e.end = as_index((*off)[1], label, where + " data_offsets[1]");
  if (e.end < e.begin)
    fail(label, where + " has data_offsets " + offsets_string(e) + " with end before begin");
  if (overflow || count * info->itemsize != e.end - e.begin)
    fail(label, where + " has shape " + shape_string(e.shape) + " × " + std::to_string(info->itemsize) +
                    " bytes (" + e.dtype + ") ≠ its " + std::to_string(e.end - e.begin) + " data bytes");
  if (e.end > data_size)
    fail(label, where + " has data_offsets " + offsets_string(e) + " beyond the " + std::to_string(data_size) +
                    "-byte data section (truncated file?)");
  return e;
}

// As the reference parser (safetensors' Metadata::validate and its buffer-length check): the tensors' byte
// ranges, in offset order, tile the data section exactly, from 0 to its end. A gap or trailing bytes are data
// no tensor accounts for, a sign of a corrupt or tampered file, and other readers refuse such files.
void check_tiling(std::vector<SafetensorsEntry>& entries, uint64_t data_size, const std::string& label) {
  std::sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end != b.end ? a.end < b.end : a.name < b.name;  // the name only orders empty tensors deterministically
  });
  uint64_t covered = 0;  // the data section is tiled over [0, covered)
  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry& e = entries[i];
    if (e.begin < covered)
      fail(label, "tensors '" + entries[i - 1].name + "' and '" + e.name + "' overlap (data_offsets " +
                      offsets_string(entries[i - 1]) + " and " + offsets_string(e) + ")");
    if (e.begin > covered && i == 0)
      fail(label, "tensor '" + e.name + "' has data_offsets " + offsets_string(e) + ": the first " +
                      std::to_string(e.begin) + " bytes of the data section belong to no tensor");
    if (e.begin > covered)
      fail(label, std::to_string(e.begin - covered) + " bytes between tensors '" + entries[i - 1].name +
                      "' (data_offsets " + offsets_string(entries[i - 1]) + ") and '" + e.name + "' (data_offsets " +
                      offsets_string(e) + ") belong to no tensor");
    covered = e.end;
  }
  if (covered == data_size) return;
  if (entries.empty()) fail(label, "has no tensors but a " + std::to_string(data_size) + "-byte data section");
  fail(label, std::to_string(data_size - covered) + " bytes after the last tensor '" + entries.back().name +
                  "' (data_offsets " + offsets_string(entries.back()) + ") belong to no tensor (the data section is " +
                  std::to_string(data_size) + " bytes)");
}

// `bytes`/`size`: the whole file. Returns the header length.
uint64_t parse_header(const uint8_t* bytes, size_t size, const std::string& label,
                      std::vector<SafetensorsEntry>& entries, std::map<std::string, std::string>& metadata) {
  if (size < 8) fail(label, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > size - 8)
    fail(label, "header length " + std::to_string(n) + " goes beyond the end of the file (" + std::to_string(size) +
                    " bytes; truncated download?)");
  if (n > kMaxHeaderBytes) fail(label, "header length " + std::to_string(n) + " is implausibly large");
  const nlohmann::json header = parse_json_header(bytes + 8, bytes + 8 + n, label);
  if (!header.is_object()) fail(label, "header is not a JSON object");
  const uint64_t data_size = size - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__")
      read_metadata(it.value(), label, metadata);
    else
      entries.push_back(read_entry(it.key(), it.value(), data_size, label));
  }
  check_tiling(entries, data_size, label);
  return n;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto m = std::make_shared<Mapping>();
  m->label = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(m->label, std::string("cannot open (") + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(m->label, "not a regular file");
  }
  m->size = static_cast<size_t>(st.st_size);
  if (m->size > 0) {
    // Private, writable copy-on-write pages: a tensor written in place never reaches the file.
    void* p = mmap(nullptr, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail(m->label, std::string("cannot map (") + std::strerror(errno) + ")");
    }
    m->mapped = p;
    m->data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  SafetensorsFile f;
  m->data_start = 8 + parse_header(m->data, m->size, m->label, f.entries_, f.metadata_);
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  f.mapping_ = std::move(m);
  return f;
}

SafetensorsFile SafetensorsFile::parse(const void* bytes, size_t size, const std::string& label) {
  auto m = std::make_shared<Mapping>();
  m->label = label;
  m->owned.assign(static_cast<const uint8_t*>(bytes), static_cast<const uint8_t*>(bytes) + size);
  m->data = m->owned.data();
  m->size = size;
  SafetensorsFile f;
  m->data_start = 8 + parse_header(m->data, m->size, m->label, f.entries_, f.metadata_);
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  f.mapping_ = std::move(m);
  return f;
}

const std::string& SafetensorsFile::label() const { return mapping_->label; }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail(label(), "has no tensor '" + name + "'");
  return entries_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const DtypeInfo* info = find_dtype(e.dtype);
  const uint8_t* p = mapping_->data + mapping_->data_start + e.begin;
  const auto options = at::TensorOptions().dtype(info->type).device(at::kCPU);
  if (e.end == e.begin) return at::empty(e.shape, options);
  if (reinterpret_cast<uintptr_t>(p) % info->itemsize != 0) {
    // Unaligned data (a header length that is not a multiple of 8): copy rather than hand ATen a misaligned
    // pointer.
    at::Tensor t = at::empty(e.shape, options);
    std::memcpy(t.data_ptr(), p, e.end - e.begin);
    return t;
  }
  std::shared_ptr<const Mapping> keep = mapping_;
  return at::from_blob(const_cast<uint8_t*>(p), e.shape, [keep](void*) mutable { keep.reset(); }, options);
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return metadata_; }

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string label = path.string();
  nlohmann::json header = nlohmann::json::object();
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail(label, "a tensor cannot be named __metadata__");
    if (header.contains(name)) fail(label, "tensor name '" + name + "' given twice");
    if (!t.defined()) fail(label, "tensor '" + name + "' is undefined");
    const DtypeInfo* info = find_dtype(t.scalar_type());
    if (!info) fail(label, "tensor '" + name + "' has a dtype safetensors cannot store");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * info->itemsize;
    header[name] = {{"dtype", info->name}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned: tensors whose offsets are multiples of their
  // item size then map without a copy.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(label, "cannot write temporary file " + tmp.string());
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (size_t i = 0; i < cpu.size(); ++i) {
      const at::Tensor& c = cpu[i];
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    }
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp);
      fail(label, "write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    fail(label, "cannot rename the temporary file into place (" + ec.message() + ")");
  }
}

}  // namespace osor::model

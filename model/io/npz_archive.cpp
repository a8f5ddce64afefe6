#include "model/io/npz_archive.h"

#include <ATen/ATen.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>

#include "model/error.h"
#include "model/io/zip_archive.h"

namespace osor::model {
namespace {

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw ModelError("numpy array " + label + ": " + problem);
}

// The value text of 'key' in the header dict, up to the next top-level ',' or '}' (a shape tuple kept whole).
std::string header_value(const std::string& header, const std::string& key, const std::string& label) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) fail(label, "header has no '" + key + "' (" + header + ")");
  size_t at = header.find(':', k);
  if (at == std::string::npos) fail(label, "malformed header (" + header + ")");
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  size_t end = at;
  int depth = 0;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  return header.substr(at, end - at);
}

at::ScalarType npy_dtype(const std::string& descr, const std::string& label) {
  static const std::pair<const char*, at::ScalarType> kTypes[] = {
      {"'<f2'", at::kHalf}, {"'<f4'", at::kFloat}, {"'<f8'", at::kDouble}, {"'<i4'", at::kInt}, {"'<i8'", at::kLong}};
  for (const auto& [name, type] : kTypes)
    if (descr == name) return type;
  fail(label, "dtype " + descr + " is not supported (little-endian float16/32/64 or int32/64)");
}

std::vector<int64_t> npy_shape(const std::string& text, const std::string& label) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') fail(label, "malformed shape " + text);
  std::vector<int64_t> shape;
  std::string digits;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (c == ',' || c == ')') {
      if (!digits.empty()) shape.push_back(std::stoll(digits));
      digits.clear();
    } else if (c != ' ') {
      fail(label, "malformed shape " + text);
    }
  }
  return shape;
}

}  // namespace

at::Tensor parse_npy(const unsigned char* data, size_t size, const std::string& label) {
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) fail(label, "not a .npy array (no \\x93NUMPY magic)");
  const int major = data[6];
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3 || size < 8 + len_bytes) fail(label, "unsupported .npy version " + std::to_string(major));
  size_t header_len = 0;
  for (size_t i = len_bytes; i-- > 0;) header_len = (header_len << 8) | data[8 + i];
  const size_t start = 8 + len_bytes + header_len;
  if (start > size) fail(label, "header runs past the end of the data");
  const std::string header(reinterpret_cast<const char*>(data) + 8 + len_bytes, header_len);
  if (header_value(header, "fortran_order", label) != "False") fail(label, "Fortran-order arrays are not supported");
  const at::ScalarType dtype = npy_dtype(header_value(header, "descr", label), label);
  const std::vector<int64_t> shape = npy_shape(header_value(header, "shape", label), label);
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  const size_t bytes = static_cast<size_t>(count) * c10::elementSize(dtype);
  if (size - start != bytes)
    fail(label, "holds " + std::to_string(size - start) + " data bytes, its header says " + std::to_string(bytes));
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype));
  std::memcpy(out.data_ptr(), data + start, bytes);
  return out;
}

std::map<std::string, at::Tensor> read_npz(const std::filesystem::path& path, const std::vector<std::string>& names) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError("numpy archive " + path.string() + ": cannot open");
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const StoredZipArchive zip = StoredZipArchive::parse({bytes.data(), bytes.size()}, path.string());
  std::map<std::string, at::Tensor> out;
  for (const std::string& name : names) {
    const ZipEntry* entry = zip.find(name + ".npy");
    if (!entry) throw ModelError("numpy archive " + path.string() + ": no array '" + name + "'");
    if (entry->method != 0)
      throw ModelError("numpy archive " + path.string() + ": array '" + name + "' is compressed (np.savez_compressed); "
                       "convert it once with scripts/encode_flux_prompt.py --from-npz " + path.string() +
                       " --out prompt_embeds.safetensors");
    const ByteSpan span = zip.data(*entry);
    out[name] = parse_npy(span.data, span.size, path.string() + ":" + name);
  }
  return out;
}

}  // namespace osor::model

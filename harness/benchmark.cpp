#include "harness/benchmark.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

const std::set<std::string>& image_extensions() {
  static const std::set<std::string> ext = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"};
  return ext;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A pattern "dir/prefix{id}suffix" split into its folder and the file-name parts around {id}.
struct Pattern {
  fs::path folder;
  std::string prefix, suffix;
  bool any_extension = false;
};

Pattern split_pattern(const std::string& pattern, const std::string& what, const fs::path& spec) {
  const size_t at = pattern.find("{id}");
  if (at == std::string::npos)
    throw HarnessError(spec.string() + ": pattern '" + what + "' = '" + pattern + "' has no {id}");
  const fs::path p(pattern);
  Pattern out;
  out.folder = p.parent_path();
  const std::string name = p.filename().string();
  const size_t id_at = name.find("{id}");
  if (id_at == std::string::npos)
    throw HarnessError(spec.string() + ": pattern '" + what + "': {id} must be in the file name, not a folder");
  out.prefix = name.substr(0, id_at);
  out.suffix = name.substr(id_at + 4);
  if (out.suffix == ".*") {
    out.any_extension = true;
    out.suffix.clear();
  }
  return out;
}

// Files of a pattern's folder, by id.
std::map<std::string, fs::path> files_by_id(const fs::path& root, const Pattern& p) {
  std::map<std::string, fs::path> out;
  const fs::path dir = root / p.folder;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    std::string name = entry.path().filename().string();
    if (p.any_extension) {
      if (!image_extensions().count(lower(entry.path().extension().string()))) continue;
      name = entry.path().stem().string();
    }
    if (name.size() < p.prefix.size() + p.suffix.size() || name.compare(0, p.prefix.size(), p.prefix) != 0 ||
        name.compare(name.size() - p.suffix.size(), p.suffix.size(), p.suffix) != 0)
      continue;
    const std::string id = name.substr(p.prefix.size(), name.size() - p.prefix.size() - p.suffix.size());
    if (!id.empty()) out[id] = entry.path();
  }
  return out;
}

std::string field(const json& j, const char* key, const fs::path& file, bool required = true) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw HarnessError(file.string() + ": missing field '" + key + "'");
    return "";
  }
  if (!j[key].is_string()) throw HarnessError(file.string() + ": field '" + key + "' must be a string");
  return j[key].get<std::string>();
}

// "version": an integer >= 1. 1.0, "1" and true are refused: a spec is hand-written, and a version that is not
// plainly an integer is more likely a mistake than an intent.
int spec_version(const json& j, const fs::path& file) {
  if (!j.contains("version") || j["version"].is_null())
    throw HarnessError(file.string() +
                       ": missing field 'version' (an integer >= 1, raised when the spec's meaning changes)");
  const json& v = j["version"];
  const bool ok = v.is_number_unsigned() ? v.get<unsigned long long>() >= 1 && v.get<unsigned long long>() <= INT_MAX
                                         : v.is_number_integer() && v.get<long long>() >= 1 && v.get<long long>() <= INT_MAX;
  if (!ok) throw HarnessError(file.string() + ": field 'version' must be an integer >= 1, got " + v.dump());
  return static_cast<int>(v.get<long long>());
}

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : std::string()) + items[i];
  return out;
}

// The *.json files directly in the folder (not in sub-folders: bench_data/sample/ holds the sample's own JSON).
std::vector<fs::path> spec_files(const fs::path& bench_dir) {
  std::error_code ec;
  if (!fs::is_directory(bench_dir, ec)) throw HarnessError(bench_dir.string() + ": benchmark folder not found");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(bench_dir, ec))
    if (entry.is_regular_file(ec) && entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

fs::path default_bench_dir() {
  if (const char* env = std::getenv("OSOR_BENCH_DIR"); env && *env) return env;
  return OSOR_SOURCE_BENCH_DIR;
}

fs::path resolve_data_dir(const fs::path& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("OSOR_DATA"); env && *env) return env;
  return {};
}

BenchmarkSpec read_benchmark_spec(const fs::path& file) {
  const auto bytes = read_file_bytes(file);
  json j;
  try {
    j = json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    throw HarnessError(file.string() + ": invalid JSON: " + e.what());
  }
  BenchmarkSpec s;
  s.spec_file = file;
  s.sha256 = sha256_hex(bytes.data(), bytes.size());
  s.name = field(j, "name", file);
  s.version = spec_version(j, file);
  s.title = field(j, "title", file, false);
  s.root = field(j, "root", file);
  s.root_relative_to_spec = field(j, "root_relative_to", file, false) == "spec";
  s.input = field(j, "input", file);
  s.gt = field(j, "gt", file);
  s.object_mask = field(j, "object_mask", file);
  s.effect_mask = field(j, "effect_mask", file, false);
  const std::string polarity = field(j, "mask_polarity", file, false);
  try {
    if (!polarity.empty()) s.polarity = parse_mask_polarity(polarity);
  } catch (const HarnessError& e) {
    throw HarnessError(file.string() + ": field 'mask_polarity': " + e.what());
  }
  if (j.contains("expected_count") && j["expected_count"].is_number_integer()) s.expected_count = j["expected_count"].get<int>();
  s.resolution = field(j, "resolution", file, false);
  if (s.resolution.empty()) s.resolution = "native";
  if (s.resolution != "native")
    throw HarnessError(file.string() + ": resolution '" + s.resolution + "' is not supported (only \"native\")");
  s.layout_status = field(j, "layout_status", file, false);
  s.licence = field(j, "licence", file, false);
  s.source = field(j, "source", file, false);
  s.notes = field(j, "notes", file, false);
  for (const auto& [what, pattern] : {std::pair<const char*, std::string>{"input", s.input}, {"gt", s.gt},
                                      {"object_mask", s.object_mask}, {"effect_mask", s.effect_mask}})
    if (!pattern.empty()) split_pattern(pattern, what, file);
  return s;
}

std::vector<fs::path> spec_folders(const std::vector<fs::path>& extra) {
  std::vector<fs::path> folders = {default_bench_dir()};
  std::vector<fs::path> seen = {fs::weakly_canonical(folders.front())};
  for (const auto& folder : extra) {
    const fs::path canonical = fs::weakly_canonical(folder);
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;
    seen.push_back(canonical);
    folders.push_back(folder);
  }
  return folders;
}

BenchmarkCatalog read_benchmark_catalog(const fs::path& bench_dir) {
  return read_benchmark_catalog(std::vector<fs::path>{bench_dir});
}

BenchmarkCatalog read_benchmark_catalog(const std::vector<fs::path>& folders) {
  std::vector<fs::path> files;
  for (const auto& folder : folders)
    for (auto& file : spec_files(folder)) files.push_back(std::move(file));
  std::vector<BenchmarkSpec> parsed;
  BenchmarkCatalog catalog;
  for (const auto& file : files) {
    try {
      parsed.push_back(read_benchmark_spec(file));
    } catch (const Error& e) {
      catalog.problems.push_back(e.what());  // read_benchmark_spec's messages start with the file
    }
  }
  std::map<std::string, std::vector<fs::path>> files_by_name;
  for (const auto& spec : parsed) files_by_name[spec.name].push_back(spec.spec_file);
  for (auto& spec : parsed)
    if (files_by_name[spec.name].size() == 1) catalog.specs.push_back(std::move(spec));
  for (const auto& [name, files] : files_by_name) {
    if (files.size() < 2) continue;
    catalog.shared_names[name] = files;
    std::vector<std::string> paths;
    for (const auto& f : files) paths.push_back(f.string());
    catalog.problems.push_back("benchmark name '" + name + "' is given by " + std::to_string(files.size()) +
                               " spec files (" + joined(paths, ", ") +
                               "); none of them is used until one is renamed or removed");
  }
  return catalog;
}

std::vector<BenchmarkSpec> list_benchmarks(const fs::path& bench_dir) {
  BenchmarkCatalog catalog = read_benchmark_catalog(bench_dir);
  if (!catalog.problems.empty())
    throw HarnessError(bench_dir.string() + ": " + std::to_string(catalog.problems.size()) +
                       " problem(s) in the benchmark specs: " + joined(catalog.problems, "; "));
  return std::move(catalog.specs);
}

bool is_spec_file_name(const std::string& name) {
  return name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0;
}

BenchmarkSpec find_benchmark(const std::string& name, const fs::path& bench_dir) {
  return find_benchmark(name, std::vector<fs::path>{bench_dir});
}

BenchmarkSpec find_benchmark(const std::string& name, const std::vector<fs::path>& folders) {
  if (is_spec_file_name(name)) {
    std::error_code ec;
    if (!fs::is_regular_file(name, ec)) throw HarnessError(name + ": benchmark spec file not found");
    return read_benchmark_spec(name);
  }
  const BenchmarkCatalog catalog = read_benchmark_catalog(folders);
  if (const auto shared = catalog.shared_names.find(name); shared != catalog.shared_names.end()) {
    std::vector<std::string> paths;
    for (const auto& f : shared->second) paths.push_back(f.string());
    throw HarnessError("benchmark '" + name + "' is given by " + std::to_string(paths.size()) + " spec files (" +
                       joined(paths, ", ") + "); rename or remove all but one");
  }
  std::vector<std::string> known;
  for (const auto& spec : catalog.specs) {
    if (spec.name == name) return spec;
    known.push_back(spec.name);
  }
  std::vector<std::string> folder_names;
  for (const auto& folder : folders) folder_names.push_back(folder.string());
  std::string message = "unknown benchmark '" + name + "' (known: " + joined(known, ", ") + "; specs in " +
                        joined(folder_names, ", ") + ")";
  // The name may be in a file that could not be read: say which files those are.
  if (!catalog.problems.empty()) message += "; spec files with problems: " + joined(catalog.problems, "; ");
  throw HarnessError(message);
}

fs::path benchmark_root(const BenchmarkSpec& spec, const fs::path& data_dir) {
  fs::path root;
  if (spec.root_relative_to_spec) {
    root = spec.spec_file.parent_path() / spec.root;
  } else if (fs::path(spec.root).is_absolute()) {
    root = spec.root;
  } else {
    if (data_dir.empty())
      throw HarnessError("benchmark " + spec.name + ": no data root (give --data DIR or set OSOR_DATA; the files go in DIR/" +
                         spec.root + ")");
    root = data_dir / spec.root;
  }
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw HarnessError("benchmark " + spec.name + ": folder " + root.string() + " not found (see " +
                       spec.spec_file.string() + " for the expected layout; source: " + spec.source + ")");
  return root;
}

std::vector<BenchmarkSample> list_samples(const BenchmarkSpec& spec, const fs::path& data_dir) {
  const fs::path root = benchmark_root(spec, data_dir);
  const auto inputs = files_by_id(root, split_pattern(spec.input, "input", spec.spec_file));
  const auto gts = files_by_id(root, split_pattern(spec.gt, "gt", spec.spec_file));
  const auto masks = files_by_id(root, split_pattern(spec.object_mask, "object_mask", spec.spec_file));
  std::map<std::string, fs::path> effects;
  if (!spec.effect_mask.empty()) effects = files_by_id(root, split_pattern(spec.effect_mask, "effect_mask", spec.spec_file));
  std::vector<BenchmarkSample> samples;
  for (const auto& [id, input] : inputs) {
    BenchmarkSample s;
    s.id = id;
    s.input = input;
    if (auto it = gts.find(id); it != gts.end()) s.gt = it->second;
    if (auto it = masks.find(id); it != masks.end()) s.object_mask = it->second;
    if (auto it = effects.find(id); it != effects.end()) s.effect_mask = it->second;
    samples.push_back(s);
  }
  return samples;
}

BenchmarkCheck check_benchmark(const BenchmarkSpec& spec, const fs::path& data_dir, const fs::path& sha256_list) {
  BenchmarkCheck check;
  check.name = spec.name;
  check.expected = spec.expected_count;
  check.root = benchmark_root(spec, data_dir);
  const auto samples = list_samples(spec, data_dir);
  check.samples = static_cast<int>(samples.size());
  if (samples.empty()) check.problems.push_back(check.root.string() + ": no input matches '" + spec.input + "'");
  if (check.expected && *check.expected != check.samples)
    check.problems.push_back("found " + std::to_string(check.samples) + " samples, expected " + std::to_string(*check.expected));
  for (const auto& s : samples) {
    auto missing = [&](const fs::path& p, const char* what, const std::string& pattern) {
      if (p.empty()) check.problems.push_back(s.id + ": no " + std::string(what) + " file (pattern " + pattern + ")");
      return p.empty();
    };
    int64_t h = -1, w = -1;
    try {
      const auto img = read_image(s.input).rgb;
      h = img.size(2);
      w = img.size(3);
    } catch (const Error& e) {
      check.problems.push_back(e.what());
    }
    if (!missing(s.gt, "ground-truth", spec.gt)) {
      try {
        const auto gt = read_image(s.gt).rgb;
        if (h > 0 && (gt.size(2) != h || gt.size(3) != w))
          check.problems.push_back(s.gt.string() + ": ground truth is " + std::to_string(gt.size(2)) + "x" +
                                   std::to_string(gt.size(3)) + ", input is " + std::to_string(h) + "x" + std::to_string(w));
      } catch (const Error& e) {
        check.problems.push_back(e.what());
      }
    }
    std::vector<std::pair<fs::path, std::string>> masks = {{s.object_mask, spec.object_mask}};
    if (!spec.effect_mask.empty()) masks.emplace_back(s.effect_mask, spec.effect_mask);
    for (const auto& [mask, pattern] : masks) {
      if (missing(mask, "mask", pattern)) continue;
      try {
        const auto m = read_mask(mask, spec.polarity);
        if (h > 0 && (m.size(2) != h || m.size(3) != w))
          check.problems.push_back(mask.string() + ": mask is " + std::to_string(m.size(2)) + "x" +
                                   std::to_string(m.size(3)) + ", image is " + std::to_string(h) + "x" + std::to_string(w));
        if (m.sum().item<double>() == 0) check.problems.push_back(mask.string() + ": mask has no object pixels");
      } catch (const Error& e) {
        check.problems.push_back(e.what());
      }
    }
  }
  if (!sha256_list.empty()) {
    std::ifstream in(sha256_list);
    if (!in) throw HarnessError(sha256_list.string() + ": cannot open sha256 list");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string hash, rel;
      if (!(fields >> hash >> rel)) continue;
      if (!rel.empty() && rel[0] == '*') rel = rel.substr(1);
      const fs::path file = check.root / rel;
      std::error_code ec;
      if (!fs::exists(file, ec)) {
        check.problems.push_back(file.string() + ": listed in " + sha256_list.filename().string() + " but missing");
        continue;
      }
      const std::string actual = sha256_file(file);
      ++check.checked_hashes;
      if (lower(actual) != lower(hash)) check.problems.push_back(file.string() + ": sha256 " + actual + ", expected " + hash);
    }
  }
  return check;
}

}  // namespace osor::harness

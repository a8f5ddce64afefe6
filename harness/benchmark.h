// Benchmarks: one JSON spec per published benchmark in bench_data/<name>.json saying where its files are
// relative to a data root (`--data DIR`, default $OSOR_DATA), read in the layout as published.
//
// Spec fields: name, version, title, root (folder under the data root, or absolute; with "root_relative_to": "spec"
// it is relative to the spec file — the bundled sample), input / gt / object_mask / effect_mask patterns
// with "{id}" standing for the sample id and an optional ".*" extension meaning any image extension
// (effect_mask may be null), mask_polarity ("white" | "black"), expected_count (or null), resolution
// ("native": metrics at the ground truth's size), layout_status, licence, source, notes.
// Sample ids are the {id} parts of the files matching the input pattern, sorted.
//
// "version" (required, an integer >= 1) is raised whenever an edit changes which files or values a spec
// selects (a pattern, the polarity, the resolution), so results computed under the old spec are not compared as
// if they were the same benchmark; results record it with the sha256 of the spec file's bytes, which
// changes with any edit at all.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/image_io.h"

namespace osor::harness {

struct BenchmarkSpec {
  std::string name, title;
  int version = 0;
  std::filesystem::path spec_file;
  std::string sha256;  // of the spec file's bytes, 64 lower-case hex digits
  std::string root;
  bool root_relative_to_spec = false;
  std::string input, gt, object_mask, effect_mask;  // patterns; effect_mask may be empty
  MaskPolarity polarity = MaskPolarity::WhiteIsObject;
  std::optional<int> expected_count;
  std::string resolution = "native", layout_status, licence, source, notes;
};

struct BenchmarkSample {
  std::string id;
  std::filesystem::path input, gt, object_mask, effect_mask;  // effect_mask empty when the benchmark has none
};

// The folder holding bench_data/*.json: $OSOR_BENCH_DIR, else the source tree's bench_data/.
std::filesystem::path default_bench_dir();
// The spec folders a command reads: the built-in one (default_bench_dir) and then `extra` (`--bench-dir DIR`,
// repeatable: a user's own specs add to the built-in ones); a folder given twice is read once.
std::vector<std::filesystem::path> spec_folders(const std::vector<std::filesystem::path>& extra = {});
// The data root: the given one, else $OSOR_DATA, else empty.
std::filesystem::path resolve_data_dir(const std::filesystem::path& given);

BenchmarkSpec read_benchmark_spec(const std::filesystem::path& file);  // HarnessError names the file and field

// The spec folder read whole, so that one bad file costs only itself: every *.json that parses and is the only
// spec of its name, and one line per problem. A name given by several files is used from none of them: picking
// one would make the result depend on file order.
struct BenchmarkCatalog {
  std::vector<BenchmarkSpec> specs;   // the usable specs, in file-name order
  std::vector<std::string> problems;  // an unreadable spec ("<file>: <what>"), then each shared name with its files
  std::map<std::string, std::vector<std::filesystem::path>> shared_names;  // name -> every file that gives it
};
// The specs of every folder together (a name in two folders is a shared name). Throws HarnessError only when a
// folder itself is missing.
BenchmarkCatalog read_benchmark_catalog(const std::vector<std::filesystem::path>& folders);
BenchmarkCatalog read_benchmark_catalog(const std::filesystem::path& bench_dir);

// Every spec of the folder; HarnessError listing every problem when any file is unreadable or any name shared.
std::vector<BenchmarkSpec> list_benchmarks(const std::filesystem::path& bench_dir);
// The spec of that name, whatever is wrong with the other files. HarnessError naming every file when several
// give the name, or "unknown benchmark" with the known names and the folder's problems when none does. A name
// ending in ".json" is a spec file, read as it is (`osor eval --bench my_bench.json`).
BenchmarkSpec find_benchmark(const std::string& name, const std::vector<std::filesystem::path>& folders);
BenchmarkSpec find_benchmark(const std::string& name, const std::filesystem::path& bench_dir);

// True when a --bench value names a spec file rather than a benchmark of the spec folders.
bool is_spec_file_name(const std::string& name);

// The benchmark's folder on disk; HarnessError when the data root is needed but not given or missing.
std::filesystem::path benchmark_root(const BenchmarkSpec& spec, const std::filesystem::path& data_dir);

// Every sample, with paths resolved. A sample whose gt or mask file is missing keeps an empty path (bench
// check reports it; the runner records the sample as failed).
std::vector<BenchmarkSample> list_samples(const BenchmarkSpec& spec, const std::filesystem::path& data_dir);

// `osor bench check`: counts, missing files, unreadable images, mask/image size mismatches, and optional
// sha256 verification against a "sha256  relative/path" list.
struct BenchmarkCheck {
  std::string name;
  std::filesystem::path root;
  int samples = 0;
  std::optional<int> expected;
  std::vector<std::string> problems;  // one line each, naming the file
  int checked_hashes = 0;
  bool ok() const { return problems.empty() && (!expected || *expected == samples); }
};
BenchmarkCheck check_benchmark(const BenchmarkSpec& spec, const std::filesystem::path& data_dir,
                               const std::filesystem::path& sha256_list = {});

}  // namespace osor::harness

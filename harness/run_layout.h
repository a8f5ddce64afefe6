// Where each thing of a run lives in its folder (harness/runner.h has the tree): the one place that knows the
// paths, shared by the runner, `osor merge` and the assembly.
#pragma once

#include <filesystem>
#include <string>

namespace osor::harness {

// A folder name for a method id: readable, and unique through a hash of the full id. Never the label.
std::string method_folder_name(const std::string& method_id);

// One (benchmark, method folder, mask setting) of a run: where its outputs and records are.
struct CellDirs {
  std::filesystem::path outputs, records;
};
CellDirs cell_dirs(const std::filesystem::path& run_dir, const std::string& bench, const std::string& method_folder,
                   const std::string& masks);

// One sample of a cell: its output image, its alpha (OSOR methods), its record, and the record of a finished
// removal not yet scored.
struct SamplePaths {
  std::filesystem::path output, alpha, record, removal;
};
SamplePaths sample_paths(const CellDirs& cell, const std::string& sample_id);

// A set metric's value for a cell, or why it failed: records/<bench>/<method>/<masks>/_set_<metric>.json.
std::filesystem::path set_cell_file(const CellDirs& cell, const std::string& metric);
void write_set_cell_value(const CellDirs& cell, const std::string& metric, double value, int n, int n_failed);
void write_set_cell_failure(const CellDirs& cell, const std::string& metric, const std::string& error, int n_failed);
// True when the cell's value was computed (a failed cell is tried again on --resume).
bool set_cell_done(const CellDirs& cell, const std::string& metric);

// A shard's features for the set metrics (`osor merge` computes FID/CMMD from them), one file per feature
// extractor (`key`: extractor and preprocessing): features/<bench>/<method>/<masks>.<key>.safetensors for the
// cell's scored outputs, features/<bench>/reference.<key>.safetensors for the benchmark's ground truths. Rows
// are named by sample id.
// The key of a feature extractor in those file names: "<extractor>.<preprocessing>", with characters other than
// letters, digits, '-' and '_' made '_'.
std::string features_key(const std::string& extractor, const std::string& preprocessing);
std::filesystem::path shard_features_file(const std::filesystem::path& run_dir, const std::string& bench,
                                          const std::string& method_folder, const std::string& masks,
                                          const std::string& key);
std::filesystem::path shard_reference_features_file(const std::filesystem::path& run_dir, const std::string& bench,
                                                    const std::string& key);

}  // namespace osor::harness

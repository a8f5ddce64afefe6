// Comparison tables in the paper's layout, built from a run record (results.json, "osor-run/1", as
// written by harness::to_json(RunRecord)) and rendered as Markdown, LaTeX, CSV or JSON.
//
// Layout: one row per (bench, method), grouped by bench in the run's config order; columns: latency,
// then one group per mask setting the run computed ("object" = "Object mask", "effect" = "Object-Effect mask"),
// each with the metrics the run computed in the paper's order (FID CMMD LPIPS PSNR SSIM CFD), then any other
// (e.g. ssim-uniform). A metric the run skipped gets no column; why is in the notes.
// A cell is the aggregate mean; "—" when there is none to show: the metric was not computed for that
// row, no sample was scored (n = 0: the record's mean is then 0 or NaN, not a value), or the mean is
// NaN. Such cells never rank. A cell whose aggregate counts failed samples (n_failed > 0), or none
// scored, carries a dagger (†), and a note per row and mask setting says "n of N samples scored".
// Arrows come from each metric's higher_is_better in the run's "metrics" list (the paper's direction
// where the run does not list the metric). Per bench × mask setting × metric, the best value is bold and
// the second best underlined, compared as displayed (rounded to the column's precision), so
// equal-looking values tie and are all marked. Reports compute nothing beyond this ranking.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "model/error.h"

namespace osor::reports {

// A run record that lacks what a table needs (e.g. no "aggregates" list).
class ReportError : public Error {
 public:
  using Error::Error;
};

struct TableOptions {
  // The order of the metric columns and mask groups; other metrics and mask settings of the run come after these.
  std::vector<std::string> metrics = {"fid", "cmmd", "lpips", "psnr", "ssim", "cfd"};
  std::vector<std::string> masks = {"object", "effect"};
  // false: only the metrics and mask groups of `metrics` and `masks`, each shown even when the run did not compute
  // it ("—"), as in a paper's fixed layout. true (default): only what the run computed (its "metrics" list and
  // aggregates), in that order.
  bool only_computed = true;
  bool include_other_metrics = true;  // with only_computed false: the run's other metrics after `metrics`
};

struct Column {
  std::string masks, metric;
  bool higher_is_better = true;
  int decimals = 3;
};

struct Cell {
  std::optional<double> mean;  // empty: not computed, no sample scored (n = 0), or NaN
  std::string text;            // the mean as displayed (rounded), "—" when empty, "∞" for infinity
  int rank = 0;                // 1: best (bold), 2: second best (underlined), 0: neither
  int n = 0, n_failed = 0;
  bool flagged = false;        // † : some samples failed (n_failed > 0) or none was scored (n = 0)
  std::string error;           // a set metric that could not be computed for this cell: why (the aggregate's "error")
};

struct Row {
  std::string bench, method;
  std::optional<double> latency_ms;  // median per sample
  std::vector<Cell> cells;           // one per column
};

struct Table {
  std::vector<std::string> mask_groups;  // in column order
  std::vector<Column> columns;
  std::vector<Row> rows;
  std::vector<std::string> notes;  // conventions, latency protocol, skipped metrics, failed samples
};

Table build_table(const nlohmann::json& results, const TableOptions& options = {});

std::string mask_group_title(const std::string& masks);  // "object" -> "Object mask", ...
std::string metric_title(const std::string& metric);      // "psnr" -> "PSNR"

std::string render_markdown(const nlohmann::json& results, const TableOptions& options = {});
// The caption holds the legend only (arrows, bold/underline, "—", † when shown); every note is in render_notes.
std::string render_latex(const nlohmann::json& results, const TableOptions& options = {});
// The table's notes as a Markdown list: conventions, latency protocol, skipped metrics, samples, failures.
std::string render_notes(const nlohmann::json& results, const TableOptions& options = {});
// One row per aggregate (bench, method, masks, metric): mean, std, ci95_lo, ci95_hi, n, n_failed. An
// aggregate with no sample scored (n = 0) has mean, std and ci95 empty.
std::string render_csv(const nlohmann::json& results);
// {"format": "osor-report/1", "run_id", "aggregates": [...as in the run], "table": {columns, rows, notes}};
// an aggregate with no sample scored (n = 0) has mean, std and ci95 null, and so has a cell's mean
// where the cell shows "—". Cells carry "flagged" (the dagger).
nlohmann::json render_json(const nlohmann::json& results, const TableOptions& options = {});

// A number from a run record: a JSON number or "inf"/"-inf"/"nan" (null is NaN).
double number_from_json(const nlohmann::json& j);

}  // namespace osor::reports

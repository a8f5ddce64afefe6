// The training run's loss log: <out>/losses.csv, one row per logged step, flushed and fsynced as it is written, and
// its plots <out>/losses.html (a standalone page: inline SVG, no scripts, no external CSS) and <out>/losses.svg, each
// one line plot per loss term (x = step, the raw values and their trailing moving average).
//
// CSV: `step,phase,time_s,it_per_s,<term>...`; the columns are the terms in order of first appearance. A row that
// brings a new term rewrites the file atomically with the wider header (earlier rows leave that cell empty), so
// the file is always one rectangular table. A run resumed at step S drops the rows after S (an atomic rewrite), and
// a last line cut short by a crash is dropped on open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace osor::harness::train {

struct LossRow {
  int64_t step = 0;
  std::string phase;      // e.g. "1" or "2" (free text without commas)
  double time_s = 0;      // seconds since the run started
  double it_per_s = 0;    // steps per second
  std::vector<std::pair<std::string, double>> values;  // loss term → value
};

struct LossTable {
  std::vector<std::string> terms;
  std::vector<LossRow> rows;  // a term absent from a row is a missing value there
};

// Parses a losses.csv; a damaged last line (no newline, wrong field count) is left out. HarnessError naming the
// file for anything else.
LossTable read_loss_csv(const std::filesystem::path& path);

struct PlotOptions {
  int64_t moving_average = 50;  // window (rows) of the trailing average; 1 draws the raw line only
  std::string title = "OSOR training losses";
};

// One <svg> per term, each a complete standalone SVG element.
std::vector<std::string> loss_plots_svg(const LossTable& table, const PlotOptions& options = {});
// The page: title, a table of the last values, then the plots.
std::string loss_page_html(const LossTable& table, const PlotOptions& options = {});
// All plots stacked in one SVG.
std::string loss_plots_combined_svg(const LossTable& table, const PlotOptions& options = {});

class LossLog {
 public:
  // Opens (creating if needed) <out_dir>/losses.csv. resume_step: drop every row whose step is greater.
  explicit LossLog(const std::filesystem::path& out_dir, std::optional<int64_t> resume_step = std::nullopt,
                   PlotOptions plot = {});
  ~LossLog();
  LossLog(const LossLog&) = delete;
  LossLog& operator=(const LossLog&) = delete;

  // Appends and syncs one row. Its terms must be finite numbers or NaN (written as "nan").
  void append(const LossRow& row);
  // Rewrites losses.html and losses.svg atomically from the rows so far.
  void render() const;
  // render() when step is a multiple of `every` (every > 0); what a training loop calls after each row.
  void render_every(int64_t step, int64_t every) const;
  const LossTable& table() const { return table_; }
  std::filesystem::path csv_path() const;

 private:
  void rewrite();
  void open_for_append();
  std::filesystem::path out_dir_;
  PlotOptions plot_;
  LossTable table_;
  int fd_ = -1;
};

}  // namespace osor::harness::train

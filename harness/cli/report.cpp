// osor report: re-render a run's tables (Markdown, LaTeX, CSV, JSON) or its HTML gallery from
// runs/<id>/results.json. Tables go to stdout unless --out; the gallery is written to
// runs/<id>/gallery/index.html (or --out) and its path printed.
// osor report RUN RUN... --out DIR: several runs of different methods over the same benchmarks combined
// (harness/run_combination.h) into DIR/results.json, DIR/reports/ (table.md, table.tex, notes.md, aggregates.csv, table.json)
// and DIR/gallery/index.html.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/error.h"
#include "harness/run_combination.h"
#include "harness/run_folder.h"
#include "harness/run_record.h"
#include "reports/gallery.h"
#include "reports/table.h"

namespace osor::cli {
namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::vector<std::string> runs;
  std::string format = "md", out;
};

void write_combined_report(const ReportArgs& args) {
  if (args.out.empty()) throw HarnessError("osor report with several runs writes a folder: give --out DIR");
  if (args.format != "md") throw HarnessError("--format: several runs are written in every format into --out DIR");
  const std::vector<fs::path> runs(args.runs.begin(), args.runs.end());
  const nlohmann::json results = harness::to_json(harness::combine_runs(runs));
  const fs::path out = fs::absolute(args.out);
  harness::write_file_atomic(out / "results.json", results.dump(1) + "\n");
  harness::write_file_atomic(out / "reports" / "table.md", reports::render_markdown(results));
  harness::write_file_atomic(out / "reports" / "table.tex", reports::render_latex(results));
  harness::write_file_atomic(out / "reports" / "notes.md", reports::render_notes(results));
  harness::write_file_atomic(out / "reports" / "aggregates.csv", reports::render_csv(results));
  harness::write_file_atomic(out / "reports" / "table.json", reports::render_json(results).dump(1) + "\n");
  const fs::path gallery = out / "gallery" / "index.html";
  harness::write_file_atomic(gallery, reports::render_gallery(results, out, gallery.parent_path()));
  std::printf("%s", reports::render_markdown(results).c_str());
  std::printf("\nreports: %s\ngallery: %s\n", (out / "reports").c_str(), gallery.c_str());
}

void run_report(const ReportArgs& args) {
  if (args.runs.size() > 1) return write_combined_report(args);
  const std::string& run = args.runs.front();
  const fs::path file = fs::is_directory(run) ? fs::path(run) / "results.json" : fs::path(run);
  const nlohmann::json results = harness::read_json_file(file);
  // The reports read the raw record (they keep fields the harness structs do not, e.g. a sample's
  // input/gt/mask paths); the format check is the harness's.
  if (!results.is_object() || results.value("format", "") != harness::kRunFormat)
    throw HarnessError(file.string() + ": not an OSOR run record (expected \"format\": \"" +
                       std::string(harness::kRunFormat) + "\")");
  const fs::path run_dir = fs::absolute(file).parent_path();

  std::string text;
  try {
    if (args.format == "html") {
      const fs::path page = args.out.empty() ? run_dir / "gallery" / "index.html" : fs::absolute(args.out);
      fs::create_directories(page.parent_path());
      harness::write_file_atomic(page, reports::render_gallery(results, run_dir, page.parent_path()));
      std::printf("%s\n", page.string().c_str());
      return;
    }
    if (args.format == "md") text = reports::render_markdown(results);
    else if (args.format == "tex") text = reports::render_latex(results);
    else if (args.format == "csv") text = reports::render_csv(results);
    else if (args.format == "json") text = reports::render_json(results).dump(1) + "\n";
    else throw HarnessError("--format " + args.format + ": expected md, tex, csv, json or html");
  } catch (const reports::ReportError& e) {
    throw HarnessError(file.string() + ": " + e.what());
  }
  if (args.out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    const fs::path out = fs::absolute(args.out);
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    harness::write_file_atomic(out, text);
  }
}

void add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Render a run's comparison table (md, tex, csv, json) or HTML gallery; several runs: one combined table set");
  cmd->add_option("runs", args->runs,
                  "run folder (runs/ID) or its results.json; several: combined into one table set in --out DIR")
      ->required();
  cmd->add_option("--format", args->format, "md | tex | csv | json | html")
      ->check(CLI::IsMember({"md", "tex", "csv", "json", "html"}))
      ->capture_default_str();
  cmd->add_option("--out", args->out,
                  "write here (atomically) instead of stdout; html: default RUN/gallery/index.html");
  cmd->callback([args] { run_report(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("report", add_report_command);

}  // namespace osor::cli

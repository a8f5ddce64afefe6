// osor report: re-render a run's tables (Markdown, LaTeX, CSV, JSON) or its HTML gallery from
// runs/<id>/results.json. Tables go to stdout unless --out; the gallery is written to
// runs/<id>/gallery/index.html (or --out) and its path printed.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/error.h"
#include "harness/run_folder.h"
#include "harness/run_record.h"
#include "reports/gallery.h"
#include "reports/table.h"

namespace osor::cli {
namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::string run, format = "md", out;
};

void run_report(const ReportArgs& args) {
  const fs::path file = fs::is_directory(args.run) ? fs::path(args.run) / "results.json" : fs::path(args.run);
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
  CLI::App* cmd = app.add_subcommand("report", "Render a run's comparison table (md, tex, csv, json) or HTML gallery");
  cmd->add_option("run", args->run, "run folder (runs/ID) or its results.json")->required();
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

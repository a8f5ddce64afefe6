#include "harness/cli/run_summary.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "reports/gallery.h"
#include "reports/table.h"

namespace osor::cli {

void print_run_summary(const harness::RunRecord& run, const std::filesystem::path& run_dir, bool json) {
  const nlohmann::json results = harness::to_json(run);
  // The same renderers as `osor report`, so the printed table is the report's table.
  const std::string table = reports::render_markdown(results);
  harness::write_file_atomic(run_dir / "reports" / "table.md", table);
  harness::write_file_atomic(run_dir / "reports" / "table.tex", reports::render_latex(results));
  harness::write_file_atomic(run_dir / "reports" / "notes.md", reports::render_notes(results));
  harness::write_file_atomic(run_dir / "reports" / "aggregates.csv", reports::render_csv(results));
  const std::filesystem::path gallery = run_dir / "gallery" / "index.html";
  harness::write_file_atomic(gallery, reports::render_gallery(results, run_dir, gallery.parent_path()));
  if (json) {
    std::printf("%s\n", results["aggregates"].dump(1).c_str());
    return;
  }
  std::printf("%s\n", table.c_str());
  int failed = 0;
  for (const auto& s : run.samples) failed += s.status == "ok" ? 0 : 1;
  if (failed) std::printf("%d sample(s) failed; see %s\n", failed, (run_dir / "samples.csv").c_str());
  std::printf("run folder: %s\ngallery:    %s\n", run_dir.c_str(), std::filesystem::absolute(gallery).c_str());
}

}  // namespace osor::cli

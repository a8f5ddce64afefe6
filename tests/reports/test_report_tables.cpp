// The comparison tables: layout, best/second marking (direction, ties at the displayed precision),
// "—" for what was not computed, notes, and the four text formats.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "reports/table.h"
#include "tests/reports/run_fixture.h"

using osor::reports::Table;
using nlohmann::json;

namespace {

const osor::reports::Cell& cell(const Table& table, const std::string& bench, const std::string& method,
                                const std::string& masks, const std::string& metric) {
  for (const auto& row : table.rows)
    if (row.bench == bench && row.method == method)
      for (size_t c = 0; c < table.columns.size(); ++c)
        if (table.columns[c].masks == masks && table.columns[c].metric == metric) return row.cells[c];
  FAIL("no cell " << bench << " / " << method << " / " << masks << " / " << metric);
  throw std::logic_error("unreachable");
}

// The paper's fixed layout: every metric and mask group of the paper, "—" where the run computed none.
const osor::reports::TableOptions kPaper = [] {
  osor::reports::TableOptions options;
  options.only_computed = false;
  return options;
}();

const std::string kIdentity = "identity", kTelea = "opencv-telea:radius=3,eps=1", kOsor = "osor_v1&b%";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("table layout: rows by bench then method, the paper's columns per mask setting, extra metrics after") {
  const Table table = osor::reports::build_table(osor::test::fixture_results(), kPaper);
  REQUIRE(table.rows.size() == 6);
  CHECK(table.rows[0].bench == "alpha");
  CHECK(table.rows[0].method == kIdentity);
  CHECK(table.rows[2].method == kOsor);
  CHECK(table.rows[3].bench == "beta_set");
  CHECK(table.mask_groups == std::vector<std::string>{"object", "effect"});
  REQUIRE(table.columns.size() == 14);
  const std::vector<std::string> order = {"fid", "cmmd", "lpips", "psnr", "ssim", "cfd", "ssim-uniform"};
  for (size_t c = 0; c < 14; ++c) {
    CHECK(table.columns[c].masks == (c < 7 ? "object" : "effect"));
    CHECK(table.columns[c].metric == order[c % 7]);
  }
  CHECK_FALSE(table.columns[0].higher_is_better);  // fid
  CHECK_FALSE(table.columns[2].higher_is_better);  // lpips
  CHECK(table.columns[3].higher_is_better);        // psnr
  REQUIRE(table.rows[1].latency_ms.has_value());
  CHECK(*table.rows[1].latency_ms == doctest::Approx(101.5));
}

TEST_CASE("table marks best bold and second underlined per bench, mask setting and metric") {
  const Table table = osor::reports::build_table(osor::test::fixture_results(), kPaper);
  // Higher is better; 25.004 and 25.001 both show as 25.00: a tie, both best; 20.00 is second.
  CHECK(cell(table, "alpha", kTelea, "object", "psnr").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "psnr").rank == 1);
  CHECK(cell(table, "alpha", kIdentity, "object", "psnr").rank == 2);
  CHECK(cell(table, "alpha", kOsor, "object", "psnr").text == "25.00");
  CHECK(cell(table, "alpha", kTelea, "object", "ssim").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "ssim").rank == 2);
  CHECK(cell(table, "alpha", kIdentity, "object", "ssim").rank == 0);
  // Lower is better.
  CHECK(cell(table, "alpha", kTelea, "object", "lpips").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "lpips").rank == 2);
  CHECK(cell(table, "alpha", kIdentity, "object", "lpips").rank == 0);
  CHECK(cell(table, "alpha", kTelea, "object", "fid").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "fid").rank == 1);
  CHECK(cell(table, "alpha", kIdentity, "object", "fid").rank == 2);
  // The other mask setting and the other bench are ranked on their own.
  CHECK(cell(table, "alpha", kOsor, "effect", "psnr").rank == 1);
  CHECK(cell(table, "alpha", kTelea, "effect", "psnr").rank == 2);
  CHECK(cell(table, "alpha", kOsor, "effect", "lpips").rank == 1);
  // An infinite PSNR is the best and shows as infinity.
  CHECK(cell(table, "beta_set", kOsor, "object", "psnr").rank == 1);
  CHECK(cell(table, "beta_set", kOsor, "object", "psnr").text == "\u221e");
  CHECK(cell(table, "beta_set", kTelea, "object", "psnr").rank == 2);
  // Missing for one method: the others are still ranked.
  CHECK(cell(table, "beta_set", kTelea, "effect", "lpips").rank == 1);
  CHECK(cell(table, "beta_set", kIdentity, "effect", "lpips").rank == 2);
}

TEST_CASE("table shows — for metrics not computed, with precision per metric") {
  const Table table = osor::reports::build_table(osor::test::fixture_results(), kPaper);
  const auto& missing = cell(table, "beta_set", kOsor, "effect", "lpips");
  CHECK_FALSE(missing.mean.has_value());
  CHECK(missing.text == "\u2014");
  CHECK(missing.rank == 0);
  for (const std::string metric : {"cmmd", "cfd"}) {
    CHECK(cell(table, "alpha", kTelea, "object", metric).text == "\u2014");
    CHECK(cell(table, "alpha", kTelea, "object", metric).rank == 0);
  }
  CHECK(cell(table, "alpha", kTelea, "object", "ssim").text == "0.9000");
  CHECK(cell(table, "alpha", kTelea, "object", "lpips").text == "0.1000");
  CHECK(cell(table, "alpha", kTelea, "object", "fid").text == "10.00");
  CHECK(cell(table, "alpha", kOsor, "object", "psnr").n == 2);
  CHECK(cell(table, "alpha", kOsor, "object", "psnr").n_failed == 1);
}

TEST_CASE("table notes: conventions, latency protocol, skipped metrics, failed samples") {
  const Table table = osor::reports::build_table(osor::test::fixture_results(), kPaper);
  std::string notes;
  for (const auto& note : table.notes) notes += note + "\n";
  CHECK(contains(notes, "FID: fid[pytorch-fid,sqrtm] (v1)"));
  CHECK(contains(notes, "LPIPS: lpips[v0.1,alex] (v1)"));
  CHECK(contains(notes, "Latency (ms per image): wall clock around one remove() call"));
  CHECK(contains(notes, "Skipped CMMD: weights file clip-vit-l14-336.safetensors missing"));
  CHECK(contains(notes, "\u2020 alpha / osor_v1&b% / Object mask: 2 of 3 samples scored (1 failed).\n"));
  CHECK(contains(notes, "Samples per dataset: alpha 3, beta_set 3."));
}

TEST_CASE("markdown table: grouped header, bold, underline, dashes, escaped names") {
  const std::string md = osor::reports::render_markdown(osor::test::fixture_results(), kPaper);
  const auto lines = lines_of(md);
  REQUIRE(lines.size() > 9);
  CHECK(lines[0].rfind("| Dataset | Method | Latency (ms) | Object mask |", 0) == 0);
  CHECK(contains(lines[0], "| Object-Effect mask |"));
  CHECK(contains(lines[2], "| FID\u2193 | CMMD\u2193 | LPIPS\u2193 | PSNR\u2191 | SSIM\u2191 | CFD\u2193 | SSIM-UNIFORM\u2191 |"));
  // alpha / identity: fid second (underlined), psnr second, ssim neither.
  CHECK(lines[3] == "| alpha | identity | 1.50 | <u>50.00</u> | \u2014 | 0.5000 | <u>20.00</u> | 0.5000 | \u2014 | "
                    "0.4000 | 55.00 | \u2014 | 0.5500 | 19.00 | 0.4500 | \u2014 | 0.3500 |");
  // Bench name only on its first row; '_', '&', '%'-free escapes for Markdown.
  CHECK(lines[5].rfind("|  | osor\\_v1&b% | 202 | **10.00**\u2020 |", 0) == 0);  // † : one sample failed
  CHECK(lines[6].rfind("| beta\\_set | identity |", 0) == 0);
  CHECK(contains(md, "**\u221e**"));
  CHECK(contains(md, "- Skipped CMMD:"));
}

TEST_CASE("latex table: booktabs, grouped header, \\textbf/\\underline, escaping") {
  const std::string tex = osor::reports::render_latex(osor::test::fixture_results(), kPaper);
  CHECK(contains(tex, "\\toprule"));
  CHECK(contains(tex, "\\midrule"));
  CHECK(contains(tex, "\\bottomrule"));
  CHECK(contains(tex, "\\multicolumn{7}{c}{Object mask} & \\multicolumn{7}{c}{Object-Effect mask}"));
  CHECK(contains(tex, "\\cmidrule(lr){4-10}\\cmidrule(lr){11-17}"));
  CHECK(contains(tex, "FID$\\downarrow$ & CMMD$\\downarrow$ & LPIPS$\\downarrow$ & PSNR$\\uparrow$"));
  CHECK(contains(tex, "beta\\_set & identity"));
  CHECK(contains(tex, " & osor\\_v1\\&b\\% & 202 & \\textbf{10.00}$^\\dagger$ & --- & \\underline{0.2000}$^\\dagger$"));
  CHECK(contains(tex, "\\textbf{$\\infty$}"));
  CHECK_FALSE(contains(tex, "50\\%\\_of\\_it"));  // a skip reason is a note, not in the caption
  CHECK(contains(osor::reports::render_notes(osor::test::fixture_results()), "(50%_of_it)"));
  CHECK_FALSE(contains(tex, "\u2014"));          // every Unicode dash/arrow mapped
  CHECK_FALSE(contains(tex, "\u2191"));
  // Every body row has 3 + 14 cells.
  for (const auto& line : lines_of(tex))
    if (contains(line, "identity &")) {
      size_t ampersands = 0;
      for (size_t i = 0; i < line.size(); ++i) ampersands += line[i] == '&' && (i == 0 || line[i - 1] != '\\');
      CHECK(ampersands == 16);
    }
}

TEST_CASE("csv: one row per aggregate with mean, std, ci95, n, n_failed, quoted names") {
  const json results = osor::test::fixture_results();
  const std::string csv = osor::reports::render_csv(results);
  const auto lines = lines_of(csv);
  REQUIRE(lines.size() == results["aggregates"].size() + 1);
  CHECK(lines[0] == "bench,method,masks,metric,convention,higher_is_better,mean,std,ci95_lo,ci95_hi,n,n_failed");
  CHECK(results["aggregates"].size() == 2 * 2 * 3 * 5 - 1);  // one lpips not computed
  bool telea = false, inf = false, fid = false;
  for (const auto& line : lines) {
    if (line == "alpha,\"opencv-telea:radius=3,eps=1\",object,psnr,\"psnr[skimage-0.19,rgb,full]\",true,25.004,0.01,"
                "25.004,25.004,3,0")
      telea = true;
    if (line == "beta_set,osor_v1&b%,object,psnr,\"psnr[skimage-0.19,rgb,full]\",true,inf,0.01,inf,inf,3,0") inf = true;
    if (line == "alpha,osor_v1&b%,object,fid,\"fid[pytorch-fid,sqrtm]\",false,10.0,0.0,,,2,1") fid = true;
  }
  CHECK(telea);
  CHECK(inf);
  CHECK(fid);
}

TEST_CASE("json report round-trips and carries the aggregates and the table") {
  const json results = osor::test::fixture_results();
  const json report = osor::reports::render_json(results, kPaper);
  const json parsed = json::parse(report.dump());
  CHECK(parsed == report);
  CHECK(parsed["format"] == "osor-report/1");
  CHECK(parsed["aggregates"] == results["aggregates"]);
  const auto& table = parsed["table"];
  REQUIRE(table["columns"].size() == 14);
  REQUIRE(table["rows"].size() == 6);
  const Table built = osor::reports::build_table(results, kPaper);
  for (size_t r = 0; r < built.rows.size(); ++r)
    for (size_t c = 0; c < built.columns.size(); ++c) {
      CHECK(table["rows"][r]["cells"][c]["rank"] == built.rows[r].cells[c].rank);
      CHECK(table["rows"][r]["cells"][c]["text"] == built.rows[r].cells[c].text);
    }
  CHECK(table["rows"][5]["cells"][3]["mean"] == "inf");   // beta_set / osor / object / psnr
  CHECK(table["rows"][5]["cells"][9]["mean"].is_null());  // beta_set / osor / effect / lpips
}

TEST_CASE("a run record without aggregates is a clear error") {
  CHECK_THROWS_WITH_AS(osor::reports::render_markdown(json{{"format", "osor-run/1"}}),
                       doctest::Contains("no \"aggregates\" list"), osor::reports::ReportError);
}

TEST_CASE("table notes: the latency footnote states the samples, warm-up and device") {
  json results = osor::test::fixture_results();
  Table table = osor::reports::build_table(results, kPaper);
  std::string notes;
  for (const auto& note : table.notes) notes += note + "\n";
  CHECK(notes.find("latency: median over 3 samples, device-synchronised.\n") != std::string::npos);  // old run
  results["provenance"] = {{"device", "cuda"}, {"device_name", "NVIDIA H200 (cuda)"}};
  for (auto& l : results["latency"]) l["n_warmup"] = l["masks"] == "object" ? 1 : 0;
  results["latency"][0]["n"] = 2;
  table = osor::reports::build_table(results, kPaper);
  notes.clear();
  for (const auto& note : table.notes) notes += note + "\n";
  CHECK(notes.find("latency: median over 2–3 samples, warm-up excluded, device-synchronised, NVIDIA H200 (cuda).\n") !=
        std::string::npos);
}

// ------------------------------------------------------------------------------ failed samples and metrics

namespace {

// The fixture with every alpha / identity / object-mask sample failed: its aggregates hold n = 0 and
// mean 0 (per-image) or NaN (FID), the record's stand-ins for "no value".
json all_failed_results() {
  json results = osor::test::fixture_results();
  osor::test::fail_samples(results, "alpha", kIdentity, "object", 3, "remove() threw: CUDA out of memory");
  return results;
}

std::vector<std::string> dagger_notes(const Table& table) {
  std::vector<std::string> notes;
  for (const auto& note : table.notes)
    if (note.rfind("\u2020", 0) == 0) notes.push_back(note);
  return notes;
}

}  // namespace

TEST_CASE("table: a group with no successful sample shows — with n = 0, carries the dagger and is never ranked") {
  const Table table = osor::reports::build_table(all_failed_results(), kPaper);
  for (const std::string metric : {"fid", "lpips", "psnr", "ssim", "ssim-uniform"}) {
    CAPTURE(metric);
    const auto& failed = cell(table, "alpha", kIdentity, "object", metric);
    CHECK_FALSE(failed.mean.has_value());
    CHECK(failed.text == "\u2014");
    CHECK(failed.rank == 0);
    CHECK(failed.n == 0);
    CHECK(failed.n_failed == 3);
    CHECK(failed.flagged);
  }
  CHECK_FALSE(cell(table, "alpha", kIdentity, "object", "cmmd").flagged);  // not computed: no dagger
  // LPIPS is lower-is-better: the record's mean 0 must not win. Telea 0.1 is best, osor 0.2 second.
  CHECK(cell(table, "alpha", kTelea, "object", "lpips").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "lpips").rank == 2);
  CHECK(cell(table, "alpha", kTelea, "object", "ssim").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "ssim").rank == 2);
  CHECK(cell(table, "alpha", kTelea, "object", "fid").rank == 1);
  CHECK(cell(table, "alpha", kOsor, "object", "fid").rank == 1);
  // The other mask setting of the same row is untouched.
  CHECK(cell(table, "alpha", kIdentity, "effect", "psnr").text == "19.00");
  CHECK_FALSE(cell(table, "alpha", kIdentity, "effect", "psnr").flagged);
  // The row keeps the latency of the mask setting that ran.
  REQUIRE(table.rows[0].latency_ms.has_value());
  CHECK(*table.rows[0].latency_ms == doctest::Approx(1.5));
}

TEST_CASE("table: a set-level metric that failed on its own (n = 0, mean 0) shows — and never takes the best rank") {
  json results = osor::test::fixture_results();
  osor::test::fail_set_metric(results, "alpha", kIdentity, "effect", "fid", 0.0);
  const Table table = osor::reports::build_table(results, kPaper);
  const auto& failed = cell(table, "alpha", kIdentity, "effect", "fid");
  CHECK(failed.text == "\u2014");
  CHECK(failed.rank == 0);
  CHECK(failed.n == 0);
  CHECK(failed.flagged);
  CHECK(cell(table, "alpha", kOsor, "effect", "fid").rank == 1);   // 11.00
  CHECK(cell(table, "alpha", kTelea, "effect", "fid").rank == 2);  // 12.00
  // The note names the metric: the other metrics of the row and mask setting have values.
  CHECK(dagger_notes(table) ==
        std::vector<std::string>{"\u2020 alpha / identity / Object-Effect mask (FID): not computed: feature extraction failed: no output image.",
                                 "\u2020 alpha / osor_v1&b% / Object mask: 2 of 3 samples scored (1 failed)."});
}

TEST_CASE("table: a NaN mean shows — and is never ranked") {
  json results = osor::test::fixture_results();
  for (auto& a : results["aggregates"])
    if (a["bench"] == "beta_set" && a.value("method", std::string()) == kTelea && a["masks"] == "effect" &&
        a["metric"] == "psnr")
      a["mean"] = "nan";
  const Table table = osor::reports::build_table(results, kPaper);
  const auto& nan_cell = cell(table, "beta_set", kTelea, "effect", "psnr");
  CHECK_FALSE(nan_cell.mean.has_value());
  CHECK(nan_cell.text == "\u2014");
  CHECK(nan_cell.rank == 0);
  CHECK_FALSE(nan_cell.flagged);  // all 3 samples scored: nothing failed
  CHECK(cell(table, "beta_set", kOsor, "effect", "psnr").rank == 1);      // 29.00
  CHECK(cell(table, "beta_set", kIdentity, "effect", "psnr").rank == 2);  // 18.00
  const json report = osor::reports::render_json(results, kPaper);
  CHECK(report["table"]["rows"][4]["cells"][10]["mean"].is_null());  // beta_set / telea / effect / psnr
}

TEST_CASE("table notes: a dagger note per row and mask setting with failures, n of N samples scored, in row order") {
  json results = all_failed_results();
  osor::test::fail_samples(results, "beta_set", kIdentity, "effect", 1, "command exited with status 1");
  osor::test::fail_set_metric(results, "beta_set", kIdentity, "effect", "fid", "nan");
  const Table table = osor::reports::build_table(results, kPaper);
  CHECK(dagger_notes(table) ==
        std::vector<std::string>{
            "\u2020 alpha / identity / Object mask: 0 of 3 samples scored (3 failed).",
            "\u2020 alpha / osor_v1&b% / Object mask: 2 of 3 samples scored (1 failed).",
            "\u2020 beta_set / identity / Object-Effect mask (FID): not computed: feature extraction failed: no output image.",
            "\u2020 beta_set / identity / Object-Effect mask (LPIPS, PSNR, SSIM, SSIM-UNIFORM): 2 of 3 samples scored "
            "(1 failed)."});
  CHECK(cell(table, "beta_set", kIdentity, "effect", "psnr").flagged);
  CHECK(cell(table, "beta_set", kIdentity, "effect", "psnr").text == "18.00");
  CHECK(cell(table, "beta_set", kIdentity, "effect", "psnr").n == 2);
  CHECK_FALSE(cell(table, "beta_set", kIdentity, "object", "psnr").flagged);
  CHECK_FALSE(cell(table, "alpha", kTelea, "object", "psnr").flagged);
  // The failure notes come last, after the sample counts.
  REQUIRE(table.notes.size() >= 5);
  CHECK(table.notes[table.notes.size() - 5] == "Samples per dataset: alpha 3, beta_set 3.");
}

TEST_CASE("markdown and latex: — with a dagger for a group with no successful sample, the note in the notes") {
  const json results = all_failed_results();
  const auto lines = lines_of(osor::reports::render_markdown(results, kPaper));
  REQUIRE(lines.size() > 5);
  CHECK(lines[3] == "| alpha | identity | 1.50 | \u2014\u2020 | \u2014 | \u2014\u2020 | \u2014\u2020 | \u2014\u2020 | "
                    "\u2014 | \u2014\u2020 | 55.00 | \u2014 | 0.5500 | 19.00 | 0.4500 | \u2014 | 0.3500 |");
  CHECK(lines[4].rfind("|  | opencv-telea:radius=3,eps=1 | 102 | **10.00** | \u2014 | **0.1000** | **25.00** | "
                       "**0.9000** |", 0) == 0);
  const std::string md = osor::reports::render_markdown(results, kPaper);
  CHECK(contains(md, "- \u2020 alpha / identity / Object mask: 0 of 3 samples scored (3 failed).\n"));
  const std::string tex = osor::reports::render_latex(results, kPaper);
  CHECK(contains(tex, "alpha & identity & 1.50 & ---$^\\dagger$ & --- & ---$^\\dagger$ & ---$^\\dagger$ & "
                      "---$^\\dagger$ & --- & ---$^\\dagger$ & 55.00"));
  CHECK(contains(tex, "$^\\dagger$: some samples failed or none was scored (see the notes)."));
  CHECK_FALSE(contains(tex, "0 of 3 samples scored"));
  CHECK(contains(osor::reports::render_notes(results), "- \u2020 alpha / identity / Object mask: 0 of 3 samples scored (3 failed).\n"));
  CHECK_FALSE(contains(tex, "\u2020"));
}

TEST_CASE("csv: an aggregate with no successful sample has empty mean, std and ci95, with n = 0") {
  const std::string csv = osor::reports::render_csv(all_failed_results());
  const auto lines = lines_of(csv);
  auto has = [&](const std::string& line) { return std::find(lines.begin(), lines.end(), line) != lines.end(); };
  CHECK(has("alpha,identity,object,lpips,\"lpips[v0.1,alex]\",false,,,,,0,3"));
  CHECK(has("alpha,identity,object,psnr,\"psnr[skimage-0.19,rgb,full]\",true,,,,,0,3"));
  CHECK(has("alpha,identity,object,fid,\"fid[pytorch-fid,sqrtm]\",false,,,,,0,3"));
  // Partly failed groups keep their numbers.
  CHECK(has("alpha,osor_v1&b%,object,fid,\"fid[pytorch-fid,sqrtm]\",false,10.0,0.0,,,2,1"));
}

TEST_CASE("json report: null mean for a group with no successful sample, in the table cells and the aggregates") {
  const json results = all_failed_results();
  const json report = json::parse(osor::reports::render_json(results, kPaper).dump());
  const auto& table = report["table"];
  const auto& row = table["rows"][0];
  REQUIRE(row["method"].get<std::string>() == kIdentity);
  for (size_t c = 0; c < table["columns"].size(); ++c) {
    const auto& column = table["columns"][c];
    if (column["masks"] != "object" || column["metric"] == "cmmd" || column["metric"] == "cfd") continue;
    CAPTURE(c);
    CHECK(row["cells"][c]["mean"].is_null());
    CHECK(row["cells"][c]["text"] == "\u2014");
    CHECK(row["cells"][c]["rank"] == 0);
    CHECK(row["cells"][c]["n"] == 0);
    CHECK(row["cells"][c]["n_failed"] == 3);
    CHECK(row["cells"][c]["flagged"] == true);
  }
  REQUIRE(report["aggregates"].size() == results["aggregates"].size());
  size_t unscored = 0;
  for (size_t i = 0; i < results["aggregates"].size(); ++i) {
    const json& in = results["aggregates"][i];
    const json& out = report["aggregates"][i];
    if (in["n"] != 0) {
      CHECK(out == in);
      continue;
    }
    ++unscored;
    CHECK(out["mean"].is_null());
    CHECK(out["std"].is_null());
    CHECK(out["ci95"].is_null());
    CHECK(out["n_failed"] == 3);
  }
  CHECK(unscored == 5);
}

TEST_CASE("table: a run without failures carries no dagger and no failure note") {
  json results = osor::test::fixture_results();
  for (auto& a : results["aggregates"]) {
    a["n"] = 3;
    a["n_failed"] = 0;
  }
  const Table table = osor::reports::build_table(results, kPaper);
  for (const auto& row : table.rows)
    for (const auto& c : row.cells) CHECK_FALSE(c.flagged);
  CHECK(dagger_notes(table).empty());
  CHECK_FALSE(contains(osor::reports::render_markdown(results, kPaper), "\u2020"));
  CHECK_FALSE(contains(osor::reports::render_latex(results, kPaper), "dagger"));
  CHECK(contains(osor::reports::render_markdown(results, kPaper), "| alpha | identity | 1.50 | <u>50.00</u> |"));
}

TEST_CASE("table by default: columns only for the metrics and mask settings the run computed, a short caption") {
  json results = osor::test::fixture_results();
  const Table table = osor::reports::build_table(results);
  CHECK(table.mask_groups == std::vector<std::string>{"object", "effect"});
  std::vector<std::string> metrics;
  for (const auto& column : table.columns)
    if (column.masks == "object") metrics.push_back(column.metric);
  // cmmd was skipped and cfd never computed: no columns; the paper's order, then the run's other metric.
  CHECK(metrics == std::vector<std::string>{"fid", "lpips", "psnr", "ssim", "ssim-uniform"});
  CHECK(table.columns.size() == 10);
  // A run of the object masks alone has no Object-Effect group.
  json object_only = results;
  json kept = json::array();
  for (const auto& a : object_only["aggregates"])
    if (a["masks"] == "object") kept.push_back(a);
  object_only["aggregates"] = kept;
  CHECK(osor::reports::build_table(object_only).mask_groups == std::vector<std::string>{"object"});
  // The LaTeX caption is the legend; conventions and skip reasons are in the notes.
  const std::string tex = osor::reports::render_latex(results);
  const size_t caption = tex.find("\\caption{");
  REQUIRE(caption != std::string::npos);
  CHECK(tex.find("Skipped", caption) == std::string::npos);
  CHECK(tex.find("fid[pytorch-fid", caption) == std::string::npos);
  const std::string notes = osor::reports::render_notes(results);
  CHECK(contains(notes, "- Skipped CMMD:"));
  CHECK(contains(notes, "FID: fid[pytorch-fid,sqrtm] (v1)"));
}

// The training loss log (harness/train/loss_log.h): CSV content, widening header, resume truncation, a torn last
// line, and the HTML/SVG plots.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/error.h"
#include "harness/train/loss_log.h"
#include "tests/test_paths.h"

using namespace osor::harness::train;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

LossRow row(int64_t step, double g, double d) {
  return {step, "1", 0.5 * step, 2.0, {{"G_total", g}, {"D", d}}};
}

}  // namespace

TEST_CASE("loss log: rows are appended as CSV, a new term widens the header, values read back") {
  const fs::path out = osor::test::scratch_dir("loss_log_csv");
  {
    LossLog log(out);
    CHECK(read_text(out / "losses.csv") == "step,phase,time_s,it_per_s\n");
    log.append(row(1, 1.5, 0.25));
    log.append(row(2, 1.25, 0.125));
    CHECK(read_text(out / "losses.csv") ==
          "step,phase,time_s,it_per_s,G_total,D\n1,1,0.5,2,1.5,0.25\n2,1,1,2,1.25,0.125\n");
    log.append({3, "1", 1.5, 2.0, {{"G_total", 1.0}, {"D_gp", 1e-7}}});
    log.append({4, "2", 2.0, 2.0, {{"G_total", std::nan("")}}});
  }
  CHECK(read_text(out / "losses.csv") ==
        "step,phase,time_s,it_per_s,G_total,D,D_gp\n1,1,0.5,2,1.5,0.25,\n2,1,1,2,1.25,0.125,\n3,1,1.5,2,1,,1e-07\n"
        "4,2,2,2,nan,,\n");
  const LossTable t = read_loss_csv(out / "losses.csv");
  CHECK(t.terms == std::vector<std::string>{"G_total", "D", "D_gp"});
  REQUIRE(t.rows.size() == 4);
  CHECK(t.rows[2].values.size() == 2);
  CHECK(t.rows[2].values[1].second == 1e-7);
  CHECK(std::isnan(t.rows[3].values[0].second));
  CHECK(t.rows[3].phase == "2");
  LossLog bad(out);
  CHECK_THROWS_AS(bad.append({5, "a,b", 0, 0, {}}), osor::HarnessError);
}

TEST_CASE("loss log: resuming at a step drops the later rows, a torn last line is dropped") {
  const fs::path out = osor::test::scratch_dir("loss_log_resume");
  {
    LossLog log(out);
    for (int64_t s = 1; s <= 6; ++s) log.append(row(s, 1.0 / s, 0.5));
  }
  {
    LossLog resumed(out, 4);
    CHECK(resumed.table().rows.size() == 4);
    CHECK(count(read_text(out / "losses.csv"), "\n") == 5);
    resumed.append(row(5, 9.0, 9.0));
  }
  const LossTable t = read_loss_csv(out / "losses.csv");
  REQUIRE(t.rows.size() == 5);
  CHECK(t.rows[4].values[0].second == 9.0);
  // A crash in the middle of a row: the partial line is ignored when read and removed when the log is reopened.
  { std::ofstream(out / "losses.csv", std::ios::app) << "6,1,3,2,0.1"; }
  CHECK(read_loss_csv(out / "losses.csv").rows.size() == 5);
  {
    LossLog reopened(out);
    reopened.append(row(6, 0.5, 0.5));
  }
  const std::string text = read_text(out / "losses.csv");
  CHECK(count(text, "\n6,") == 1);
  CHECK(text.find("0.1\n") == std::string::npos);
  { std::ofstream(out / "losses.csv", std::ios::app) << "garbage\n7,1,1,1,1,1\n"; }
  CHECK_THROWS_WITH_AS(read_loss_csv(out / "losses.csv"), doctest::Contains("is malformed"), osor::HarnessError);
}

TEST_CASE("loss log: the HTML page has one inline SVG per term with a moving average, losses.svg all of them") {
  const fs::path out = osor::test::scratch_dir("loss_log_plot");
  LossLog log(out, std::nullopt, PlotOptions{5, "Phase <I>"});
  for (int64_t s = 1; s <= 40; ++s) log.append(row(s, 2.0 / s, 0.3 + 0.01 * (s % 3)));
  log.append({41, "1", 20.5, 2.0, {{"D_gp", 3.0}}});
  log.render_every(41, 10);
  CHECK_FALSE(fs::exists(out / "losses.html"));
  log.render_every(40, 10);
  const std::string html = read_text(out / "losses.html");
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(html, "<svg ") == 3);
  CHECK(count(html, "</svg>") == 3);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://www.w3.org/2000/svg") != std::string::npos);  // the only URL: the SVG namespace
  CHECK(count(html, "://") == 3);
  CHECK(html.find("Phase &lt;I&gt;") != std::string::npos);
  CHECK(html.find(">G_total</text>") != std::string::npos);
  CHECK(html.find(">step</text>") != std::string::npos);
  CHECK(html.find("moving average (5)") != std::string::npos);
  // Per term: the raw polyline and the moving average's (D_gp has one point: one of each).
  CHECK(count(html, "stroke=\"#08519c\" stroke-width=\"2.5\" points=") == 3);
  const std::string svg = read_text(out / "losses.svg");
  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(count(svg, "<g transform=") == 3);
  const auto plots = loss_plots_svg(log.table(), PlotOptions{1});
  REQUIRE(plots.size() == 3);
  CHECK(plots[0].find("#08519c\" stroke-width=\"2.5\" points") == std::string::npos);  // window 1: raw only
}

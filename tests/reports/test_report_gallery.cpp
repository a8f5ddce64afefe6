// The HTML gallery: relative links into the run folder, and the page itself loaded in headless
// Chromium (Debian's `chromium`): no console errors, every sample and every method rendered, failed
// samples shown by their error and dashes, never by numbers.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <sys/wait.h>

#include "reports/gallery.h"
#include "reports/thumbnails.h"
#include "tests/reports/run_fixture.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string chromium_binary() {
  if (const char* env = std::getenv("OSOR_CHROMIUM"); env && *env) return env;
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(candidate)) return candidate;
  return "";
}

// A run folder with real images: the bench's files outside the run (absolute paths in the record),
// the outputs inside it (run-relative), so both kinds of link are exercised.
json make_gallery_run(const fs::path& root) {
  json results = osor::test::fixture_results();
  const fs::path bench_dir = root / "bench data";  // a space: links must be percent-encoded
  const fs::path run_dir = root / "run";
  for (auto& s : results["samples"]) {
    const std::string bench = s["bench"], id = s["id"], masks = s["masks"];
    const int seed = static_cast<int>(std::hash<std::string>()(bench + id) % 97);
    const fs::path dir = bench_dir / bench;
    fs::create_directories(dir);
    cv::Mat gt(96, 128, CV_8UC3, cv::Scalar(60 + seed, 140, 200 - seed));
    cv::rectangle(gt, {0, 64}, {127, 95}, cv::Scalar(40, 110, 60), cv::FILLED);
    cv::Mat input = gt.clone();
    const cv::Point center(40 + seed % 40, 48);
    cv::circle(input, center, 18, cv::Scalar(30, 30, 220), cv::FILLED);
    cv::Mat mask(96, 128, CV_8UC1, cv::Scalar(0));
    cv::circle(mask, center, masks == "effect" ? 24 : 18, cv::Scalar(255), cv::FILLED);
    const fs::path input_file = dir / (id + "_input.png"), gt_file = dir / (id + "_gt.png");
    const fs::path mask_file = dir / (id + "_" + masks + "_mask.png");
    cv::imwrite(input_file.string(), input);
    cv::imwrite(gt_file.string(), gt);
    cv::imwrite(mask_file.string(), mask);
    s["input"] = input_file.string();
    s["gt"] = gt_file.string();
    s["mask"] = mask_file.string();
    const fs::path output = run_dir / s["output"].get<std::string>();
    fs::create_directories(output.parent_path());
    cv::Mat out = s["method"] == "identity" ? input.clone() : gt.clone();
    if (s["method"] != "identity") cv::circle(out, center, 10, cv::Scalar(90, 90, 160), cv::FILLED);
    cv::imwrite(output.string(), out);
  }
  return results;
}

struct Chromium {
  int exit_code = -1;
  std::string out, err;
};

Chromium run_chromium(const std::string& binary, const fs::path& scratch, const std::string& mode,
                      const std::string& url) {
  const fs::path profile = scratch / ("profile-" + std::to_string(std::rand()));
  fs::create_directories(profile);
  const fs::path out = scratch / "chromium.out", err = scratch / "chromium.err";
  const std::string cmd = "timeout 90 '" + binary +
                          "' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                          "--disable-background-networking --disable-component-update --disable-sync "
                          "--hide-scrollbars --user-data-dir='" + profile.string() +
                          "' --enable-logging=stderr --v=0 " + mode + " '" + url + "' >'" + out.string() + "' 2>'" +
                          err.string() + "'";
  Chromium result;
  const int status = std::system(cmd.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out);
  result.err = read_text(err);
  return result;
}

// Page errors Chromium logs to stderr: uncaught exceptions and console messages (the page logs none).
std::vector<std::string> console_errors(const std::string& log) {
  std::vector<std::string> errors;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (contains(line, "Uncaught") || contains(line, "CONSOLE") || contains(line, "SyntaxError") ||
        contains(line, "TypeError") || contains(line, "ReferenceError"))
      errors.push_back(line);
  return errors;
}

// The page's data block (the JSON the script renders from).
json gallery_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"osor-data\">";
  const size_t begin = html.find(open);
  REQUIRE(begin != std::string::npos);
  const size_t end = html.find("</script>", begin + open.size());
  REQUIRE(end != std::string::npos);
  return json::parse(html.substr(begin + open.size(), end - begin - open.size()));
}

std::string html_attribute(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '&' ? std::string("&amp;") : c == '"' ? std::string("&quot;") : std::string(1, c);
  return out;
}

}  // namespace

TEST_CASE("gallery links: run-relative outputs and absolute inputs become page-relative, percent-encoded") {
  const fs::path run = "/data/runs/r1";
  CHECK(osor::reports::image_link("outputs/a b.png", run, run / "gallery") == "../outputs/a%20b.png");
  CHECK(osor::reports::image_link("/data/bench/x#1.png", run, run / "gallery") == "../../../bench/x%231.png");
  CHECK(osor::reports::image_link("/data/runs/r1/gallery/y.png", run, run / "gallery") == "y.png");
  CHECK(osor::reports::image_link("", run, run / "gallery").empty());
}

TEST_CASE("gallery page: self-contained, data for every sample and method, no raw '<' from the data") {
  const fs::path root = osor::test::scratch_dir("report_gallery_page");
  const json results = make_gallery_run(root);
  const std::string html = osor::reports::render_gallery(results, root / "run", root / "run" / "gallery");
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  // No network: the only URL is the SVG namespace name, which is never fetched.
  std::string stripped = html;
  const std::string svg_ns = "http://www.w3.org/2000/svg";
  for (size_t p = stripped.find(svg_ns); p != std::string::npos; p = stripped.find(svg_ns)) stripped.erase(p, svg_ns.size());
  CHECK_FALSE(contains(stripped, "http:"));
  CHECK_FALSE(contains(stripped, "https:"));
  CHECK_FALSE(contains(html, "<oom>"));      // the failed sample's error text, '<' escaped inside the JSON
  CHECK(contains(html, "\\u003coom>"));
  CHECK(contains(html, "\"../outputs/alpha/0/object/s01.png\""));
  CHECK(contains(html, "\"../../bench%20data/alpha/s01_input.png\""));
}

TEST_CASE("gallery renders every sample and method in headless Chromium without console errors") {
  const std::string chromium = chromium_binary();
  if (chromium.empty()) {
    MESSAGE("SKIPPED: chromium not found (apt-get install chromium, or set OSOR_CHROMIUM); gallery not checked in a browser");
    return;
  }
  const fs::path root = osor::test::scratch_dir("report_gallery_chromium");
  const json results = make_gallery_run(root);
  const fs::path page = root / "run" / "gallery" / "index.html";
  fs::create_directories(page.parent_path());
  std::ofstream(page) << osor::reports::render_gallery(results, root / "run", page.parent_path());
  const std::string url = "file://" + page.string();

  const Chromium dom = run_chromium(chromium, root, "--dump-dom", url);
  REQUIRE_MESSAGE(dom.exit_code == 0, "chromium failed: " << dom.err);
  const auto errors = console_errors(dom.err);
  for (const auto& e : errors) MESSAGE("console: " << e);
  CHECK(errors.empty());
  for (const auto& id : osor::test::fixture_ids()) CHECK(contains(dom.out, "data-sample=\"" + id + "\""));
  for (const auto& method : osor::test::fixture_methods())
    CHECK(contains(dom.out, "data-method=\"" + html_attribute(method) + "\""));
  // 2 benches x 2 mask settings x 3 ids cards, each with the 3 methods.
  size_t cards = 0, figures = 0;
  for (size_t p = dom.out.find("data-sample="); p != std::string::npos; p = dom.out.find("data-sample=", p + 1)) ++cards;
  for (size_t p = dom.out.find("data-method="); p != std::string::npos; p = dom.out.find("data-method=", p + 1))
    ++figures;
  CHECK(cards == 12);
  CHECK(figures == 36);
  CHECK(contains(dom.out, "12 of 12 samples"));
  CHECK(contains(dom.out, "failed: command exited with status 3: out of memory &lt;oom&gt;"));
  CHECK(contains(dom.out, "\u221e"));  // beta_set / osor's infinite PSNR

  // The URL fragment selects filter and sort: beta_set, object masks, PSNR of identity descending.
  const Chromium sorted =
      run_chromium(chromium, root, "--dump-dom", url + "#bench=beta_set&masks=object&sort=psnr@identity&order=desc");
  REQUIRE(sorted.exit_code == 0);
  CHECK(console_errors(sorted.err).empty());
  CHECK(contains(sorted.out, "3 of 12 samples"));
  const size_t s1 = sorted.out.find("data-sample=\"s01\""), s3 = sorted.out.find("data-sample=\"s03\"");
  REQUIRE(s1 != std::string::npos);
  REQUIRE(s3 != std::string::npos);
  CHECK(s3 < s1);  // identity's PSNR rises with the id in the fixture

  const fs::path shot = root / "gallery.png";
  const Chromium screenshot =
      run_chromium(chromium, root, "--window-size=1400,1100 --screenshot='" + shot.string() + "'", url);
  CHECK(screenshot.exit_code == 0);
  CHECK(console_errors(screenshot.err).empty());
  REQUIRE(fs::exists(shot));
  CHECK(fs::file_size(shot) > 10000);
  MESSAGE("gallery screenshot: " << shot.string());
}

TEST_CASE("gallery data: a failed sample carries its error and no metric values or latency") {
  json results = osor::test::fixture_results();
  // A failed record that still holds a value (scored before a later step threw) must not show it.
  for (auto& s : results["samples"])
    if (s["status"] == "failed") s["metrics"] = {{"psnr", 12.5}};
  osor::test::fail_samples(results, "alpha", "identity", "object", 3, "remove() threw: out of memory <cuda> & more");
  const fs::path run = "/data/runs/r1";
  const std::string html = osor::reports::render_gallery(results, run, run / "gallery");
  CHECK_FALSE(contains(html, "<cuda>"));
  const json data = gallery_data(html);
  size_t failed = 0, ok = 0;
  for (const auto& card : data["samples"])
    for (const auto& item : card["outputs"].items()) {
      const std::string method = item.key();
      const json& out = item.value();
      if (out["status"] != "failed") {
        ++ok;
        CHECK(out.contains("latency_ms"));
        CHECK_FALSE(out["metrics"].empty());
        continue;
      }
      ++failed;
      CAPTURE(method);
      CHECK(card["bench"] == "alpha");
      CHECK(card["masks"] == "object");
      CHECK(out["metrics"].empty());
      CHECK_FALSE(out.contains("latency_ms"));
      CHECK(out["error"] == (method == "identity" ? "remove() threw: out of memory <cuda> & more"
                                                  : "command exited with status 3: out of memory <oom>"));
    }
  CHECK(failed == 4);  // identity's three on alpha / object and osor's s02
  CHECK(ok == 32);
}

TEST_CASE("gallery shows a failed sample's error and dashes, no numbers, for an all-failed method in headless Chromium") {
  const std::string chromium = chromium_binary();
  if (chromium.empty()) {
    MESSAGE("SKIPPED: chromium not found (apt-get install chromium, or set OSOR_CHROMIUM); failed samples not checked in a browser");
    return;
  }
  const fs::path root = osor::test::scratch_dir("report_gallery_failed");
  json results = make_gallery_run(root);
  osor::test::fail_samples(results, "alpha", "identity", "object", 3, "CUDA out of memory <alloc> & co");
  const fs::path page = root / "run" / "gallery" / "index.html";
  fs::create_directories(page.parent_path());
  std::ofstream(page) << osor::reports::render_gallery(results, root / "run", page.parent_path());

  const Chromium dom = run_chromium(chromium, root, "--dump-dom", "file://" + page.string());
  REQUIRE_MESSAGE(dom.exit_code == 0, "chromium failed: " << dom.err);
  CHECK(console_errors(dom.err).empty());
  const std::string open = "<figure data-method=\"identity\" class=\"failed\">";
  size_t figures = 0;
  for (size_t p = dom.out.find(open); p != std::string::npos; p = dom.out.find(open, p + 1)) {
    ++figures;
    const std::string figure = dom.out.substr(p, dom.out.find("</figure>", p) - p);
    CHECK(contains(figure, "failed: CUDA out of memory &lt;alloc&gt; &amp; co"));
    CHECK(contains(figure, "<td>PSNR</td><td>\u2014</td>"));
    CHECK_FALSE(contains(figure, "<td>ms</td>"));
    for (size_t q = figure.find("<td>"); q != std::string::npos; q = figure.find("<td>", q + 1)) {
      const std::string td = figure.substr(q + 4, figure.find("</td>", q) - q - 4);
      CHECK_MESSAGE(td.find_first_of("0123456789") == std::string::npos, "a number in a failed sample's figure: " << td);
    }
  }
  CHECK(figures == 3);
  // The other mask setting of the same method still shows its numbers.
  CHECK(contains(dom.out, "<figure data-method=\"identity\" class=\"\">"));
}

TEST_CASE("gallery at benchmark scale: 343 samples of 1024² images show thumbnails, open the full image on click") {
  const std::string chromium = chromium_binary();
  if (chromium.empty()) {
    MESSAGE("SKIPPED: chromium not found (apt-get install chromium, or set OSOR_CHROMIUM); large gallery not checked");
    return;
  }
  // A generated benchmark: one 1024² picture and its 256² thumbnail, hard-linked under every sample's names (the
  // browser fetches each path on its own, as for distinct files), five methods, as osor eval lays a run out.
  const fs::path root = osor::test::scratch_dir("report_gallery_large");
  const fs::path run = root / "run";
  cv::Mat full(1024, 1024, CV_8UC3), mask(1024, 1024, CV_8UC1, cv::Scalar(0));
  cv::randu(full, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::circle(mask, {512, 512}, 200, cv::Scalar(255), cv::FILLED);
  cv::Mat thumb;
  cv::resize(full, thumb, {256, 256}, 0, 0, cv::INTER_AREA);
  const fs::path full_file = root / "full.png", thumb_file = root / "thumb.jpg", mask_file = root / "mask.png";
  cv::imwrite(full_file.string(), full);
  cv::imwrite(thumb_file.string(), thumb);
  cv::imwrite(mask_file.string(), mask);
  const auto link = [](const fs::path& from, const fs::path& to) {
    fs::create_directories(to.parent_path());
    fs::create_hard_link(from, to);
  };
  const std::vector<std::string> methods = {"identity", "osor-sdxl", "flux-fill", "lama", "opencv-telea"};
  json samples = json::array();
  for (int i = 0; i < 343; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "s%04d", i);
    for (const char* role : {"input", "gt"}) {
      link(full_file, root / "bench" / role / (std::string(id) + ".png"));
      link(thumb_file, run / osor::reports::sample_thumbnail("big", role, id));
    }
    link(mask_file, root / "bench" / "mask" / (std::string(id) + ".png"));
    for (const auto& method : methods) {
      const std::string output = "outputs/big/" + method + "/object/" + id + ".png";
      link(full_file, run / output);
      link(thumb_file, run / osor::reports::output_thumbnail(output));
      samples.push_back({{"bench", "big"}, {"masks", "object"}, {"id", id}, {"method", method}, {"status", "ok"},
                         {"output", output}, {"input", (root / "bench" / "input" / (std::string(id) + ".png")).string()},
                         {"gt", (root / "bench" / "gt" / (std::string(id) + ".png")).string()},
                         {"mask", (root / "bench" / "mask" / (std::string(id) + ".png")).string()},
                         {"metrics", {{"psnr", 20.0 + i % 7}}}, {"latency_ms", 12.5}});
    }
  }
  const json results = {{"run_id", "large"},
                        {"config", {{"benches", {"big"}}, {"methods", methods}, {"masks", {"object"}}}},
                        {"metrics", {{{"name", "psnr"}, {"per_image", true}, {"higher_is_better", true}}}},
                        {"samples", samples}};
  const fs::path page = run / "gallery" / "index.html";
  fs::create_directories(page.parent_path());
  std::ofstream(page) << osor::reports::render_gallery(results, run, page.parent_path());

  const auto start = std::chrono::steady_clock::now();
  const fs::path shot = root / "first_screen.png";
  const Chromium screenshot = run_chromium(
      chromium, root, "--window-size=1400,1100 --screenshot='" + shot.string() + "'", "file://" + page.string());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE_MESSAGE(screenshot.exit_code == 0, "chromium failed: " << screenshot.err);
  CHECK(console_errors(screenshot.err).empty());
  CHECK(fs::file_size(shot) > 10000);
  MESSAGE("first screen of a 343-sample, 7-images-per-sample 1024² gallery: " << seconds << " s (headless Chromium, "
          "start-up included); full images " << fs::file_size(full_file) * 343 * 7 / (1 << 20) << " MiB, thumbnails "
          << fs::file_size(thumb_file) * 343 * 7 / (1 << 20) << " MiB");
  CHECK(seconds < 60);  // a bound against a page that pulls the full images (gigabytes), not a timing benchmark

  // Every <img> is a thumbnail; every full image is a link around it.
  const Chromium dom = run_chromium(chromium, root, "--dump-dom", "file://" + page.string());
  REQUIRE(dom.exit_code == 0);
  CHECK(contains(dom.out, "343 of 343 samples"));
  size_t images = 0, thumbnails = 0;
  for (size_t p = dom.out.find("<img "); p != std::string::npos; p = dom.out.find("<img ", p + 1)) {
    ++images;
    const std::string tag = dom.out.substr(p, dom.out.find('>', p) - p);
    thumbnails += contains(tag, "src=\"../thumbs/") && contains(tag, ".jpg\"");
  }
  CHECK(images == 343 * 7);
  CHECK(thumbnails == images);
  CHECK(contains(dom.out, "<a href=\"../outputs/big/lama/object/s0000.png\" target=\"_blank\""));
}

// SAVP inputs and external programs: manifests, detections files, config JSON, command runner.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "harness/savp/config.h"
#include "adapters/subprocess.h"
#include "harness/savp/triplets.h"
#include "tests/test_paths.h"

using namespace osor::harness::savp;
using namespace osor::adapters;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const osor::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("savp config: Table 7 defaults, JSON overrides, unknown keys named") {
  const SavpConfig d;
  CHECK(d.w_l == 0.6);
  CHECK(d.w_ab == 0.3);
  CHECK(d.w_tex == 0.1);
  CHECK(d.tau_h == 0.07f);
  CHECK(d.r_morph == 3);
  CHECK(d.a_min == 2000);
  CHECK(d.a_hole == 500);
  CHECK(d.alpha == 0.3);
  CHECK(d.n_max == 4);
  CHECK(d.tau_noise == 0.3);
  CHECK(d.tau_score == 0.3);
  CHECK_FALSE(d.apply_score_threshold);
  CHECK(d.k_sem == 3);
  CHECK(d.tau_iou == 0.3);
  CHECK(d.tau_scale == 2.0);
  CHECK(d.tau_keep == 0.5);
  CHECK(d.r_dilate == 1.2);
  CHECK(d.tau_eff == 0.25);
  CHECK(d.multibox == MultiboxMode::Union);
  const SavpConfig c = config_from_json(nlohmann::json::parse(R"({"a_min": 100, "multibox": "reference_quirk"})"), "c.json");
  CHECK(c.a_min == 100);
  CHECK(c.multibox == MultiboxMode::ReferenceQuirk);
  CHECK(c.tau_eff == 0.25);
  CHECK(config_from_json(to_json(c), "x") .a_min == 100);
  CHECK(error_of([] { config_from_json(nlohmann::json::parse(R"({"tau_x": 1})"), "c.json"); }) ==
        "c.json: unknown config key 'tau_x'");
  CHECK(error_of([] { config_from_json(nlohmann::json::parse(R"({"a_min": "big"})"), "c.json"); }).find("c.json: config key 'a_min'") == 0);
}

TEST_CASE("savp triplets: JSONL and CSV manifests, the add/remove ordering, errors with file and line") {
  const fs::path dir = osor::test::scratch_dir("savp_triplets");
  std::ofstream(dir / "t.jsonl") << R"({"id": "a", "source": "s/a.png", "edited": "e/a.png", "instruction": "Add a cat.", "kind": "add"})"
                                 << "\n\n"
                                 << R"({"id": 7, "source": "/abs/s.png", "edited": "e/7.png", "instruction": "", "kind": "Remove object"})"
                                 << "\n";
  auto t = read_triplets(dir / "t.jsonl", "edited region");
  REQUIRE(t.size() == 2);
  CHECK(t[0].kind == EditKind::Add);
  CHECK(t[0].object_image() == dir / "e/a.png");      // Add: the edited image has the object
  CHECK(t[0].background_image() == dir / "s/a.png");
  CHECK(t[1].id == "7");
  CHECK(t[1].object_image() == "/abs/s.png");          // Remove: the source has it
  CHECK(t[1].instruction == "edited region");
  std::ofstream(dir / "t.csv") << "id,source,edited,instruction,kind\n"
                               << "x,s.png,e.png,\"Remove the \"\"red\"\" car, please\",remove\n";
  t = read_triplets(dir / "t.csv", "edited region");
  REQUIRE(t.size() == 1);
  CHECK(t[0].instruction == "Remove the \"red\" car, please");
  std::ofstream(dir / "bad.jsonl") << R"({"id": "a", "source": "a", "edited": "b", "kind": "add"})" << "\n{oops\n";
  CHECK(error_of([&] { read_triplets(dir / "bad.jsonl", ""); }).find("bad.jsonl:2: invalid JSON") != std::string::npos);
  std::ofstream(dir / "kind.jsonl") << R"({"id": "a", "source": "a", "edited": "b", "kind": "replace"})" << "\n";
  CHECK(error_of([&] { read_triplets(dir / "kind.jsonl", ""); }).find("kind.jsonl:1: kind 'replace'") != std::string::npos);
  std::ofstream(dir / "dup.jsonl") << R"({"id": "a", "source": "a", "edited": "b", "kind": "add"})" << "\n"
                                   << R"({"id": "a", "source": "a", "edited": "b", "kind": "add"})" << "\n";
  CHECK(error_of([&] { read_triplets(dir / "dup.jsonl", ""); }).find("dup.jsonl:2: duplicate id 'a'") != std::string::npos);
  std::ofstream(dir / "missing.jsonl") << R"({"id": "a", "edited": "b", "kind": "add"})" << "\n";
  CHECK(error_of([&] { read_triplets(dir / "missing.jsonl", ""); }).find("missing.jsonl:1:") != std::string::npos);
  CHECK(error_of([&] { read_triplets(dir / "none.jsonl", ""); }) == (dir / "none.jsonl").string() + ": file not found");
}

TEST_CASE("savp detections file: boxes per id, errors with file and line") {
  const fs::path dir = osor::test::scratch_dir("savp_detections");
  std::ofstream(dir / "d.jsonl") << R"({"id": "a", "boxes": [[1, 2, 30.5, 40, 0.9], [0, 0, 5, 5, 0.1]]})" << "\n"
                                 << R"({"id": "b", "boxes": []})" << "\n";
  const auto d = read_detections(dir / "d.jsonl");
  REQUIRE(d.at("a").size() == 2);
  CHECK(d.at("a")[0].x2 == 30.5);
  CHECK(d.at("b").empty());
  std::ofstream(dir / "bad.jsonl") << R"({"id": "a", "boxes": [[1, 2, 3]]})" << "\n";
  CHECK(error_of([&] { read_detections(dir / "bad.jsonl"); }).find("bad.jsonl:1: each box must be [x0, y0, x1, y1, score]") !=
        std::string::npos);
  std::ofstream(dir / "id.jsonl") << "\n" << R"({"id": {"x": 1}, "boxes": []})" << "\n";
  CHECK(error_of([&] { read_detections(dir / "id.jsonl"); }) ==
        (dir / "id.jsonl").string() + ":2: \"id\" must be a string or an integer, got {\"x\":1}");
}

TEST_CASE("savp external command: argument vector without a shell, stdout/stderr captured, timeout") {
  const auto r = run_command({"printf", "%s|%s", "a b", "it's \"quoted\" $HOME"}, 10);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "a b|it's \"quoted\" $HOME");  // no word splitting, no expansion
  const auto e = run_command({"sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 3"}, 10);
  CHECK(e.exit_code == 3);
  CHECK(describe_failure({"sh"}, e) == "sh: exit status 3 (stderr: the reason)");
  const auto t = run_command({"sleep", "5"}, 0.3);
  CHECK(t.timed_out);
  CHECK(describe_failure({"sleep"}, t) == "sleep: timed out");
  CHECK(error_of([] { run_command({"/nonexistent/detector"}, 1); }).find("/nonexistent/detector: cannot start") == 0);
  CHECK(substitute({"{image}", "--box={box}", "x"}, {{"image", "/a b.png"}, {"box", "1,2,3,4"}}) ==
        std::vector<std::string>{"/a b.png", "--box=1,2,3,4", "x"});
}

TEST_CASE("savp ids: a control character in a manifest, folder or detections id is refused, named with file, line and escaped id") {
  const fs::path dir = osor::test::scratch_dir("savp_control_ids");
  // JSON escapes put a real newline (and DEL) into the id; the message shows them escaped, on one line.
  std::ofstream(dir / "newline.jsonl") << R"({"id": "ok", "source": "a", "edited": "b", "kind": "add"})" << "\n"
                                       << R"({"id": "a\nb", "source": "a", "edited": "b", "kind": "add"})" << "\n";
  const std::string newline = error_of([&] { read_triplets(dir / "newline.jsonl", ""); });
  CHECK(newline == (dir / "newline.jsonl").string() +
                       ":2: id 'a\\nb' contains a control character (ids name files and lines of SAVP's list files)");
  std::ofstream(dir / "del.jsonl") << R"({"id": "x\u007f\\y", "source": "a", "edited": "b", "kind": "remove"})" << "\n";
  CHECK(error_of([&] { read_triplets(dir / "del.jsonl", ""); }).find("del.jsonl:1: id 'x\\x7f\\\\y' contains a control character") !=
        std::string::npos);
  std::ofstream(dir / "tab.csv") << "id,source,edited,instruction,kind\n"
                                 << "fine,s.png,e.png,,remove\n"
                                 << "\"t\tab\",s.png,e.png,,remove\n";
  CHECK(error_of([&] { read_triplets(dir / "tab.csv", ""); }).find("tab.csv:3: id 't\\tab' contains a control character") !=
        std::string::npos);
  std::ofstream(dir / "det.jsonl") << R"({"id": "a", "boxes": []})" << "\n"
                                   << R"({"id": "b\r", "boxes": []})" << "\n";
  CHECK(error_of([&] { read_detections(dir / "det.jsonl"); }).find("det.jsonl:2: id 'b\\r' contains a control character") !=
        std::string::npos);
  // A folder of shot/ and bg/ pairs: the id is the file stem.
  fs::create_directories(dir / "pairs" / "shot");
  fs::create_directories(dir / "pairs" / "bg");
  for (const char* sub : {"shot", "bg"}) {
    std::ofstream(dir / "pairs" / sub / "good.png") << "x";
    std::ofstream(dir / "pairs" / sub / "bell\x07.png") << "x";
  }
  CHECK(error_of([&] { read_triplets(dir / "pairs", ""); }) ==
        (dir / "pairs" / "shot").string() +
            ": id 'bell\\x07' contains a control character (ids name files and lines of SAVP's list files)");
  // Printable ids, including non-ASCII UTF-8, are still accepted.
  std::ofstream(dir / "utf8.jsonl") << R"({"id": "café 1", "source": "a", "edited": "b", "kind": "add"})" << "\n";
  CHECK(read_triplets(dir / "utf8.jsonl", "").at(0).id == "café 1");
}

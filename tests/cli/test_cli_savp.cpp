// End-to-end: `osor savp` on a small constructed triplet set: output layout, statistics, resume,
// external detector/segmenter commands, and one-line errors naming the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "adapters/subprocess.h"
#include "tests/harness/test_savp_scenes.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
namespace scenes = osor::test::savp;
using osor::adapters::CommandOutput;

namespace {

CommandOutput run_osor(std::vector<std::string> args) {
  args.insert(args.begin(), OSOR_BINARY);
  return osor::adapters::run_command(args, 300);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

size_t line_count(const fs::path& p) {
  const std::string s = slurp(p);
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::string box_line(const std::string& id, const cv::Rect& r, double score) {
  return nlohmann::json{{"id", id}, {"boxes", {{r.x, r.y, r.x + r.width, r.y + r.height, score}}}}.dump();
}

// Four triplets: an Add and a Remove of an object with a shadow (kept, effect-heavy), a fragmented
// change (rejected: too_many_objects), a change far larger than the detected object (rejected:
// background_collapse).
struct TripletSet {
  fs::path dir, manifest, detections, masks;
};

TripletSet make_triplets(const std::string& name) {
  TripletSet t;
  t.dir = osor::test::scratch_dir(name);
  fs::create_directories(t.dir / "img");
  fs::create_directories(t.dir / "masks");
  fs::create_directories(t.dir / "det");
  const auto s = scenes::shadow_scene();
  cv::imwrite((t.dir / "img/plain.png").string(), s.without_object);
  cv::imwrite((t.dir / "img/object.png").string(), s.with_object);
  cv::imwrite((t.dir / "masks/a1.png").string(), s.object_mask * 255);
  cv::imwrite((t.dir / "masks/r1.png").string(), s.object_mask * 255);
  cv::Mat frag = s.without_object.clone(), big = s.without_object.clone();
  for (int i = 0; i < 6; ++i) frag(cv::Rect(10 + (i % 3) * 85, 20 + (i / 3) * 130, 50, 50)).setTo(cv::Scalar(0, 0, 255));
  big(cv::Rect(30, 30, 180, 180)).setTo(cv::Scalar(0, 0, 255));
  cv::imwrite((t.dir / "img/frag.png").string(), frag);
  cv::imwrite((t.dir / "img/big.png").string(), big);
  cv::imwrite((t.dir / "masks/frag.png").string(), cv::Mat::zeros(s.object_mask.size(), CV_8U));
  cv::imwrite((t.dir / "masks/big.png").string(), cv::Mat::zeros(s.object_mask.size(), CV_8U));
  t.manifest = t.dir / "triplets.jsonl";
  std::ofstream(t.manifest)
      << R"({"id": "a1", "source": "img/plain.png", "edited": "img/object.png", "instruction": "Add a red box.", "kind": "add"})" << "\n"
      << R"({"id": "r1", "source": "img/object.png", "edited": "img/plain.png", "instruction": "Remove the red box.", "kind": "remove"})" << "\n"
      << R"({"id": "frag", "source": "img/frag.png", "edited": "img/plain.png", "instruction": "Remove it.", "kind": "remove"})" << "\n"
      << R"({"id": "big", "source": "img/big.png", "edited": "img/plain.png", "instruction": "Remove it.", "kind": "remove"})" << "\n";
  t.detections = t.dir / "detections.jsonl";
  std::ofstream(t.detections) << box_line("a1", s.object, 0.7) << "\n"
                              << box_line("r1", s.object, 0.7) << "\n"
                              << box_line("frag", {10, 20, 50, 50}, 0.7) << "\n"
                              << box_line("big", {100, 100, 30, 30}, 0.7) << "\n";
  for (const char* id : {"a1", "r1", "frag", "big"}) {
    std::ifstream in(t.detections);
    for (std::string line; std::getline(in, line);)
      if (nlohmann::json::parse(line)["id"] == id) std::ofstream(t.dir / "det" / (std::string(id) + ".json")) << line;
  }
  return t;
}

}  // namespace

TEST_CASE("osor savp writes the training/benchmark layout and the statistics table") {
  const TripletSet t = make_triplets("cli_savp_layout");
  const fs::path out = t.dir / "out", debug = t.dir / "debug";
  const auto r = run_osor({"savp", "--triplets", t.manifest.string(), "--detections", t.detections.string(),
                           "--object-masks", (t.dir / "masks").string(), "--out", out.string(), "--debug",
                           debug.string(), "--json"});
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["source_samples"] == 4);
  CHECK(j["add"] == 1);
  CHECK(j["remove"] == 3);
  CHECK(j["processed"] == 4);
  CHECK(j["retained"] == 2);
  CHECK(j["phase2"] == 2);
  CHECK(j["rejected"] == 2);
  CHECK(j["errors"] == 0);
  CHECK(j["rejections_by_stage"]["difference"]["diff_quality_too_many_objects"] == 1);
  CHECK(j["rejections_by_stage"]["anchoring"]["background_collapse"] == 1);
  // The ordered pair: for the Add triplet the edited image is the shot, for the Remove one the source.
  const cv::Mat object = cv::imread((t.dir / "img/object.png").string()), plain = cv::imread((t.dir / "img/plain.png").string());
  for (const char* id : {"a1", "r1"}) {
    CAPTURE(id);
    CHECK(cv::norm(cv::imread((out / "shot" / (std::string(id) + ".png")).string()), object, cv::NORM_INF) == 0);
    CHECK(cv::norm(cv::imread((out / "bg" / (std::string(id) + ".png")).string()), plain, cv::NORM_INF) == 0);
    const cv::Mat m = cv::imread((out / "mask_eff" / (std::string(id) + ".png")).string(), cv::IMREAD_UNCHANGED);
    REQUIRE(m.type() == CV_8UC1);
    CHECK(cv::countNonZero(m == 255) + cv::countNonZero(m == 0) == static_cast<int>(m.total()));  // 0/255
    CHECK(fs::exists(out / "mask_sam" / (std::string(id) + ".png")));
    const auto meta = nlohmann::json::parse(slurp(out / "metadata" / (std::string(id) + ".json")));
    CHECK(meta["status"] == "kept");
    CHECK(meta["phase2"] == true);
  }
  CHECK_FALSE(fs::exists(out / "shot/frag.png"));
  const auto frag = nlohmann::json::parse(slurp(out / "metadata/frag.json"));
  CHECK(frag["status"] == "rejected");
  CHECK(frag["stage"] == "difference");
  CHECK(frag["reason"] == "diff_quality_too_many_objects");
  CHECK(line_count(out / "shot_list.txt") == 2);
  CHECK(line_count(out / "mask_list.txt") == 2);
  CHECK(line_count(out / "mask_sam_list.txt") == 2);
  CHECK(slurp(out / "shot_list.txt") == "shot/a1.png\nshot/r1.png\n");
  CHECK(nlohmann::json::parse(slurp(out / "prompts.json"))["a1"] == "Add a red box.");
  CHECK(slurp(out / "stats.md").find("| retained | 2 |") != std::string::npos);
  for (const char* f : {"1_heatmap.png", "2_binary.png", "3_cleaned.png", "4_components.png", "5_boxes.png",
                        "7_fused.png", "8_effect_mask.png", "10_effect_residual.png"})
    CHECK(fs::exists(debug / "a1" / f));
  CHECK(fs::exists(debug / "frag" / "1_heatmap.png"));
}

TEST_CASE("osor savp resumes: finished triplets are not recomputed, a missing one is") {
  const TripletSet t = make_triplets("cli_savp_resume");
  const fs::path out = t.dir / "out";
  const std::vector<std::string> base = {"savp", "--triplets", t.manifest.string(), "--detections",
                                         t.detections.string(), "--object-masks", (t.dir / "masks").string(),
                                         "--out", out.string(), "--json"};
  REQUIRE(run_osor(base).exit_code == 0);
  const auto again = run_osor(base);
  CHECK(again.exit_code == 2);
  CHECK(again.err.find("pass --resume") != std::string::npos);
  auto with_resume = base;
  with_resume.push_back("--resume");
  auto r = run_osor(with_resume);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["processed_now"] == 0);
  CHECK(j["skipped_done"] == 4);
  CHECK(j["retained"] == 2);
  // An interrupted run: r1's metadata (the commit marker) never got written.
  fs::remove(out / "metadata/r1.json");
  fs::remove(out / "mask_eff/r1.png");
  r = run_osor(with_resume);
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["processed_now"] == 1);
  CHECK(j["retained"] == 2);
  CHECK(fs::exists(out / "mask_eff/r1.png"));
  // Resuming with another config is refused.
  std::ofstream(t.dir / "c.json") << R"({"a_min": 1000})";
  auto other = with_resume;
  other.insert(other.end(), {"--config", (t.dir / "c.json").string()});
  r = run_osor(other);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("config.json: the earlier run used a different SAVP config") != std::string::npos);
}

TEST_CASE("osor savp runs an external detector and segmenter from an argument vector") {
  const TripletSet t = make_triplets("cli_savp_commands");
  const fs::path out = t.dir / "out";
  const auto r = run_osor({"savp", "--triplets", t.manifest.string(), "--detector", "cat",
                           (t.dir / "det" / "{id}.json").string(),
                           "--segmenter", "cp", (t.dir / "masks" / "{id}.png").string(), "{out}", "--out",
                           out.string(), "--json"});
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["retained"] == 2);
  CHECK(j["phase2"] == 2);
  CHECK_FALSE(fs::exists(out / ".segmenter_tmp"));
  // A detector that fails: the triplet is recorded as failed with the program's stderr.
  const fs::path failing = t.dir / "failing_detector.sh";
  std::ofstream(failing) << "#!/bin/sh\necho no model weights >&2\nexit 4\n";
  fs::permissions(failing, fs::perms::owner_all);
  const auto bad = run_osor({"savp", "--triplets", t.manifest.string(), "--detector", failing.string(),
                             "--object-masks", (t.dir / "masks").string(),
                             "--out", (t.dir / "out_bad").string(), "--json"});
  CAPTURE(bad.err);
  REQUIRE(bad.exit_code == 0);
  CHECK(nlohmann::json::parse(bad.out)["errors"] == 3);  // frag is rejected before detection
  CHECK(bad.err.find("failing_detector.sh: exit status 4 (stderr: no model weights)") != std::string::npos);
}

TEST_CASE("osor savp errors: one line naming the file, failed triplets recorded unless --fail-fast") {
  const TripletSet t = make_triplets("cli_savp_errors");
  std::ofstream(t.dir / "bad.jsonl") << R"({"id": "a1", "source": "img/plain.png", "edited": "img/object.png", "kind": "add"})"
                                     << "\n{\"id\": \"x\", \"source\": \n";
  std::ofstream(t.dir / "missing.jsonl")
      << R"({"id": "a1", "source": "img/plain.png", "edited": "img/object.png", "kind": "add"})" << "\n"
      << R"({"id": "gone", "source": "img/gone.png", "edited": "img/plain.png", "kind": "remove"})" << "\n";
  const std::string masks = (t.dir / "masks").string(), det = t.detections.string();
  auto run = [&](const std::string& manifest, const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"savp", "--triplets", manifest, "--detections", det, "--object-masks", masks,
                                  "--out", (t.dir / out).string(), "--json"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_osor(a);
  };
  auto r = run((t.dir / "bad.jsonl").string(), "o1");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad.jsonl:2: invalid JSON") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  r = run((t.dir / "nope.jsonl").string(), "o2");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nope.jsonl: file not found") != std::string::npos);
  // A missing image: recorded as a failed triplet, the others go on.
  r = run((t.dir / "missing.jsonl").string(), "o3");
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("triplet 'gone': " + (t.dir / "img/gone.png").string() + ": file not found") != std::string::npos);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["retained"] == 1);
  CHECK(j["errors"] == 1);
  CHECK(nlohmann::json::parse(slurp(t.dir / "o3/metadata/gone.json"))["status"] == "error");
  r = run((t.dir / "missing.jsonl").string(), "o4", {"--fail-fast"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("gone.png: file not found") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  // A missing object mask and a missing detections line name their files.
  fs::remove(t.dir / "masks/a1.png");
  r = run(t.manifest.string(), "o5", {"--fail-fast"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find((t.dir / "masks/a1.png").string() + ": file not found") != std::string::npos);
  std::ofstream(t.dir / "few.jsonl") << box_line("r1", {80, 60, 60, 60}, 0.7) << "\n";
  r = run_osor({"savp", "--triplets", t.manifest.string(), "--detections", (t.dir / "few.jsonl").string(),
                "--object-masks", masks, "--out", (t.dir / "o6").string(), "--fail-fast"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("few.jsonl: no line for id 'a1'") != std::string::npos);
  r = run_osor({"savp", "--triplets", t.manifest.string(), "--object-masks", masks, "--out", (t.dir / "o7").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("exactly one of --detections FILE and --detector CMD") != std::string::npos);
}

TEST_CASE("osor savp refuses an id with a newline before writing anything, in one escaped line") {
  const TripletSet t = make_triplets("cli_savp_control_id");
  std::ofstream(t.dir / "newline.jsonl")
      << R"({"id": "a1", "source": "img/plain.png", "edited": "img/object.png", "kind": "add"})" << "\n"
      << R"({"id": "r1\nshot/evil", "source": "img/object.png", "edited": "img/plain.png", "kind": "remove"})" << "\n";
  const fs::path out = t.dir / "out";
  const auto r = run_osor({"savp", "--triplets", (t.dir / "newline.jsonl").string(), "--detections",
                           t.detections.string(), "--object-masks", (t.dir / "masks").string(), "--out", out.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("newline.jsonl:2: id 'r1\\nshot/evil' contains a control character") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(out));
}

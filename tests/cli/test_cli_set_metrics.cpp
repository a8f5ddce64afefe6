// End-to-end: `osor score --metric lpips|cmmd|fid`, `osor features`, `osor weights check` and `osor cache`
// with the conformance fixture weights arranged in a weights folder under the manifest's fixed names.
#include <doctest/doctest.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "metrics/frechet_distance.h"
#include "metrics/mmd.h"
#include "model/io/safetensors.h"
#include "tests/cli/osor_command.h"
#include "tests/conformance_fixture.h"
#include "tests/network_weights_dir.h"
#include "tests/test_paths.h"

using osor::test::run_osor;

namespace fs = std::filesystem;

namespace {

fs::path image(const std::string& name) { return osor::test::sample_images() / name; }

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("conformance: lpips/expected osor score --metric lpips matches lpips 0.1.4 (alex) per image, in the psnr/ssim JSON shape") {
  OSOR_REQUIRE_CONFORMANCE(conf, "lpips/expected.json");
  const auto expected = osor::test::read_fixture_json(conf / "lpips" / "expected.json");
  const fs::path dir = osor::test::scratch_dir("cli_lpips");
  // The fixture holds trunk and linear layers in one file; the weights folder splits them as the manifest does.
  osor::test::write_lpips_alex_weights(conf, dir / "weights");
  // Every pair of the fixture set, under its id (folders pair by stem).
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  for (const auto& c : expected["cases"]) {
    const std::string id = c["id"].get<std::string>();
    fs::copy_file(conf / c["pred"].get<std::string>(), dir / "pred" / (id + ".png"));
    fs::copy_file(conf / c["ref"].get<std::string>(), dir / "ref" / (id + ".png"));
  }
  const auto r = run_osor("score --metric lpips --weights " + (dir / "weights").string() + " --pred " +
                          (dir / "pred").string() + " --ref " + (dir / "ref").string() + " --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.size() == 6);
  CHECK(j["metric"] == "lpips");
  CHECK(j["channels"] == "rgb");
  CHECK(j["region"] == "full");
  CHECK(j["n"] == expected["cases"].size());
  const double tolerance = osor::test::readme_tolerance::kLpipsFloat32;
  double sum = 0;
  for (const auto& c : expected["cases"]) {
    const std::string id = c["id"];
    const double value = j["per_image"][id].get<double>(), reference = c["lpips_f64"].get<double>();
    MESSAGE("lpips " << id << ": " << value << " vs lpips_f64 " << reference << ", abs err "
                     << std::abs(value - reference) << " (tolerance " << tolerance << ")");
    CHECK(std::abs(value - reference) <= tolerance);
    if (reference == 0.0) CHECK(value == 0.0);  // an identical pair
    sum += reference;
  }
  CHECK(std::abs(j["mean"].get<double>() - sum / expected["cases"].size()) <= tolerance);
}

TEST_CASE("conformance: cmmd/clip_expected osor score --metric cmmd matches the tiny-CLIP CMMD end to end, cache and feature files agree") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cmmd/clip_expected.safetensors");
  const fs::path dir = osor::test::scratch_dir("cli_cmmd");
  const auto expected = osor::test::read_fixture_json(conf / "cmmd" / "expected.json")["clip"];
  // The full-CLIP layout of openai/clip-vit-large-patch14-336: nested vision_config, top-level projection_dim.
  osor::test::write_clip_weights(conf, dir / "weights");
  // The end-to-end sets of the fixture, in its order: file i of each set is named s<i>, so that stems pair and
  // sort as the reference embeddings' rows do. The cache holds one entry per distinct file content.
  const auto& e2e = expected["cmmd_end_to_end"];
  REQUIRE(e2e["images_pred"].size() == e2e["images_ref"].size());
  std::vector<std::string> ids;
  std::set<std::string> contents;
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  for (size_t i = 0; i < e2e["images_ref"].size(); ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "s%04zu", i);
    ids.push_back(id);
    for (const char* set : {"pred", "ref"}) {
      const fs::path source = conf / e2e[std::string("images_") + set][i].get<std::string>();
      fs::copy_file(source, dir / set / (std::string(id) + ".png"));
      std::ifstream in(source, std::ios::binary);
      contents.insert(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    }
  }
  const int64_t n = static_cast<int64_t>(ids.size());
  const std::string common = " --weights " + (dir / "weights").string() + " --cache " + (dir / "cache").string();
  const std::string sets = " --pred " + (dir / "pred").string() + " --ref " + (dir / "ref").string();

  const auto r = run_osor("score --metric cmmd --json" + common + sets);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.size() == 5);
  CHECK(j["metric"] == "cmmd");
  CHECK(j["convention"] == "cmmd[clip-vit-l14-336,center-crop,sigma=10]");
  CHECK(j["n_pred"] == n);
  CHECK(j["n_ref"] == n);
  const double value = j["value"].get<double>();
  const double reference = e2e["cmmd_f64"].get<double>();
  // Embeddings within 1e-5 of f64 (README 4b) move this MMD by far less than 1e-5; float32 kernels
  // with double sums add at most 5e-6 (README 4a).
  MESSAGE("cmmd end to end: " << value << " vs cmmd_f64 " << reference << ", abs err " << std::abs(value - reference)
                              << " (tolerance 1e-5)");
  CHECK(std::abs(value - reference) <= 1e-5);

  // The second run reads every embedding from the cache and gives the same bits.
  const auto again = run_osor("score --metric cmmd --json" + common + sets);
  REQUIRE(again.exit_code == 0);
  CHECK(nlohmann::json::parse(again.out)["value"].get<double>() == value);
  const auto info = run_osor("cache info --json --cache " + (dir / "cache").string());
  REQUIRE(info.exit_code == 0);
  CHECK(nlohmann::json::parse(info.out)["entries"] == contents.size());  // identical files share one entry

  // Feature files: osor features, then --pred-features/--ref-features give the same value.
  for (const char* set : {"pred", "ref"}) {
    const auto f = run_osor("features --net clip --images " + (dir / set).string() + " --out " +
                            (dir / (std::string(set) + ".safetensors")).string() + common);
    REQUIRE_MESSAGE(f.exit_code == 0, f.err);
  }
  const auto features = osor::model::SafetensorsFile::open(dir / "ref.safetensors");
  const at::Tensor ref_features = features.tensor("features");
  CHECK((ref_features.sizes() == at::IntArrayRef({n, expected["config"]["projection_dim"].get<int64_t>()})));
  CHECK((ref_features.scalar_type() == at::kFloat));
  CHECK(nlohmann::json::parse(features.metadata().at("names")) == nlohmann::json(ids));
  // Against the reference's own L2-normalised float64 embeddings (README 4b: 1e-5 before normalising).
  const auto clip_expected = osor::model::SafetensorsFile::open(conf / "cmmd" / "clip_expected.safetensors");
  const at::Tensor ref_f64 = clip_expected.tensor("cmmd_e2e/ref_embeds_l2norm_f64");
  const double max_err = (ref_features.to(at::kDouble) - ref_f64).abs().max().item<double>();
  MESSAGE("normalised embeddings: max abs err " << max_err << " (tolerance 1e-5)");
  CHECK(max_err <= 1e-5);
  const auto from_files = run_osor("score --metric cmmd --json --pred-features " + (dir / "pred.safetensors").string() +
                                   " --ref-features " + (dir / "ref.safetensors").string());
  REQUIRE_MESSAGE(from_files.exit_code == 0, from_files.err);
  CHECK(nlohmann::json::parse(from_files.out)["value"].get<double>() == doctest::Approx(value).epsilon(1e-12));
  // The reference embeddings themselves through the library's MMD: the same value to float64 precision.
  osor::metrics::MmdOptions f64;
  f64.precision = osor::metrics::MmdPrecision::Float64;
  CHECK(osor::metrics::mmd(clip_expected.tensor("cmmd_e2e/pred_embeds_l2norm_f64"), ref_f64, f64) ==
        doctest::Approx(reference).epsilon(1e-9));
  // Features of one extractor are refused by the other metric.
  const auto wrong = run_osor("score --metric fid --pred-features " + (dir / "pred.safetensors").string() +
                              " --ref-features " + (dir / "ref.safetensors").string());
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("features of 'clip-vit-l14-336', but fid needs 'inception-fid'") != std::string::npos);

  const auto cleared = run_osor("cache clear --cache " + (dir / "cache").string());
  CHECK(cleared.exit_code == 0);
  CHECK(cleared.out.find("removed " + std::to_string(contents.size()) + " entries") != std::string::npos);
}

TEST_CASE("conformance: fid/inception_pool3_expected osor score --metric fid and osor features --net inception-fid with the formula Inception weights") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_pool3_expected.safetensors");
  const auto expected = osor::test::read_fixture_json(conf / "fid" / "expected.json");
  const fs::path dir = osor::test::scratch_dir("cli_fid");
  // One weights file under pytorch-fid's names: formula conv weights + the batch-norm fixture.
  osor::test::write_inception_weights(conf, dir / "weights");
  // The images with reference pool3 features, the first half against the second, under their keys.
  const auto& cases = expected["inception"]["cases"];
  REQUIRE(cases.size() >= 4);  // two sets of at least two (a covariance needs two samples)
  std::vector<std::string> a, b;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string key = cases[i]["key"].get<std::string>();
    (i < (cases.size() + 1) / 2 ? a : b).push_back(key);
    fs::copy_file(conf / cases[i]["image"].get<std::string>(),
                  dir / (i < (cases.size() + 1) / 2 ? "a" : "b") / (key + ".png"));
  }
  const std::string common = " --weights " + (dir / "weights").string() + " --cache " + (dir / "cache").string();

  const auto r = run_osor("score --metric fid --json --pred " + (dir / "a").string() + " --ref " +
                          (dir / "b").string() + common);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find(std::to_string(a.size()) + " samples for 2048-d features") != std::string::npos);  // small-sample warning
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.size() == 5);
  CHECK(j["convention"] == "fid[pytorch-fid,sqrtm]");
  CHECK(j["n_pred"] == a.size());
  CHECK(j["n_ref"] == b.size());
  // Reference: the Fréchet distance (validated against pytorch-fid in tests/metrics) of pytorch-fid's own
  // float64 pool3 features of the same images.
  const auto pool3 = osor::model::SafetensorsFile::open(conf / "fid" / "inception_pool3_expected.safetensors");
  const auto stack = [&](const std::vector<std::string>& names) {
    std::vector<at::Tensor> rows;
    for (const auto& n : names) rows.push_back(pool3.tensor(n + "/pool3_f64"));
    return at::stack(rows);
  };
  const double reference = osor::metrics::frechet_distance(osor::metrics::gaussian_statistics(stack(a)),
                                                           osor::metrics::gaussian_statistics(stack(b)));
  const double value = j["value"].get<double>();
  MESSAGE("fid end to end: " << value << " vs FD of pool3_f64 " << reference << ", rel err "
                             << std::abs(value - reference) / reference << " (tolerance 1e-4)");
  CHECK(std::abs(value - reference) <= 1e-4 * reference);

  const auto f = run_osor("features --net inception-fid --images " + (dir / "a").string() + " --out " +
                          (dir / "a.safetensors").string() + common);
  REQUIRE_MESSAGE(f.exit_code == 0, f.err);
  CHECK(f.err.find("(" + std::to_string(a.size()) + " from the cache)") != std::string::npos);
  const auto features = osor::model::SafetensorsFile::open(dir / "a.safetensors");
  const at::Tensor got = features.tensor("features");
  CHECK((got.sizes() == at::IntArrayRef({static_cast<int64_t>(a.size()), 2048})));
  // Files are listed sorted by name.
  std::vector<std::string> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(nlohmann::json::parse(features.metadata().at("names")) == nlohmann::json(sorted));
  const double max_err = (got.to(at::kDouble) - stack(sorted)).abs().max().item<double>();
  const double tolerance = osor::test::readme_tolerance::kInceptionPool3;
  MESSAGE("pool3 through osor features: max abs err " << max_err << " (tolerance " << tolerance << ")");
  CHECK(max_err <= tolerance);
}

TEST_CASE("network metrics without weights: one line naming the missing file and where to get it") {
  const fs::path dir = osor::test::scratch_dir("cli_missing_weights");
  fs::create_directories(dir / "empty");
  const std::string sets = " --pred " + image("p01_pred.png").string() + " --ref " + image("p01_ref.png").string();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"score --metric fid" + sets, "fid skipped: missing weights file " + (dir / "empty" / "pt_inception-2015-12-05.safetensors").string()},
      {"score --metric cmmd" + sets, "cmmd skipped: missing weights file " + (dir / "empty" / "clip-vit-large-patch14-336" / "config.json").string()},
      {"score --metric lpips" + sets, "lpips skipped: missing weights file " + (dir / "empty" / "alexnet.safetensors").string()},
      {"score --metric lpips --lpips-net vgg" + sets, "lpips skipped: missing weights file " + (dir / "empty" / "vgg16.safetensors").string()},
      {"features --net clip --images " + image("p01_pred.png").string() + " --out " + (dir / "f.safetensors").string(),
       "missing weights file " + (dir / "empty" / "clip-vit-large-patch14-336" / "config.json").string()},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    const auto r = run_osor(c.args + " --weights " + (dir / "empty").string());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(r.err.find("get it from") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  const auto check = run_osor("weights check --json --weights " + (dir / "empty").string());
  REQUIRE(check.exit_code == 1);  // missing files: the check failed
  const auto j = nlohmann::json::parse(check.out);
  CHECK(j["files"].size() >= 7);
  for (const auto& row : j["files"]) CHECK(row["status"] == "missing");
  std::ofstream(dir / "empty" / "alexnet.safetensors") << "x";
  const auto again = nlohmann::json::parse(run_osor("weights check --json --weights " + (dir / "empty").string()).out);
  for (const auto& row : again["files"]) CHECK(row["status"] == (row["id"] == "alexnet" ? "present" : "missing"));
}

TEST_CASE("feature files: malformed names metadata and missing tensors are reported with the file") {
  const fs::path dir = osor::test::scratch_dir("cli_feature_files");
  osor::model::write_safetensors(dir / "bad_names.safetensors", {{"features", at::zeros({3, 4}, at::kFloat)}},
                                 {{"names", "[\"a\", \"b\"]"}});
  osor::model::write_safetensors(dir / "no_features.safetensors", {{"x", at::zeros({3, 4}, at::kFloat)}});
  osor::model::write_safetensors(dir / "ok.safetensors", {{"features", at::rand({5, 4}, at::kDouble)}});
  const auto r1 = run_osor("score --metric fid --pred-features " + (dir / "bad_names.safetensors").string() +
                           " --ref-features " + (dir / "ok.safetensors").string());
  CHECK(r1.exit_code == 2);
  CHECK(r1.err.find("bad_names.safetensors: metadata 'names' lists 2 stems for 3 feature rows") != std::string::npos);
  const auto r2 = run_osor("score --metric cmmd --pred-features " + (dir / "no_features.safetensors").string() +
                           " --ref-features " + (dir / "ok.safetensors").string());
  CHECK(r2.exit_code == 2);
  CHECK(r2.err.find("no_features.safetensors: no tensor 'features'") != std::string::npos);
  // Float64 features without metadata are accepted.
  const auto r3 = run_osor("score --metric fid --json --sqrtm eigh --pred-features " + (dir / "ok.safetensors").string() +
                           " --ref-features " + (dir / "ok.safetensors").string());
  REQUIRE_MESSAGE(r3.exit_code == 0, r3.err);
  const auto j = nlohmann::json::parse(r3.out);
  CHECK(j["convention"] == "fid[pytorch-fid,eigh]");
  CHECK(std::abs(j["value"].get<double>()) < 1e-9);
}

TEST_CASE("osor eval computes lpips, fid and cmmd on the sample with weights, without them the table shows a dash") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_state_dict_keys.json");
  const fs::path dir = osor::test::scratch_dir("cli_eval_networks");
  osor::test::write_network_weights_dir(conf, dir / "weights");
  const std::string common = " --method identity --method opencv-telea --masks object --bootstrap 50 --cache " +
                             (dir / "cache").string() + " --metrics psnr,lpips,fid,cmmd --json";
  const auto r = run_osor("eval --weights " + (dir / "weights").string() + " --out " + (dir / "run").string() + common);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto results = read_json(dir / "run" / "results.json");
  // method → metric → aggregate value; the set metrics carry their convention in the record.
  std::map<std::string, std::map<std::string, double>> value;
  for (const auto& a : results["aggregates"]) value[a["method"]][a["metric"]] = a["mean"].get<double>();
  REQUIRE(value.size() == 2);
  for (const auto& [method, metrics] : value) {
    CAPTURE(method);
    for (const char* m : {"psnr", "lpips"}) CHECK(metrics.count(m) == 1);
    const bool has_fid = std::any_of(metrics.begin(), metrics.end(), [](const auto& kv) { return kv.first.rfind("fid", 0) == 0; });
    const bool has_cmmd = std::any_of(metrics.begin(), metrics.end(), [](const auto& kv) { return kv.first.rfind("cmmd", 0) == 0; });
    CHECK(has_fid);
    CHECK(has_cmmd);
    for (const auto& [name, v] : metrics) {
      CAPTURE(name);
      CHECK(std::isfinite(v));
      if (name != "psnr") CHECK(v >= -1e-6);  // a distance (CMMD's unbiased estimator may dip below 0 by rounding)
    }
  }
  // The identity output is the input: its LPIPS to the ground truth is the largest of the two methods'.
  CHECK(value["identity"]["lpips"] > value["opencv-telea"]["lpips"]);
  std::ifstream table_file(dir / "run" / "reports" / "table.md");
  const std::string table((std::istreambuf_iterator<char>(table_file)), std::istreambuf_iterator<char>());
  for (const char* column : {"LPIPS", "FID", "CMMD"}) CHECK(table.find(column) != std::string::npos);

  // Without the weights: the run still completes, the set and network metrics show "—" and the log says which
  // file is missing.
  fs::create_directories(dir / "empty");
  const auto bare = run_osor("eval --weights " + (dir / "empty").string() + " --out " + (dir / "bare").string() + common);
  REQUIRE_MESSAGE(bare.exit_code == 0, bare.err);
  for (const char* missing : {"pt_inception-2015-12-05.safetensors", "alexnet.safetensors", "config.json"})
    CHECK(bare.err.find(missing) != std::string::npos);
  std::ifstream bare_file(dir / "bare" / "reports" / "table.md");
  const std::string bare_table((std::istreambuf_iterator<char>(bare_file)), std::istreambuf_iterator<char>());
  CHECK(bare_table.find("\u2014") != std::string::npos);
  const auto bare_results = read_json(dir / "bare" / "results.json");
  for (const auto& a : bare_results["aggregates"]) CHECK(a["metric"] == "psnr");
}

// osor train end to end on the CPU with tiny random networks (model/configs/tiny; SDXL and FLUX) and the bundled
// sample benchmark read as CORNE data (input/ = shot, gt/ = bg, mask_effect/ = the training mask): Phase I learns (losses fall, the
// masked PSNR of a fixed validation set rises above the untrained generator's by an asserted floor), Phase II
// starts from Phase I's checkpoint with the widened alpha head, and a run stopped and resumed from its checkpoint
// ends with exactly the uninterrupted run's tensors, also when a signal stopped it.
#include <doctest/doctest.h>

// osor train is part of the OpenCV build (its data loader decodes images).
#if OSOR_TESTS_WITH_OPENCV
#include <ATen/ATen.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/train/loss_log.h"
#include "model/io/safetensors.h"
#include "model/train/checkpoint.h"
#include "model/weights_manifest.h"
#include "tests/cli/osor_command.h"
#include "tests/cli/osor_process.h"
#include "tests/model/test_osor_fixture.h"
#include "tests/test_paths.h"
#include "tests/train/spawned_workers.h"
#include "tests/train/train_models.h"

namespace {

using json = nlohmann::json;

std::filesystem::path sample_data() {
  return osor::test::fixtures_dir().parent_path().parent_path() / "bench_data" / "sample";
}

std::string tiny() { return (std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny").string(); }

// lr 1e-3 (the official 1e-5 moves a tiny run too little in a few steps), everything else official.
std::filesystem::path fast_config(const std::filesystem::path& dir) {
  const auto path = dir / "fast.json";
  std::ofstream(path) << R"({"optimizer": {"lr": 1e-3}})";
  return path;
}

std::string common(const std::filesystem::path& dir, const std::string& size) {
  return " --data " + sample_data().string() + " --random-weights " + tiny() + " --config " + fast_config(dir).string() +
         " --size " + size + " --lora-rank 4 --lora-alpha 4 --seed 3 --log-every 1";
}

double mean_of(const osor::harness::train::LossTable& t, const std::string& term, size_t from, size_t to) {
  size_t col = 0;
  while (col < t.terms.size() && t.terms[col] != term) ++col;
  REQUIRE_MESSAGE(col < t.terms.size(), "no column " << term);
  double sum = 0;
  for (size_t i = from; i < to; ++i) sum += t.rows.at(i).values.at(col).second;
  return sum / static_cast<double>(to - from);
}

void check_same_tensors(const std::filesystem::path& a, const std::filesystem::path& b) {
  const auto fa = osor::model::SafetensorsFile::open(a), fb = osor::model::SafetensorsFile::open(b);
  REQUIRE(fa.names() == fb.names());
  for (const auto& n : fa.names()) CHECK_MESSAGE(fa.tensor(n).equal(fb.tensor(n)), a.filename().string() << ": " << n);
}

}  // namespace

TEST_CASE("osor train: tiny Phase I then Phase II on the bundled sample, losses fall and the masked PSNR beats the untrained model") {
  const auto dir = osor::test::scratch_dir("cli_train_phases");
  const auto p1 = dir / "phase1";
  auto r = osor::test::run_osor("train --phase 1 --out " + p1.string() + common(dir, "128") +
                                " --steps 40 --checkpoint-every 20 --validate-every 40 --validate-samples 4 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  CHECK(j["step"] == 40);
  CHECK(j["batches"] == 80);
  const double before = j["validation_masked_psnr_first"], after = j["validation_masked_psnr_last"];
  MESSAGE("Phase I: validation masked PSNR " << before << " -> " << after << " dB, " << j["steps_per_second"] << " steps/s");
  CHECK(after > before + 1.0);
  const auto table = osor::harness::train::read_loss_csv(p1 / "losses.csv");
  REQUIRE(table.rows.size() == 40);
  CHECK(mean_of(table, "G_l1", 35, 40) < mean_of(table, "G_l1", 0, 5));
  CHECK(std::filesystem::exists(p1 / "losses.html"));
  const auto ckpt = p1 / "checkpoints" / "step-0000040";
  REQUIRE(std::filesystem::exists(ckpt / "state_dict.safetensors"));
  CHECK(osor::model::SafetensorsFile::open(ckpt / "state_dict.safetensors").tensor("unet.conv_out.weight").size(0) == 4);

  const auto p2 = dir / "phase2";
  r = osor::test::run_osor("train --phase 2 --out " + p2.string() + common(dir, "128") + " --steps 4 --init " +
                           (ckpt / "state_dict.safetensors").string() + " --disc " + (ckpt / "discriminator.safetensors").string() +
                           " --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(json::parse(r.out)["losses"].contains("G_alpha"));
  const auto p2_state = osor::model::SafetensorsFile::open(p2 / "checkpoints" / "step-0000004" / "state_dict.safetensors");
  CHECK(p2_state.tensor("unet.conv_out.weight").size(0) == 5);
  // The adapters came from Phase I's checkpoint: their alpha and rank travel on (what osor-sdxl reads to scale them).
  CHECK(std::stod(p2_state.metadata().at("lora_alpha")) == 4.0);
  CHECK(p2_state.metadata().at("r") == "4");
}

TEST_CASE("osor train: a run resumed from its checkpoint ends with exactly the uninterrupted run's tensors") {
  const auto dir = osor::test::scratch_dir("cli_train_resume");
  const std::string args = common(dir, "96x96") + " --phase 2 --checkpoint-every 3";
  auto r = osor::test::run_osor("train --out " + (dir / "straight").string() + args + " --steps 6");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 3");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // Without --resume a run folder with checkpoints is refused; so is a resume with another batch size.
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 6");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--resume") != std::string::npos);
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 6 --resume --batch 1");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("batch_size") != std::string::npos);
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 6 --resume");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const char* file : {"state_dict.safetensors", "discriminator.safetensors", "optimizer.safetensors"})
    check_same_tensors(dir / "straight" / "checkpoints" / "step-0000006" / file, dir / "split" / "checkpoints" / "step-0000006" / file);
  CHECK(osor::harness::train::read_loss_csv(dir / "split" / "losses.csv").rows.size() == 6);
}

namespace {

// The rows of <out>/losses.csv so far (log every step): the steps done.
size_t logged_steps(const std::filesystem::path& out) {
  const auto csv = out / "losses.csv";
  if (!std::filesystem::exists(csv)) return 0;
  try {
    return osor::harness::train::read_loss_csv(csv).rows.size();
  } catch (const std::exception&) {
    return 0;
  }
}

// The settings of the runs a signal stops: Phase I at 96x96, no periodic checkpoint before the stop.
std::string stoppable_settings(const std::filesystem::path& dir) {
  return common(dir, "96x96") + " --phase 1 --checkpoint-every 1000";
}

// `osor train` of 1000 steps into `out` with those settings, as an argument vector.
std::vector<std::string> stoppable_run(const std::filesystem::path& dir, const std::filesystem::path& out) {
  std::vector<std::string> argv = {"train", "--out", out.string(), "--steps", "1000"};
  std::istringstream words(stoppable_settings(dir));
  for (std::string w; words >> w;) argv.push_back(w);
  return argv;
}

}  // namespace

TEST_CASE("osor train: SIGTERM, SIGINT or SIGUSR1 stops the run after the step in progress with a checkpoint there, and --resume continues it exactly") {
  const auto dir = osor::test::scratch_dir("cli_train_signal");
  const std::string common_args = stoppable_settings(dir);
  const auto help = osor::test::run_osor("train --help");
  CHECK(help.out.find("SIGINT (Ctrl-C), SIGTERM or SIGUSR1 stops the run after the current step") != std::string::npos);
  for (const int sig : {SIGTERM, SIGINT, SIGUSR1}) {
    CAPTURE(sig);
    const auto out = dir / ("stopped-" + std::to_string(sig));
    const std::vector<std::string> train = stoppable_run(dir, out);
    const auto log = dir / ("osor-" + std::to_string(sig) + ".log");
    const pid_t osor = osor::test::start_osor(train, log);
    int status = 0;
    const bool running = osor::test::wait_while_running(osor, [&] { return logged_steps(out) >= 2; }, status);
    REQUIRE_MESSAGE(running, "osor train ended or stalled before step 2: " << osor::test::file_text(log));
    REQUIRE(::kill(osor, sig) == 0);
    REQUIRE(::waitpid(osor, &status, 0) == osor);
    CHECK_MESSAGE(WIFSIGNALED(status), osor::test::file_text(log));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == sig);

    // The checkpoint is at the last logged step, the one in progress when the signal came.
    const size_t steps = logged_steps(out);
    CHECK(steps >= 2);
    CHECK(steps < 1000);
    const auto latest = osor::model::train::latest_checkpoint(out);
    REQUIRE(latest.has_value());
    CHECK(latest->filename() == osor::model::train::checkpoint_folder_name(static_cast<int64_t>(steps)));
    CHECK(osor::test::file_text(log).find("after step " + std::to_string(steps) + "; checkpoint") != std::string::npos);
    if (sig != SIGTERM) continue;

    // Resumed to two steps further, it ends where a run that was never stopped ends.
    const std::string to = " --steps " + std::to_string(steps + 2);
    auto r = osor::test::run_osor("train --out " + out.string() + common_args + to + " --resume");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = osor::test::run_osor("train --out " + (dir / "straight").string() + common_args + to);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string last = osor::model::train::checkpoint_folder_name(static_cast<int64_t>(steps + 2));
    for (const char* file : {"state_dict.safetensors", "discriminator.safetensors", "optimizer.safetensors"})
      check_same_tensors(dir / "straight" / "checkpoints" / last / file, out / "checkpoints" / last / file);
  }
}

TEST_CASE("osor train on two Gloo processes: SIGTERM to one of them stops both after the same step, at rank 0's checkpoint") {
  const auto dir = osor::test::scratch_dir("cli_train_signal_ranks");
  const auto out = dir / "run";
  std::vector<std::string> train = stoppable_run(dir, out);
  train.insert(train.end(), {"--device", "cpu"});
  const std::string port = std::to_string(osor::test::free_port());
  pid_t ranks[2];
  for (int rank = 0; rank < 2; ++rank)
    ranks[rank] = osor::test::start_osor(train, dir / ("rank" + std::to_string(rank) + ".log"),
                                         {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port, "OMP_NUM_THREADS=1"});
  const auto logs = [&] { return osor::test::file_text(dir / "rank0.log") + "\n--- rank 1:\n" + osor::test::file_text(dir / "rank1.log"); };
  int status[2] = {0, 0};
  const bool running = osor::test::wait_while_running(ranks[0], [&] { return logged_steps(out) >= 2; }, status[0]);
  if (!running) ::kill(ranks[1], SIGKILL);
  REQUIRE_MESSAGE(running, "rank 0 ended or stalled before step 2: " << logs());

  REQUIRE(::kill(ranks[1], SIGTERM) == 0);
  for (int rank = 0; rank < 2; ++rank) {
    CAPTURE(rank);
    REQUIRE_MESSAGE(osor::test::wait_for_exit(ranks[rank], status[rank]), "did not end after the stop: " << logs());
    CHECK_MESSAGE(WIFSIGNALED(status[rank]), logs());
    if (WIFSIGNALED(status[rank])) CHECK(WTERMSIG(status[rank]) == SIGTERM);  // rank 0 stops for rank 1's signal
  }
  const size_t steps = logged_steps(out);
  CHECK(steps >= 2);
  const auto latest = osor::model::train::latest_checkpoint(out);
  REQUIRE(latest.has_value());
  CHECK(latest->filename() == osor::model::train::checkpoint_folder_name(static_cast<int64_t>(steps)));
  for (int rank = 0; rank < 2; ++rank)
    CHECK(osor::test::file_text(dir / ("rank" + std::to_string(rank) + ".log")).find("stopped by SIGTERM after step " + std::to_string(steps)) != std::string::npos);
}

TEST_CASE("osor train --backbone flux: tiny OSOR-FLUX Phase I learns, Phase II widens proj_out to 68, a resumed run is exact") {
  const auto dir = osor::test::scratch_dir("cli_train_flux");
  const std::string flux = " --backbone flux";
  const auto p1 = dir / "phase1";
  auto r = osor::test::run_osor("train --phase 1 --out " + p1.string() + flux + common(dir, "128") +
                                " --steps 40 --checkpoint-every 40 --validate-every 40 --validate-samples 4 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  const double before = j["validation_masked_psnr_first"], after = j["validation_masked_psnr_last"];
  MESSAGE("FLUX Phase I: validation masked PSNR " << before << " -> " << after << " dB, " << j["steps_per_second"] << " steps/s");
  CHECK(after > before + 0.5);
  const auto table = osor::harness::train::read_loss_csv(p1 / "losses.csv");
  REQUIRE(table.rows.size() == 40);
  CHECK(mean_of(table, "G_l1", 35, 40) < mean_of(table, "G_l1", 0, 5));
  const auto ckpt = p1 / "checkpoints" / "step-0000040";
  const auto p1_state = osor::model::SafetensorsFile::open(ckpt / "state_dict.safetensors");
  CHECK(p1_state.tensor("transformer.base_model.model.proj_out.weight").size(0) == 64);
  CHECK(p1_state.metadata().at("r") == "4");
  CHECK(json::parse(std::ifstream(p1 / "run.json"))["backbone"] == "flux");

  r = osor::test::run_osor("train --phase 2 --out " + (dir / "phase2").string() + flux + common(dir, "128") +
                           " --steps 2 --init " + (ckpt / "state_dict.safetensors").string() + " --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(json::parse(r.out)["losses"].contains("G_alpha"));
  const auto p2_state =
      osor::model::SafetensorsFile::open(dir / "phase2" / "checkpoints" / "step-0000002" / "state_dict.safetensors");
  CHECK(p2_state.tensor("transformer.base_model.model.proj_out.weight").size(0) == 68);

  const std::string args = flux + common(dir, "96x96") + " --phase 2 --checkpoint-every 2";
  r = osor::test::run_osor("train --out " + (dir / "straight").string() + args + " --steps 4");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 2");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // A resume with the other backbone is refused.
  r = osor::test::run_osor("train --out " + (dir / "split").string() + common(dir, "96x96") + " --phase 2 --steps 4 --resume");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("backbone") != std::string::npos);
  r = osor::test::run_osor("train --out " + (dir / "split").string() + args + " --steps 4 --resume");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const char* file : {"state_dict.safetensors", "discriminator.safetensors", "optimizer.safetensors"})
    check_same_tensors(dir / "straight" / "checkpoints" / "step-0000004" / file, dir / "split" / "checkpoints" / "step-0000004" / file);
}

TEST_CASE("osor train --dtype bf16: bf16 base weights under autocast, float32 trainable tensors in the checkpoint") {
  const auto dir = osor::test::scratch_dir("cli_train_bf16");
  const auto r = osor::test::run_osor("train --phase 1 --out " + (dir / "run").string() + common(dir, "96x96") +
                                      " --steps 2 --dtype bf16 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (const auto& [name, v] : json::parse(r.out)["losses"].items()) CHECK_MESSAGE(std::isfinite(v.get<double>()), name);
  const auto state = osor::model::SafetensorsFile::open(dir / "run" / "checkpoints" / "step-0000002" / "state_dict.safetensors");
  for (const auto& n : state.names()) CHECK_MESSAGE(std::string(c10::toString(state.tensor(n).scalar_type())) == "Float", n);
}

// The networks of the conformance set's tiny models as a weights folder (SDXL-Inpainting, the prompt cache,
// LPIPS-VGG as vgg16 + lpips_vgg files), so that the periodic evaluation runs osor-sdxl on a training checkpoint.
TEST_CASE("osor train --eval-every: osor eval of each checkpoint through osor-sdxl:checkpoint=, into the run folder") {
  const auto fx = osor::test::open_model_fixture("osor_sdxl_e2e");
  if (!fx) return;
  const auto root = fx->dir.parent_path();
  const auto weights = osor::test::arrange_osor_sdxl_weights(*fx);
  const osor::test::TrainFixture losses(root, "losses");
  const auto lpips = osor::model::SafetensorsFile::open(osor::test::lpips_vgg_weights(losses));
  std::vector<std::pair<std::string, at::Tensor>> trunk, lins;
  for (const auto& n : lpips.names()) (n.rfind("lin", 0) == 0 ? lins : trunk).emplace_back(n, lpips.tensor(n));
  osor::model::write_safetensors(weights / osor::model::weights_file_info("vgg16").relative_path, trunk);
  osor::model::write_safetensors(weights / osor::model::weights_file_info("lpips-vgg").relative_path, lins);

  const auto dir = osor::test::scratch_dir("cli_train_eval");
  const auto r = osor::test::run_osor(
      "train --phase 1 --data " + sample_data().string() + " --out " + (dir / "run").string() + " --weights " +
      weights.string() + " --disc " + (root / "train" / "disc.weights.safetensors").string() + " --config " +
      fast_config(dir).string() + " --size 96x96 --lora-rank 4 --lora-alpha 4 --steps 2 --checkpoint-every 2 " +
      "--eval-every 2 --eval-bench sample --eval-metrics psnr --eval-limit 2 --eval-data " +
      sample_data().parent_path().string());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto results = dir / "run" / "eval" / "step-0000002" / "results.json";
  REQUIRE_MESSAGE(std::filesystem::exists(results), r.err);
  const std::string text = (std::stringstream() << std::ifstream(results).rdbuf()).str();
  CHECK(text.find("step 2") != std::string::npos);
  CHECK(text.find("checkpoints/step-0000002/state_dict.safetensors") != std::string::npos);
}

#endif  // OSOR_TESTS_WITH_OPENCV

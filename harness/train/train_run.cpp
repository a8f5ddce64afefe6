#include "harness/train/train_run.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/progress.h"
#include "harness/runner.h"
#include "harness/train/batch_loader.h"
#include "harness/train/loss_log.h"
#include "harness/train/train_setup.h"
#include "harness/train/train_validation.h"
#include "model/train/checkpoint.h"
#include "model/train/data_parallel.h"
#include "model/train/generator_setup.h"
#include "model/train/trainer.h"

namespace osor::harness::train {
namespace {

using json = nlohmann::json;
namespace mt = model::train;

struct Run {
  const TrainRunOptions& o;
  c10::Device device;
  at::ScalarType base_dtype;
  int64_t steps;
  mt::DataParallelGroup& dp;
  mt::TrainableGenerator g;
  mt::Discriminator d;
  metrics::LpipsNet lpips;
  mt::TrainConfig config;
  std::unique_ptr<mt::Trainer> trainer;
  std::vector<CorneSample> samples;
  DataCursor start;
  std::filesystem::path last_checkpoint;

  Run(const TrainRunOptions& options, mt::DataParallelGroup& parallel, c10::Device local_device);
  mt::TrainingState state(const DataCursor& cursor);
  void restore(const std::filesystem::path& checkpoint);
  void save(const DataCursor& cursor);
  void evaluate(int64_t step) const;
};

// The stop signals (train_run.h) while the steps run: the first one is recorded and the run ends after the step
// in progress with a checkpoint; the handler then gives that signal its default action back, so a second one
// acts at once. A signal that is ignored (nohup) stays ignored. The previous dispositions come back when the
// loop ends.
class StopSignals {
 public:
  StopSignals() {
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      ::sigaction(kSignals[i], nullptr, &previous_[i]);
      if (!(previous_[i].sa_flags & SA_SIGINFO) && previous_[i].sa_handler == SIG_IGN) continue;
      struct sigaction stop {};
      stop.sa_handler = &StopSignals::on_signal;
      sigemptyset(&stop.sa_mask);
      ::sigaction(kSignals[i], &stop, nullptr);
      installed_[i] = true;
    }
  }
  ~StopSignals() {
    for (size_t i = 0; i < std::size(kSignals); ++i)
      if (installed_[i]) ::sigaction(kSignals[i], &previous_[i], nullptr);
    received_ = 0;
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Whether any process of the group received one (a collective: every rank calls it after each step), and
  // which: this process's own, else SIGTERM for a stop that only another process was told of.
  static int received_by_any(mt::DataParallelGroup& dp, const c10::Device& device) {
    const int own = received_;
    if (dp.world_size() == 1) return own;
    std::vector<at::Tensor> flag = {at::full({1}, own != 0 ? 1.0f : 0.0f, at::TensorOptions().device(device))};
    dp.all_reduce_mean(flag);
    if (flag[0].item<float>() == 0.0f) return 0;
    return own != 0 ? own : SIGTERM;
  }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGUSR1};

  // Async-signal-safe: a sig_atomic_t store, write and sigaction only.
  static void on_signal(int sig) {
    const int saved_errno = errno;
    if (received_ == 0) received_ = sig;
    static const char kNote[] =
        "\nosor train: stopping after this step, with a checkpoint (the same signal again stops at once)\n";
    [[maybe_unused]] const ssize_t ignored = ::write(2, kNote, sizeof kNote - 1);
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    ::sigaction(sig, &fallback, nullptr);
    errno = saved_errno;
  }

  static inline volatile sig_atomic_t received_ = 0;
  struct sigaction previous_[std::size(kSignals)] {};
  bool installed_[std::size(kSignals)] = {};
};

at::ScalarType base_dtype_of(const std::string& dtype) {
  if (dtype == "fp32") return at::kFloat;
  if (dtype == "bf16") return at::kBFloat16;
  throw HarnessError("osor train: --dtype must be fp32 or bf16 (bf16: bf16 base weights under autocast, float32 "
                     "trainable tensors, as OSOR trains), got " + dtype);
}

mt::TrainableGenerator build_generator(const TrainRunOptions& o, const c10::Device& device, at::ScalarType dtype) {
  mt::GeneratorSetup s;
  s.backbone = backbone_of(o);
  s.weights_dir = o.weights_dir;
  s.random_config_dir = o.random_config_dir;
  s.init_checkpoint = o.init_checkpoint;
  s.phase = o.phase;
  s.lora_rank = o.lora_rank;
  s.lora_alpha = o.lora_alpha;
  s.seed = o.seed;
  s.device = device;
  s.dtype = dtype;
  return mt::build_trainable_generator(s);
}

Run::Run(const TrainRunOptions& options, mt::DataParallelGroup& parallel, c10::Device local_device)
    : o(options), device(local_device), base_dtype(base_dtype_of(options.dtype)),
      steps(options.steps > 0 ? options.steps : official_steps(options.phase)), dp(parallel),
      g(build_generator(options, device, base_dtype)), d(build_discriminator(options, device)),
      lpips(build_lpips(options, device)), config(build_config(options)) {
  g.generator->set_gradient_checkpointing(config.gradient_checkpointing);
  CorneLayoutOptions layout;
  layout.phase = o.phase;
  layout.with_sam = o.phase == 2 && std::filesystem::is_directory(o.data / "mask_sam");
  samples = discover_corne(o.data, layout);
  mt::TrainerOptions t;
  t.config = config;
  t.phase = o.phase;
  t.seed = o.seed;
  t.mixed_precision = base_dtype == at::kFloat ? at::kFloat : at::kBFloat16;
  t.shard_index = dp.rank();
  t.shard_count = dp.world_size();
  const metrics::LpipsNet* net = &lpips;
  auto lpips_loss = [net](const at::Tensor& x, const at::Tensor& y) { return net->per_layer_with_grad(x, y).sum(1).mean(); };
  trainer = std::make_unique<mt::Trainer>(*g.generator, g.parameters, d, lpips_loss, t);
  if (dp.world_size() > 1) {
    trainer->set_gradient_hook([&p = dp](const std::vector<at::Tensor>& params) {
      std::vector<at::Tensor> grads;
      for (const auto& param : params) grads.push_back(param.grad());
      p.all_reduce_mean(grads);
    });
  }
}

mt::NamedTensors discriminator_state(mt::Discriminator& d) {
  mt::NamedTensors out;
  for (const auto& item : d.module().named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : d.module().named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

mt::TrainingState Run::state(const DataCursor& cursor) {
  mt::TrainingState s;
  s.step = trainer->step();
  s.batch_count = trainer->batch_count();
  for (const auto& [name, p] : g.parameters) s.generator.emplace_back(name, p.detach());
  s.discriminator = discriminator_state(d);
  s.generator_optimizer = mt::adamw_states(trainer->generator_optimizer());
  s.discriminator_optimizer = mt::adamw_states(trainer->discriminator_optimizer());
  s.rng["trainer"] = trainer->rng_state();
  s.data_epoch = cursor.epoch;
  s.data_position = cursor.position;
  s.config_json = settings_json(o, steps, dp.world_size()).dump();
  std::ostringstream alpha;
  alpha.precision(17);
  alpha << g.lora_alpha;
  s.generator_metadata = {{"lora_alpha", alpha.str()}, {"r", std::to_string(g.lora_rank)}};
  return s;
}

void Run::restore(const std::filesystem::path& checkpoint) {
  const mt::TrainingState s = mt::load_checkpoint(checkpoint);
  const std::string dir = checkpoint.string();
  mt::restore_tensors(dir + "/state_dict.safetensors", g.parameters, s.generator);
  mt::restore_tensors(dir + "/discriminator.safetensors", discriminator_state(d), s.discriminator);
  mt::restore_adamw(dir + "/optimizer.safetensors", trainer->generator_optimizer(), s.generator_optimizer);
  mt::restore_adamw(dir + "/optimizer.safetensors", trainer->discriminator_optimizer(), s.discriminator_optimizer);
  trainer->set_progress(s.step, s.batch_count);
  const auto rng = s.rng.find("trainer");
  if (rng == s.rng.end()) throw HarnessError(dir + "/trainer_state.json: no trainer RNG state");
  trainer->set_rng_state(rng->second);
  start = {s.data_epoch, s.data_position};
  last_checkpoint = checkpoint;
}

void Run::save(const DataCursor& cursor) {
  if (dp.is_main()) last_checkpoint = mt::save_checkpoint(o.out, state(cursor), o.keep_last);
  dp.barrier();
}

// `osor eval` of the checkpoint through the osor-sdxl / osor-flux adapter (the same code as the command), into
// <out>/eval.
void Run::evaluate(int64_t step) const {
  EvalConfig c;
  c.benches = {o.eval_bench};
  c.methods = {std::string(backbone_of(o) == mt::Backbone::Flux ? "osor-flux" : "osor-sdxl") + ":checkpoint=" + (last_checkpoint / "state_dict.safetensors").string() + ",name=step " + std::to_string(step)};
  for (size_t start = 0; start <= o.eval_metrics.size();) {
    const size_t end = std::min(o.eval_metrics.find(',', start), o.eval_metrics.size());
    if (end > start) c.metrics.push_back(o.eval_metrics.substr(start, end - start));
    start = end + 1;
  }
  c.weights_dir = o.weights_dir;
  c.data_dir = o.eval_data;
  c.limit = static_cast<int>(o.eval_limit);
  c.seed = o.seed;
  c.device = o.device;
  c.out_dir = o.out / "eval" / mt::checkpoint_folder_name(step);
  EvalOptions e;
  e.progress = false;
  const EvalResult r = run_eval(c, e);
  std::fprintf(stderr, "osor train: evaluated step %lld on %s: %s\n", static_cast<long long>(step), o.eval_bench.c_str(),
               r.run_dir.string().c_str());
}

void check_options(const TrainRunOptions& o) {
  if (o.phase != 1 && o.phase != 2) throw HarnessError("osor train: --phase must be 1 or 2");
  (void)backbone_of(o);  // refuses an unknown --backbone before anything is loaded
  if (o.data.empty() || !std::filesystem::is_directory(o.data))
    throw HarnessError("osor train: --data " + o.data.string() + " is not a folder");
  if (o.out.empty()) throw HarnessError("osor train: --out is required");
  if (o.batch_size < 1 || o.checkpoint_every < 1 || o.log_every < 1 || o.keep_last < 0)
    throw HarnessError("osor train: --batch, --checkpoint-every and --log-every must be positive, --keep-last >= 0");
  if (o.eval_every > 0 && o.weights_dir.empty())
    throw HarnessError("osor train: --eval-every evaluates through osor-sdxl / osor-flux, which need real weights "
                       "(--weights), not --random-weights; --validate-every works with either");
  if (!o.resume && mt::latest_checkpoint(o.out))
    throw HarnessError("osor train: " + o.out.string() + " already holds checkpoints; pass --resume to continue that run "
                       "or choose another --out");
}

// One log row per global step: the step's G losses and its D losses.
LossRow loss_row(const TrainRunOptions& o, const mt::StepRecord& g, const mt::StepRecord& d, double seconds, double rate) {
  LossRow row;
  row.step = d.step;
  row.phase = std::to_string(o.phase);
  row.time_s = seconds;
  row.it_per_s = rate;
  row.values = g.losses;
  row.values.insert(row.values.end(), d.losses.begin(), d.losses.end());
  return row;
}

std::string losses_text(const LossRow& row) {
  std::string out;
  for (const auto& [name, v] : row.values)
    if (name == "G_total" || name == "G_l1" || name == "G_lpips" || name == "G_disc" || name == "G_alpha" || name == "D")
      out += " " + name + " " + std::to_string(v).substr(0, 7);
  return out;
}

std::unique_ptr<BackgroundLoader> make_loader(const Run& run, const TrainRunOptions& o) {
  BucketSamplerOptions sampler;
  sampler.batch_size = o.batch_size;
  sampler.seed = o.seed;
  sampler.world_size = run.dp.world_size();
  sampler.rank = run.dp.rank();
  BackgroundLoaderOptions loader;
  loader.threads = o.loader_threads;
  loader.prefetch = o.prefetch;
  return std::make_unique<BackgroundLoader>(run.samples, resize_options(o), sampler, run.start, loader);
}

// Continues the run from the newest checkpoint (--resume) and writes run.json; returns the resumed step.
std::optional<int64_t> start_run(Run& run, const TrainRunOptions& o) {
  const json settings = settings_json(o, run.steps, run.dp.world_size());
  const auto run_json = o.out / "run.json";
  std::optional<int64_t> resumed;
  if (o.resume) {
    if (std::filesystem::exists(run_json)) check_resumable(run_json, settings);
    if (const auto latest = mt::latest_checkpoint(o.out)) {
      run.restore(*latest);
      resumed = run.trainer->step();
    }
  }
  if (run.dp.is_main()) {
    std::filesystem::create_directories(o.out);
    write_file_atomic(run_json, settings.dump(2) + "\n");
  }
  if (!resumed) {  // every process starts from rank 0's tensors
    std::vector<at::Tensor> tensors;
    for (const auto& [name, p] : run.g.parameters) tensors.push_back(p.detach());
    for (const auto& [name, t] : discriminator_state(run.d)) tensors.push_back(t.detach());
    run.dp.broadcast(tensors, 0);
  }
  return resumed;
}

double validate(const TrainValidation& v, const Run& run, int64_t t) {
  const double psnr = v.masked_psnr(*run.g.generator, t, run.device);
  std::fprintf(stderr, "osor train: step %lld validation masked PSNR %.3f dB\n", static_cast<long long>(run.trainer->step()), psnr);
  return psnr;
}

}  // namespace

TrainRunResult run_training(const TrainRunOptions& options) {
  check_options(options);
  const mt::DistributedEnv env = mt::DistributedEnv::from_environment();
  const c10::Device device = env.local_device(c10::Device(options.device));
  mt::DataParallelGroup dp(env, device);
  Run run(options, dp, device);
  const std::optional<int64_t> resumed_step = start_run(run, options);
  std::optional<LossLog> log;
  if (dp.is_main()) log.emplace(options.out, resumed_step);
  std::optional<TrainValidation> validation;
  if (options.validate_every > 0)
    validation.emplace(run.samples, options.validate_samples, resize_options(options), options.seed + 7);
  const int64_t t = run.config.model_t;
  const auto loader = make_loader(run, options);
  std::fprintf(stderr, "osor train: %s; %zu samples; %lld steps of a G and a D batch of %lld samples (x %d processes)\n",
               run.g.description.c_str(), run.samples.size(), static_cast<long long>(run.steps),
               static_cast<long long>(options.batch_size), dp.world_size());
  TrainRunResult result;
  result.world_size = dp.world_size();
  if (validation && dp.is_main()) result.first_validation_psnr = validate(*validation, run, t);
  const int64_t first_step = run.trainer->step();
  Progress progress("osor train", std::max<int64_t>(run.steps - first_step, 0));
  const auto started = std::chrono::steady_clock::now();
  mt::StepRecord last_g;
  const StopSignals stop_signals;  // from the first step on: a signal while loading ends the process as before
  while (run.trainer->step() < run.steps) {
    const Batch batch = loader->next();
    const mt::StepRecord rec = run.trainer->train_on({batch.shot.to(run.device), batch.bg.to(run.device), batch.mask.to(run.device),
                                                      batch.mask_sam.defined() ? batch.mask_sam.to(run.device) : at::Tensor()});
    if (rec.generator) {
      last_g = rec;
      continue;
    }
    progress.advance();
    const int64_t step = rec.step;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const LossRow row = loss_row(options, last_g, rec, seconds, static_cast<double>(step - first_step) / std::max(seconds, 1e-9));
    result.last_losses = row.values;
    if (log && (step % options.log_every == 0 || step == run.steps)) {
      log->append(row);
      log->render_every(step, options.plot_every);
      if (!options.progress || step % (options.log_every * 10) == 0)
        std::fprintf(stderr, "osor train: step %lld/%lld%s (%.2f steps/s)\n", static_cast<long long>(step),
                     static_cast<long long>(run.steps), losses_text(row).c_str(), row.it_per_s);
    }
    const int stop = StopSignals::received_by_any(dp, run.device);
    if (step % options.checkpoint_every == 0 || step == run.steps || stop != 0) run.save(loader->cursor());
    if (stop != 0 && step < run.steps) {
      dp.barrier();  // every process ends after rank 0 has written the checkpoint
      result.stopped_by_signal = stop;
      break;
    }
    if (validation && dp.is_main() && (step % options.validate_every == 0 || step == run.steps))
      result.last_validation_psnr = validate(*validation, run, t);
    if (options.eval_every > 0 && dp.is_main() && step % options.eval_every == 0) run.evaluate(step);
  }
  progress.finish();
  loader->stop();
  if (log) log->render();
  result.step = run.trainer->step();
  result.batches = run.trainer->batch_count();
  result.last_checkpoint = run.last_checkpoint;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.steps_per_second = static_cast<double>(result.step - first_step) / std::max(result.seconds, 1e-9);
  return result;
}

}  // namespace osor::harness::train

// One interface for every removal method: image + mask → output image (+ optional alpha), with timing.
// Methods are found by name in adapters/registry.h (`--method opencv-telea:radius=5`).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace osor::adapters {

struct RemovalInput {
  std::string id;                        // sample id (file stem), for messages and file names
  at::Tensor image;                      // [1,3,H,W] float32 in [0,1], RGB, CPU
  at::Tensor mask;                       // [1,1,H,W] float32 in {0,1}, 1 = remove, CPU
  std::filesystem::path image_path;      // the files they came from (for messages; masks may be in another polarity)
  std::filesystem::path mask_path;
  std::string bench;                     // benchmark name and mask setting ("object" | "effect"), e.g. for
  std::string masks;                     // precomputed outputs laid out per benchmark and mask setting
};

struct RemovalOutput {
  at::Tensor image;                      // [1,3,H,W] float32 in [0,1], same size as the input, CPU
  at::Tensor alpha;                      // [1,1,H,W] in [0,1] for methods that predict one, else undefined
  std::map<std::string, double> stages_ms;  // per-stage time for in-tree models (preprocess, vae_encode, unet, ...),
                                            // summed over calls, measured by model/stage_timer.h
  std::map<std::string, int64_t> stage_calls;  // how often each stage ran (a multi-step backbone: once per step)
  // Set when `image` is exactly this file's pixels as harness::read_image decodes them (8-bit values / 255 in
  // float32), unresized (identity: the input; precomputed: the method's file): the harness then links or copies
  // an 8-bit RGB PNG instead of encoding the image again, and scores `image` as it is.
  std::filesystem::path source_file;
  double latency_ms = -1;  // set by methods that time themselves (a batch run amortised over its samples);
                           // otherwise the caller's wall clock around remove() is the latency
  // Adds a timer's stages (model/stage_timer.h StageTimes, or a model result's copy of them).
  void add_stages(const std::map<std::string, double>& ms, const std::map<std::string, int64_t>& calls) {
    stages_ms.insert(ms.begin(), ms.end());
    stage_calls.insert(calls.begin(), calls.end());
  }
};

// Options from the command line ("name:key=value,key=value") and the run's context. Every method takes
// `name=LABEL`: the label that tables, galleries, results.json and `osor compare` use for it. It is parsed
// into `label` (validated by validate_label) and is not one of `options`, so it never changes the method id.
struct MethodSpec {
  std::string name;
  std::map<std::string, std::string> options;
  std::string label;                              // from name=LABEL; empty: the registry's default label
  std::string text() const;                       // canonical "name:key=value,..." (options sorted, no label)
  static MethodSpec parse(const std::string& text);  // throws AdapterError on malformed text
};

// A label is text, never part of a path: 1 to 64 characters, no control characters, no '/' or '\\', not
// "." or "..", no leading or trailing space. Throws AdapterError naming the label and the rule it breaks.
void validate_label(const std::string& label);

struct RemoverContext {
  std::filesystem::path weights_dir;  // --weights
  std::string device = "cpu";         // --device cpu|cuda[:N]
  std::string dtype = "fp32";         // --dtype fp32|fp16|bf16
  uint64_t seed = 0;                  // --seed, for stochastic methods
  std::filesystem::path work_dir;     // scratch space for methods that exchange files (default: a temp folder)
  // Build the networks from the config.json files under weights_dir (same layout, no weight files) with random
  // parameters drawn from `seed`: for latency and memory measurements (`osor latency --random-weights DIR`).
  // Methods with in-tree networks honour it; methods without networks ignore it.
  bool random_weights = false;
};

class Remover {
 public:
  virtual ~Remover() = default;
  // The canonical method text (name and the options that change outputs): results and caches key on it.
  virtual std::string id() const = 0;
  // Called once with every sample still to do, before remove() is called on them: methods that process a
  // whole folder in one invocation (an external program) do their work here.
  virtual void prepare(const std::vector<RemovalInput>& inputs) {}
  // True for methods that want prepare() (the caller then loads every pending input up front).
  virtual bool processes_folders() const { return false; }
  // Throws AdapterError (naming the method and sample) when it fails on this sample.
  virtual RemovalOutput remove(const RemovalInput& input) = 0;
  // True when remove() may be called from several threads at once (no state changes between calls, no device):
  // the runner then calls it in parallel; otherwise one call at a time, in sample order.
  virtual bool thread_safe() const { return false; }
  // Waits until queued device work is done (CUDA), so wall-clock timing around remove() is honest.
  virtual void synchronize() {}
};

// Reads an option as a number / string / flag with a default, rejecting malformed values (AdapterError).
double option_number(const MethodSpec& spec, const std::string& key, double fallback);
std::string option_text(const MethodSpec& spec, const std::string& key, const std::string& fallback);
// A yes/no option: 1/0, on/off, true/false (AdapterError otherwise).
bool option_flag(const MethodSpec& spec, const std::string& key, bool fallback);

// For the in-tree network methods: the --dtype name as a tensor type (fp32, fp16, bf16; AdapterError naming
// `method` otherwise), and [0,1] float images as 8-bit values (round half to even, clamped).
at::ScalarType model_dtype(const std::string& method, const std::string& name);
at::Tensor to_u8(const at::Tensor& image01);

}  // namespace osor::adapters

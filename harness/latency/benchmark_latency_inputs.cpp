#include "harness/latency/benchmark_latency_inputs.h"

#include <ATen/ATen.h>

#include "harness/benchmark.h"
#include "harness/error.h"
#include "harness/image_io.h"
#include "harness/latency/synthetic_latency_inputs.h"

namespace osor::harness {

std::vector<adapters::RemovalInput> benchmark_inputs(const std::string& bench, const std::filesystem::path& data_dir,
                                                     const std::string& masks, int count, int64_t res) {
  if (masks != "object" && masks != "effect") throw HarnessError("--masks: object or effect (got '" + masks + "')");
  const BenchmarkSpec spec = find_benchmark(bench, default_bench_dir());
  const std::filesystem::path data = resolve_data_dir(data_dir);
  const auto samples = list_samples(spec, data);
  if (samples.empty())
    throw HarnessError("benchmark " + bench + ": no samples found under " + benchmark_root(spec, data).string());
  std::vector<adapters::RemovalInput> inputs;
  for (const auto& s : samples) {
    if (static_cast<int>(inputs.size()) >= count) break;
    adapters::RemovalInput in;
    in.id = s.id;
    in.bench = bench;
    in.masks = masks;
    in.image_path = s.input;
    in.mask_path = masks == "effect" ? s.effect_mask : s.object_mask;
    if (in.mask_path.empty()) throw HarnessError("benchmark " + bench + ", sample " + s.id + ": no " + masks + " mask");
    in.image = read_image(s.input).rgb;
    in.mask = read_mask(in.mask_path, spec.polarity, in.image.size(2), in.image.size(3));
    inputs.push_back(resized_input(in, res));
  }
  return inputs;
}

}  // namespace osor::harness

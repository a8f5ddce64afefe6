#include "harness/cli/common_options.h"

#include <CLI/CLI.hpp>

#include <ATen/Context.h>

#include "harness/error.h"

namespace osor::cli {

c10::Device checked_device(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    throw HarnessError("--device " + name + ": expected cpu or cuda[:N]");
  }
  if (device.is_cuda() && !at::hasCUDA())
    throw HarnessError("--device " + name + ": this LibTorch has no CUDA support or no GPU is visible");
  if (!device.is_cpu() && !device.is_cuda()) throw HarnessError("--device " + name + ": expected cpu or cuda[:N]");
  return device;
}

CLI::Option* add_weights_option(CLI::App& cmd, std::string& dir) {
  return cmd.add_option("--weights", dir, "weights folder (default $OSOR_WEIGHTS, then ~/.cache/osor/weights)");
}

CLI::Option* add_bench_dir_option(CLI::App& cmd, std::vector<std::string>& dirs) {
  return cmd.add_option("--bench-dir", dirs,
                        "a folder of benchmark specs added to the built-in ones (bench_data/ or $OSOR_BENCH_DIR); "
                        "repeatable");
}

CLI::Option* add_data_option(CLI::App& cmd, std::string& dir) {
  return cmd.add_option("--data", dir, "data root of the published benchmarks (default $OSOR_DATA)");
}

CLI::Option* add_cache_option(CLI::App& cmd, std::string& dir) {
  return cmd.add_option("--cache", dir, "feature cache folder (default ~/.cache/osor/features)");
}

CLI::Option* add_no_cache_flag(CLI::App& cmd, bool& no_cache) {
  return cmd.add_flag("--no-cache", no_cache, "neither read nor write the feature cache");
}

CLI::Option* add_device_option(CLI::App& cmd, std::string& device) {
  return cmd.add_option("--device", device, "cpu | cuda[:N]")->capture_default_str();
}

CLI::Option* add_dtype_option(CLI::App& cmd, std::string& dtype) {
  // The OpenCV and precomputed methods ignore it; metrics compute in float32 whatever it is (ARCHITECTURE.md).
  return cmd.add_option("--dtype", dtype, "fp32 | fp16 | bf16 (in-tree models)")->capture_default_str();
}

CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& what) {
  return cmd.add_flag("--json", json, what.empty() ? std::string("print JSON") : "print JSON: " + what);
}

CLI::Option* add_method_option(CLI::App& cmd, std::string& method) {
  return cmd.add_option("--method", method, "method name[:key=value,...], e.g. osor-sdxl")->required();
}

CLI::Option* add_methods_option(CLI::App& cmd, std::vector<std::string>& methods) {
  return cmd.add_option("--method", methods,
                        "method name[:key=value,...], e.g. opencv-telea:radius=5 (repeat for several)");
}

CLI::Option* add_mask_polarity_option(CLI::App& cmd, std::string& polarity) {
  return cmd.add_option("--mask-polarity", polarity, "white | black: which mask colour marks the object")
      ->capture_default_str();
}

CLI::Option* add_channels_option(CLI::App& cmd, std::string& channels) {
  return cmd.add_option("--channels", channels, "pixel metrics on rgb | y (BT.601 luma)")->capture_default_str();
}

CLI::Option* add_region_option(CLI::App& cmd, std::string& region) {
  return cmd.add_option("--region", region, "pixel metrics on full | mask | bbox (the mask's bounding box)")
      ->capture_default_str();
}

CLI::Option* add_preprocessing_option(CLI::App& cmd, std::string& preprocessing) {
  // `osor score` names the metric (fid, cmmd), `osor features` the network (inception-fid, clip): one text for both.
  return cmd.add_option("--preprocessing", preprocessing,
                        "fid, inception-fid: pytorch-fid (default) | clean-fid | torchmetrics; cmmd, clip: cmmd "
                        "(default) | clip-processor");
}

CLI::Option* add_batch_size_option(CLI::App& cmd, int64_t& batch_size) {
  return cmd.add_option("--batch-size", batch_size, "network batch size (default: the reference's)");
}

CLI::Option* add_resume_flag(CLI::App& cmd, bool& resume) {
  return cmd.add_flag("--resume", resume, "continue the interrupted run in --out, recomputing nothing finished");
}

CLI::Option* add_fail_fast_flag(CLI::App& cmd, bool& fail_fast) {
  return cmd.add_flag("--fail-fast", fail_fast, "stop at the first failure instead of recording it and going on");
}

}  // namespace osor::cli

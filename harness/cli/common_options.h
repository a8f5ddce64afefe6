// The options that several subcommands take, each declared here once (llama.cpp's common/arg.cpp): one name and
// one help text per option, so that `--weights` reads the same in `osor eval --help` as in `osor remove --help`.
// A command adds the ones it takes, in the order its --help lists them, bound to a field of its own arguments
// struct; that field's initial value is the default (shown in --help where a function says so). Each function
// returns the option, so that a command can add constraints (excludes, required) of its own.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace osor::cli {

// --weights DIR; empty: model::resolve_weights_dir's default ($OSOR_WEIGHTS, then ~/.cache/osor/weights).
CLI::Option* add_weights_option(CLI::App& cmd, std::string& dir);

// --data DIR, the root of the published benchmarks; empty: harness::resolve_data_dir's default ($OSOR_DATA).
CLI::Option* add_data_option(CLI::App& cmd, std::string& dir);
// --bench-dir DIR (repeatable): spec folders added to the built-in one (harness::spec_folders).
CLI::Option* add_bench_dir_option(CLI::App& cmd, std::vector<std::string>& dirs);

// --cache DIR, the feature cache; empty: harness::FeatureCache::resolve_dir's default (~/.cache/osor/features).
CLI::Option* add_cache_option(CLI::App& cmd, std::string& dir);
// --no-cache: network features are neither read from nor written to the feature cache.
CLI::Option* add_no_cache_flag(CLI::App& cmd, bool& no_cache);

// --device cpu|cuda[:N] and --dtype fp32|fp16|bf16 (the precision of the in-tree models); --help shows the default.
CLI::Option* add_device_option(CLI::App& cmd, std::string& device);
CLI::Option* add_dtype_option(CLI::App& cmd, std::string& dtype);
// The --device value as a device: HarnessError unless cpu or cuda[:N], and cuda only where this LibTorch sees a GPU.
c10::Device checked_device(const std::string& name);

// --json. `what` says what is printed where the command prints more than one kind of thing (help "print JSON:
// <what>"); empty: "print JSON".
CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& what = "");

// --method NAME[:key=value,...], one method, required (adapters::MethodSpec::parse reads it).
CLI::Option* add_method_option(CLI::App& cmd, std::string& method);
// --method, repeatable: several methods. Not comma-split, since a method's options are comma-separated.
CLI::Option* add_methods_option(CLI::App& cmd, std::vector<std::string>& methods);

// --mask-polarity white|black (harness::parse_mask_polarity); --help shows the default.
CLI::Option* add_mask_polarity_option(CLI::App& cmd, std::string& polarity);

// --channels rgb|y and --region full|mask|bbox of the pixel metrics (metrics::parse_channels, parse_region);
// --help shows the default.
CLI::Option* add_channels_option(CLI::App& cmd, std::string& channels);
CLI::Option* add_region_option(CLI::App& cmd, std::string& region);

// --preprocessing of the feature networks (FID Inception, CLIP), named by metric or by network; empty: the
// reference's.
CLI::Option* add_preprocessing_option(CLI::App& cmd, std::string& preprocessing);

// --batch-size N of the feature networks; 0: the reference's.
CLI::Option* add_batch_size_option(CLI::App& cmd, int64_t& batch_size);

// --resume and --fail-fast of the commands that process many items into an --out folder (eval: samples,
// savp: triplets).
CLI::Option* add_resume_flag(CLI::App& cmd, bool& resume);
CLI::Option* add_fail_fast_flag(CLI::App& cmd, bool& fail_fast);

}  // namespace osor::cli

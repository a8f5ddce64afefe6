// osor savp: semantic-anchored verification of add/remove instruction-edit triplets into removal
// pairs with effect-aware masks (harness/savp/, ../shared/spec/savp.md).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/savp/dataset.h"

namespace osor::cli {
namespace {

struct SavpArgs {
  std::string triplets, detections, object_masks, out, config, debug;
  std::vector<std::string> detector, segmenter;
  bool resume = false, fail_fast = false, json = false;
};

// A command is either its argument vector as separate words, or one JSON array of strings (for
// arguments that start with '-'). Never a shell line.
std::vector<std::string> command_argv(const std::vector<std::string>& words, const char* option) {
  if (words.size() == 1 && !words[0].empty() && words[0][0] == '[') {
    try {
      return nlohmann::json::parse(words[0]).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError(std::string(option) + ": expected a JSON array of strings: " + e.what());
    }
  }
  // CLI11 unpacks a "[a,b]" value itself, splitting at every comma (even inside the strings): join the
  // pieces back and parse the array.
  const bool unpacked = !words.empty() && words.front().size() >= 1 && words.front().front() == '"' &&
                        words.back().size() >= 1 && words.back().back() == '"';
  if (!unpacked) return words;
  std::string joined = "[";
  for (size_t i = 0; i < words.size(); ++i) joined += (i ? "," : "") + words[i];
  try {
    return nlohmann::json::parse(joined + "]").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw HarnessError(std::string(option) + ": expected a JSON array of strings: " + e.what());
  }
}

void run(const SavpArgs& a) {
  harness::savp::RunOptions o;
  o.triplets = a.triplets;
  o.detections = a.detections;
  o.detector_command = command_argv(a.detector, "--detector");
  o.object_masks = a.object_masks;
  o.segmenter_command = command_argv(a.segmenter, "--segmenter");
  o.out = a.out;
  o.debug = a.debug;
  o.resume = a.resume;
  o.fail_fast = a.fail_fast;
  if (!a.config.empty()) o.config = harness::savp::read_config(a.config);
  const auto summary = harness::savp::run_savp(o);
  if (a.json) {
    nlohmann::json j = summary.statistics;
    j["processed_now"] = summary.processed;
    j["skipped_done"] = summary.skipped;
    j["seconds"] = summary.seconds;
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%s", harness::savp::statistics_markdown(summary.statistics).c_str());
  std::printf("\n%zu processed now, %zu already done, %.2f s; output in %s\n", summary.processed, summary.skipped,
              summary.seconds, a.out.c_str());
}

void add_savp_command(CLI::App& app) {
  auto a = std::make_shared<SavpArgs>();
  CLI::App* cmd = app.add_subcommand(
      "savp", "Verify add/remove edit triplets into removal pairs with effect-aware masks (SAVP)");
  cmd->add_option("--triplets", a->triplets,
                  "triplets: .jsonl ({id, source, edited, instruction, kind}), .csv with those columns, or a folder "
                  "with shot/ and bg/ (+ prompts.json)")
      ->required();
  cmd->add_option("--detections", a->detections, "detections.jsonl: {id, boxes: [[x0, y0, x1, y1, score], ...]}");
  cmd->add_option("--detector", a->detector,
                  "detector program and arguments ({image} {prompt} {id} substituted; prints {\"boxes\": [...]}); "
                  "or one JSON array of strings")
      ->expected(1, -1);
  cmd->add_option("--object-masks", a->object_masks, "folder of <id>.png object masks (white = object), the segmenter's output");
  cmd->add_option("--segmenter", a->segmenter,
                  "segmenter program and arguments ({image} {prompt} {id} {box} {x1} {y1} {x2} {y2} {out} substituted; "
                  "writes a mask PNG to {out}); or one JSON array of strings")
      ->expected(1, -1);
  cmd->add_option("--out", a->out, "output folder (shot/, bg/, mask_eff/, mask_sam/, metadata/, stats)")->required();
  cmd->add_option("--config", a->config, "JSON overriding SavpConfig keys (defaults: the paper's Table 7)");
  cmd->add_option("--debug", a->debug, "folder for each stage's intermediate images, per triplet id");
  add_resume_flag(*cmd, a->resume);
  add_fail_fast_flag(*cmd, a->fail_fast);
  add_json_flag(*cmd, a->json, "the statistics");
  cmd->callback([a] { run(*a); });
}

}  // namespace

OSOR_REGISTER_COMMAND("savp", add_savp_command);

}  // namespace osor::cli

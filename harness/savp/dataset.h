// `osor savp` over a set of triplets: the output folder in the layout OSOR's training loader and the
// CORNE-Val benchmark loader read, written atomically and resumable, and the statistics table.
//
// <out>/shot/<id>.png      I_obj (input)              <out>/bg/<id>.png  I_bg (ground truth)
// <out>/mask_eff/<id>.png  m_gt, effect-aware mask (0/255)
// <out>/mask_sam/<id>.png  m_obj, object core (every retained sample, or only Phase II: mask_sam_for_all)
// <out>/metadata/<id>.json one per processed triplet (kept, rejected with stage and reason, or error);
//                          written last, so its presence marks the triplet done for --resume
// <out>/prompts.json, shot_list.txt, bg_list.txt, mask_list.txt (Phase I lists), shot_m_list.txt,
// bg_m_list.txt, mask-check_m_list.txt, mask_sam_list.txt (Phase II), config.json, stats.json, stats.md
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/savp/config.h"
#include "harness/savp/triplets.h"

namespace osor::harness::savp {

struct RunOptions {
  std::filesystem::path triplets, out, debug;
  std::filesystem::path detections;           // detections.jsonl, or
  std::vector<std::string> detector_command;  // an external detector
  std::filesystem::path object_masks;         // --object-masks DIR, or
  std::vector<std::string> segmenter_command; // an external segmenter
  SavpConfig config;
  bool resume = false;
  bool fail_fast = false;
  bool progress = true;
};

struct RunSummary {
  nlohmann::json statistics;
  size_t processed = 0;  // triplets processed by this call
  size_t skipped = 0;    // already done (resume)
  double seconds = 0;
};

RunSummary run_savp(const RunOptions& options);

// Counts from the metadata files of `triplets` under `out`: source samples, add/remove, processed,
// retained, Phase II subset, rejections by stage and reason.
nlohmann::json collect_statistics(const std::filesystem::path& out, const std::vector<Triplet>& triplets,
                                  const SavpConfig& config);
std::string statistics_markdown(const nlohmann::json& statistics);

}  // namespace osor::harness::savp

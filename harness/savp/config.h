// SAVP's constants in one place. Defaults are the paper's Table 7 values as the official code applies
// them (Zhouqm-Git/osor@d5b68e8 SAVP/, see ../shared/spec/savp.md §9), plus the switches that choose
// between the intended behaviour and the official code's defects (spec §0).
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace osor::harness::savp {

// How several validated boxes reach the segmenter (spec §0.4).
enum class MultiboxMode {
  Union,           // intended: one mask per box, OR-ed (default)
  ReferenceQuirk,  // official code: SAM2's (N,1,H,W) stack breaks fusion; the sample fails with "error"
};

struct SavpConfig {
  // Difference heatmap (§3): H = w_l·n(dL) + w_ab·n(dab) + w_tex·n(dtex), each term divided by its p99.
  double w_l = 0.6, w_ab = 0.3, w_tex = 0.1;
  double gamma = 2.2;
  double eps = 1e-3;
  double percentile = 99.0;
  float tau_h = 0.07f;  // binarisation: H > tau_h (strict, float32)
  // Cleaning (§4): open+close with disk(r_morph), keep components >= a_min, fill holes <= a_hole.
  int r_morph = 3;
  int a_min = 2000;
  int a_hole = 500;
  // Global rejection (§5): main components are those >= alpha·largest.
  double alpha = 0.3;
  int n_max = 4;          // reject if #main > n_max
  double tau_noise = 0.3; // reject if noise area / mask area > tau_noise
  // Semantic anchoring (§6).
  double tau_score = 0.3;
  bool apply_score_threshold = false;  // official code: the 0.3 never filters (spec §0.3)
  int k_sem = 3;
  double tau_iou = 0.3;
  double tau_scale = 2.0;
  // Effect-aware mask (§7, §8).
  double tau_keep = 0.5;
  double r_dilate = 1.2;  // area-targeted dilation; <= 1 disables it
  double tau_eff = 0.25;  // Phase II if effects ratio > tau_eff
  MultiboxMode multibox = MultiboxMode::Union;
  std::string fallback_prompt = "edited region";
  // External detector/segmenter programs: wall-clock limit per call.
  double command_timeout_s = 300.0;
  // Output: write mask_sam/<id>.png for every retained sample (CORNE-Val layout, so the folder is a
  // benchmark with an object mask per sample); false writes it only for the Phase II subset, as
  // separate_shadows.py does.
  bool mask_sam_for_all = true;
};

nlohmann::json to_json(const SavpConfig& config);
// Starts from the defaults and overrides the keys present; an unknown key or a wrong type is an
// error naming `source` (the config file) and the key.
SavpConfig config_from_json(const nlohmann::json& j, const std::string& source);
SavpConfig read_config(const std::filesystem::path& path);

}  // namespace osor::harness::savp

#include "harness/savp/config.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "harness/error.h"

namespace osor::harness::savp {
namespace {

const char* multibox_name(MultiboxMode m) { return m == MultiboxMode::Union ? "union" : "reference_quirk"; }

template <typename T>
void read_key(const nlohmann::json& j, const char* key, T& value, const std::string& source) {
  try {
    value = j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw HarnessError(source + ": config key '" + key + "': " + e.what());
  }
}

}  // namespace

nlohmann::json to_json(const SavpConfig& c) {
  return {{"w_l", c.w_l},
          {"w_ab", c.w_ab},
          {"w_tex", c.w_tex},
          {"gamma", c.gamma},
          {"eps", c.eps},
          {"percentile", c.percentile},
          {"tau_h", c.tau_h},
          {"r_morph", c.r_morph},
          {"a_min", c.a_min},
          {"a_hole", c.a_hole},
          {"alpha", c.alpha},
          {"n_max", c.n_max},
          {"tau_noise", c.tau_noise},
          {"tau_score", c.tau_score},
          {"apply_score_threshold", c.apply_score_threshold},
          {"k_sem", c.k_sem},
          {"tau_iou", c.tau_iou},
          {"tau_scale", c.tau_scale},
          {"tau_keep", c.tau_keep},
          {"r_dilate", c.r_dilate},
          {"tau_eff", c.tau_eff},
          {"multibox", multibox_name(c.multibox)},
          {"fallback_prompt", c.fallback_prompt},
          {"command_timeout_s", c.command_timeout_s},
          {"mask_sam_for_all", c.mask_sam_for_all}};
}

SavpConfig config_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw HarnessError(source + ": a SAVP config must be a JSON object");
  SavpConfig c;
  const nlohmann::json known = to_json(c);
  for (const auto& item : j.items())
    if (!known.contains(item.key()))
      throw HarnessError(source + ": unknown config key '" + item.key() + "'");
#define OSOR_SAVP_KEY(name) \
  if (j.contains(#name)) read_key(j, #name, c.name, source)
  OSOR_SAVP_KEY(w_l);
  OSOR_SAVP_KEY(w_ab);
  OSOR_SAVP_KEY(w_tex);
  OSOR_SAVP_KEY(gamma);
  OSOR_SAVP_KEY(eps);
  OSOR_SAVP_KEY(percentile);
  OSOR_SAVP_KEY(tau_h);
  OSOR_SAVP_KEY(r_morph);
  OSOR_SAVP_KEY(a_min);
  OSOR_SAVP_KEY(a_hole);
  OSOR_SAVP_KEY(alpha);
  OSOR_SAVP_KEY(n_max);
  OSOR_SAVP_KEY(tau_noise);
  OSOR_SAVP_KEY(tau_score);
  OSOR_SAVP_KEY(apply_score_threshold);
  OSOR_SAVP_KEY(k_sem);
  OSOR_SAVP_KEY(tau_iou);
  OSOR_SAVP_KEY(tau_scale);
  OSOR_SAVP_KEY(tau_keep);
  OSOR_SAVP_KEY(r_dilate);
  OSOR_SAVP_KEY(tau_eff);
  OSOR_SAVP_KEY(fallback_prompt);
  OSOR_SAVP_KEY(command_timeout_s);
  OSOR_SAVP_KEY(mask_sam_for_all);
#undef OSOR_SAVP_KEY
  if (j.contains("multibox")) {
    std::string m;
    read_key(j, "multibox", m, source);
    if (m == "union") c.multibox = MultiboxMode::Union;
    else if (m == "reference_quirk") c.multibox = MultiboxMode::ReferenceQuirk;
    else throw HarnessError(source + ": config key 'multibox': '" + m + "' (expected union or reference_quirk)");
  }
  if (c.r_morph < 0 || c.a_min < 0 || c.a_hole < 0 || c.k_sem < 1 || c.n_max < 1 || c.percentile <= 0 ||
      c.percentile > 100 || c.command_timeout_s <= 0)
    throw HarnessError(source + ": config values out of range (r_morph, a_min, a_hole >= 0; k_sem, n_max >= 1; "
                                "0 < percentile <= 100; command_timeout_s > 0)");
  return c;
}

SavpConfig read_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw HarnessError(path.string() + ": cannot open the SAVP config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw HarnessError(path.string() + ": invalid JSON: " + e.what());
  }
  return config_from_json(j, path.string());
}

}  // namespace osor::harness::savp

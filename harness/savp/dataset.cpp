#include "harness/savp/dataset.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/savp/pipeline.h"
#include "model/log.h"

namespace osor::harness::savp {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_png(const fs::path& path, const cv::Mat& mat) {
  std::vector<unsigned char> bytes;
  if (!cv::imencode(".png", mat, bytes)) throw HarnessError(path.string() + ": cannot encode PNG");
  write_file_atomic(path, bytes);
}

json box_json(const Box& b) { return json::array({b.x1, b.y1, b.x2, b.y2}); }

std::optional<json> read_metadata(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    return std::nullopt;  // a partial file cannot exist (atomic writes), but a hand-edited one can
  }
}

// Colour-coded components with their boxes: candidates green, the others grey.
cv::Mat draw_components(const PairResult& r) {
  cv::Mat labels;
  components_by_area(r.cleaned, &labels);
  cv::Mat vis(r.cleaned.size(), CV_8UC3, cv::Scalar(0, 0, 0));
  for (int y = 0; y < vis.rows; ++y)
    for (int x = 0; x < vis.cols; ++x) {
      const int l = labels.at<int>(y, x);
      if (l) vis.at<cv::Vec3b>(y, x) = cv::Vec3b((l * 67) % 200 + 55, (l * 131) % 200 + 55, (l * 29) % 200 + 55);
    }
  for (const Component& c : r.components) {
    bool main = false;
    for (const Component& m : r.candidates) main = main || m.label == c.label;
    cv::rectangle(vis, cv::Point(c.box.x1, c.box.y1), cv::Point(c.box.x2 - 1, c.box.y2 - 1),
                  main ? cv::Scalar(0, 255, 0) : cv::Scalar(128, 128, 128), 2);
  }
  return vis;
}

// I_obj with candidates (red), detector boxes (blue) and validated boxes (green).
cv::Mat draw_boxes(const PairResult& r, const cv::Mat& object_bgr) {
  cv::Mat vis = object_bgr.clone();
  auto rect = [&vis](const Box& b, const cv::Scalar& colour, int t) {
    cv::rectangle(vis, cv::Point(b.x1, b.y1), cv::Point(b.x2 - 1, b.y2 - 1), colour, t);
  };
  for (const Component& c : r.candidates) rect(c.box, cv::Scalar(0, 0, 255), 2);
  for (const ScoredBox& s : r.semantic) rect(s.box, cv::Scalar(255, 0, 0), 2);
  for (const Box& k : r.validation.kept) rect(k, cv::Scalar(0, 255, 0), 3);
  return vis;
}

void write_debug(const fs::path& dir, const PairResult& r, const cv::Mat& object_bgr) {
  auto mask = [](const cv::Mat& m) { return m * 255; };
  if (!r.heat.empty()) {
    cv::Mat heat8;
    r.heat.convertTo(heat8, CV_8U, 255.0);
    write_png(dir / "1_heatmap.png", heat8);
  }
  if (!r.raw.empty()) write_png(dir / "2_binary.png", mask(r.raw));
  if (!r.cleaned.empty()) write_png(dir / "3_cleaned.png", mask(r.cleaned));
  if (!r.cleaned.empty()) write_png(dir / "4_components.png", draw_components(r));
  if (!r.semantic.empty() || !r.candidates.empty()) write_png(dir / "5_boxes.png", draw_boxes(r, object_bgr));
  if (!r.filtered.empty()) write_png(dir / "6_filtered_difference.png", mask(r.filtered));
  if (!r.fused.empty()) write_png(dir / "7_fused.png", mask(r.fused));
  if (!r.effect_mask.empty()) write_png(dir / "8_effect_mask.png", mask(r.effect_mask));
  if (!r.object_core.empty()) write_png(dir / "9_object_core.png", mask(r.object_core));
  if (!r.effects.residual.empty()) write_png(dir / "10_effect_residual.png", mask(r.effects.residual));
}

json result_metadata(const Triplet& t, const PairResult& r, cv::Size size) {
  json m = {{"id", t.id},
            {"kind", kind_name(t.kind)},
            {"instruction", t.instruction},
            {"object_image", t.object_image().string()},
            {"background_image", t.background_image().string()},
            {"width", size.width},
            {"height", size.height},
            {"status", r.kept ? "kept" : (r.reason == "error" ? "error" : "rejected")}};
  if (!r.kept) {
    m["stage"] = r.stage;
    m["reason"] = r.reason;
    if (!r.message.empty()) m["message"] = r.message;
  }
  json comps = json::array();
  for (const Component& c : r.candidates) comps.push_back({c.box.x1, c.box.y1, c.box.x2, c.box.y2, c.area});
  m["candidates"] = comps;
  json sem = json::array();
  for (const ScoredBox& s : r.semantic) sem.push_back({s.box.x1, s.box.y1, s.box.x2, s.box.y2, s.score});
  m["semantic_boxes"] = sem;
  json kept = json::array();
  for (const Box& b : r.validation.kept) kept.push_back(box_json(b));
  m["validated_boxes"] = kept;
  if (r.kept) {
    m["effect_mask_area"] = cv::countNonZero(r.effect_mask);
    m["object_core_area"] = cv::countNonZero(r.object_core);
    m["effect_residual_area"] = cv::countNonZero(r.effects.residual);
    m["effects_ratio"] = r.effects.effects_ratio;
    m["phase2"] = r.effects.phase2;
  }
  return m;
}

json error_metadata(const Triplet& t, const std::string& stage, const std::string& message) {
  return {{"id", t.id},       {"kind", kind_name(t.kind)}, {"instruction", t.instruction},
          {"object_image", t.object_image().string()},     {"background_image", t.background_image().string()},
          {"status", "error"}, {"stage", stage},            {"reason", "error"},
          {"message", message}};
}

std::string lines(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& i : items) s += i + "\n";
  return s;
}

}  // namespace

json collect_statistics(const fs::path& out, const std::vector<Triplet>& triplets, const SavpConfig& config) {
  json s;
  long long n_add = 0, n_remove = 0, n_ordered = 0, processed = 0, retained = 0, phase2 = 0, rejected = 0, errors = 0;
  json by_stage = {{"input", json::object()}, {"difference", json::object()}, {"anchoring", json::object()},
                   {"segmentation", json::object()}, {"error", json::object()}};
  for (const Triplet& t : triplets) {
    (t.kind == EditKind::Add ? n_add : t.kind == EditKind::Remove ? n_remove : n_ordered)++;
    const auto m = read_metadata(out / "metadata" / (t.id + ".json"));
    if (!m) continue;
    ++processed;
    const std::string status = m->value("status", "");
    if (status == "kept") {
      ++retained;
      if (m->value("phase2", false)) ++phase2;
      continue;
    }
    (status == "error" ? errors : rejected)++;
    const std::string stage = m->value("stage", "input"), reason = m->value("reason", "error");
    by_stage[stage][reason] = by_stage[stage].value(reason, 0) + 1;
  }
  s["source_samples"] = triplets.size();
  s["add"] = n_add;
  s["remove"] = n_remove;
  s["ordered_pairs"] = n_ordered;
  s["processed"] = processed;
  s["retained"] = retained;
  s["phase2"] = phase2;
  s["rejected"] = rejected;
  s["errors"] = errors;
  s["retained_fraction"] = processed ? static_cast<double>(retained) / processed : 0.0;
  s["phase2_fraction_of_retained"] = retained ? static_cast<double>(phase2) / retained : 0.0;
  s["rejections_by_stage"] = by_stage;
  s["config"] = to_json(config);
  return s;
}

std::string statistics_markdown(const json& s) {
  std::ostringstream md;
  md << "# SAVP statistics\n\n| quantity | count |\n|---|---:|\n";
  for (const char* k : {"source_samples", "add", "remove", "ordered_pairs", "processed", "retained", "phase2",
                        "rejected", "errors"})
    md << "| " << k << " | " << s.value(k, 0LL) << " |\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", s.value("retained_fraction", 0.0));
  md << "| retained / processed | " << buf << " |\n";
  std::snprintf(buf, sizeof buf, "%.4f", s.value("phase2_fraction_of_retained", 0.0));
  md << "| phase2 / retained | " << buf << " |\n";
  md << "\n## Rejections by stage\n\n| stage | reason | count |\n|---|---|---:|\n";
  for (const char* stage : {"input", "difference", "anchoring", "segmentation", "error"})
    if (s.contains("rejections_by_stage") && s["rejections_by_stage"].contains(stage))
      for (const auto& [reason, n] : s["rejections_by_stage"][stage].items())
        md << "| " << stage << " | " << reason << " | " << n.get<long long>() << " |\n";
  return md.str();
}

namespace {

void check_options(const RunOptions& o) {
  if (o.out.empty()) throw HarnessError("savp: --out is required");
  if (o.detections.empty() == o.detector_command.empty())
    throw HarnessError("savp: give exactly one of --detections FILE and --detector CMD...");
  if (o.object_masks.empty() == o.segmenter_command.empty())
    throw HarnessError("savp: give exactly one of --object-masks DIR and --segmenter CMD...");
}

std::unique_ptr<Detector> make_detector(const RunOptions& o) {
  if (!o.detections.empty()) return std::make_unique<DetectionsFile>(o.detections, read_detections(o.detections));
  return std::make_unique<CommandDetector>(o.detector_command, o.config.command_timeout_s);
}

std::unique_ptr<Segmenter> make_segmenter(const RunOptions& o) {
  if (o.object_masks.empty())
    return std::make_unique<CommandSegmenter>(o.segmenter_command, o.config.command_timeout_s, o.out / ".segmenter_tmp");
  if (!fs::is_directory(o.object_masks)) throw HarnessError(o.object_masks.string() + ": object-mask folder not found");
  return std::make_unique<MaskFolderSegmenter>(o.object_masks);
}

// The config is part of the output: a resumed run must use the same one.
void prepare_output(const RunOptions& o) {
  const json config_json = to_json(o.config);
  const fs::path config_path = o.out / "config.json";
  const bool has_results = fs::is_directory(o.out / "metadata") && !fs::is_empty(o.out / "metadata");
  if (has_results && !o.resume)
    throw HarnessError(o.out.string() + ": holds the results of an earlier run; pass --resume to continue it, or choose another --out");
  if (fs::exists(config_path)) {
    std::ifstream in(config_path);
    json previous;
    try {
      previous = json::parse(in);
    } catch (const json::exception& e) {
      throw HarnessError(config_path.string() + ": invalid JSON: " + e.what());
    }
    if (previous != config_json && has_results)
      throw HarnessError(config_path.string() + ": the earlier run used a different SAVP config; resume with the same config or choose another --out");
  }
  fs::create_directories(o.out / "metadata");
  write_file_atomic(config_path, config_json.dump(2) + "\n");
}

// One triplet: verify the pair and write its images; the metadata says what happened (kept, rejected, error).
json process_triplet(const RunOptions& o, const Triplet& t, Detector& detector, Segmenter& segmenter) {
  try {
    cv::Mat object_bgr, background_bgr;
    try {
      object_bgr = read_bgr(t.object_image());
      background_bgr = read_bgr(t.background_image());
    } catch (const HarnessError& e) {
      throw HarnessError("triplet '" + t.id + "': " + e.what());
    }
    PairResult r = verify_pair(t, object_bgr, background_bgr, detector, segmenter, o.config);
    if (!o.debug.empty()) write_debug(o.debug / t.id, r, object_bgr);
    if (r.kept) {
      write_png(o.out / "shot" / (t.id + ".png"), object_bgr);
      write_png(o.out / "bg" / (t.id + ".png"), background_bgr);
      write_png(o.out / "mask_eff" / (t.id + ".png"), r.effect_mask * 255);
      const fs::path sam = o.out / "mask_sam" / (t.id + ".png");
      if (o.config.mask_sam_for_all || r.effects.phase2) write_png(sam, r.object_core * 255);
      else fs::remove(sam);
    } else if (r.reason == "error") {
      log::warn("savp: triplet '" + t.id + "': " + r.message);
    }
    return result_metadata(t, r, object_bgr.size());
  } catch (const Error& e) {
    if (o.fail_fast) throw;
    log::warn(std::string("savp: ") + e.what() + " (recorded as failed)");
    return error_metadata(t, "error", e.what());
  }
}

void report_progress(size_t done, size_t total, const RunSummary& summary, std::chrono::steady_clock::time_point start) {
  const bool tty = ::isatty(2);
  if (!(tty || done % 100 == 0 || done == total)) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, tty ? "\rsavp: %zu/%zu triplets, %.2f pairs/s" : "savp: %zu/%zu triplets, %.2f pairs/s\n", done,
               total, secs > 0 ? summary.processed / secs : 0.0);
  if (tty && done == total) std::fputc('\n', stderr);
}

// Lists and prompts are rebuilt from the metadata, so they are complete after a resume.
void write_lists(const fs::path& out, const std::vector<Triplet>& triplets) {
  std::vector<std::string> shot, bg, mask, shot_m, bg_m, mask_m, sam_m;
  json prompts = json::object();
  for (const Triplet& t : triplets) {
    const auto m = read_metadata(out / "metadata" / (t.id + ".json"));
    if (!m || m->value("status", "") != "kept") continue;
    prompts[t.id] = t.instruction;
    shot.push_back("shot/" + t.id + ".png");
    bg.push_back("bg/" + t.id + ".png");
    mask.push_back("mask_eff/" + t.id + ".png");
    if (m->value("phase2", false)) {
      shot_m.push_back(shot.back());
      bg_m.push_back(bg.back());
      mask_m.push_back(mask.back());
      sam_m.push_back("mask_sam/" + t.id + ".png");
    }
  }
  write_file_atomic(out / "prompts.json", prompts.dump(2) + "\n");
  write_file_atomic(out / "shot_list.txt", lines(shot));
  write_file_atomic(out / "bg_list.txt", lines(bg));
  write_file_atomic(out / "mask_list.txt", lines(mask));
  write_file_atomic(out / "shot_m_list.txt", lines(shot_m));
  write_file_atomic(out / "bg_m_list.txt", lines(bg_m));
  write_file_atomic(out / "mask-check_m_list.txt", lines(mask_m));
  write_file_atomic(out / "mask_sam_list.txt", lines(sam_m));
}

}  // namespace

RunSummary run_savp(const RunOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  check_options(o);
  const std::vector<Triplet> triplets = read_triplets(o.triplets, o.config.fallback_prompt);
  if (triplets.empty()) throw HarnessError(o.triplets.string() + ": no triplets");
  const std::unique_ptr<Detector> detector = make_detector(o);
  const std::unique_ptr<Segmenter> segmenter = make_segmenter(o);
  prepare_output(o);

  RunSummary summary;
  size_t done = 0;
  for (const Triplet& t : triplets) {
    ++done;
    const fs::path meta_path = o.out / "metadata" / (t.id + ".json");
    if (o.resume) {
      const auto m = read_metadata(meta_path);
      if (m && m->value("status", "") != "error") {
        ++summary.skipped;
        continue;
      }
    }
    write_file_atomic(meta_path, process_triplet(o, t, *detector, *segmenter).dump(2) + "\n");
    ++summary.processed;
    if (o.progress) report_progress(done, triplets.size(), summary, start);
  }
  fs::remove_all(o.out / ".segmenter_tmp");

  write_lists(o.out, triplets);
  summary.statistics = collect_statistics(o.out, triplets, o.config);
  write_file_atomic(o.out / "stats.json", summary.statistics.dump(2) + "\n");
  write_file_atomic(o.out / "stats.md", statistics_markdown(summary.statistics));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace osor::harness::savp

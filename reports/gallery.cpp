#include "reports/gallery.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <vector>

#include "reports/gallery_html.h"  // generated at build time from reports/gallery.html (reports/CMakeLists.txt)
#include "reports/table.h"
#include "reports/thumbnails.h"

namespace osor::reports {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string string_field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

void append_unique(std::vector<std::string>& list, const std::string& item) {
  if (!item.empty() && std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

std::string percent_encode_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '~' || c == '/' || c == ':' || c == '=' || c == ',' || c == '+';
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  return out;
}

// The page is reports/gallery.html (styles, the outline filter, the controls, and the script that renders the
// cards from the JSON block with textContent and attributes only, so names from the run are never parsed as
// HTML). The run goes in at two markers: the HTML-escaped title and the page's JSON.
constexpr std::string_view kTitleMarker = "{{title}}";
constexpr std::string_view kDataMarker = "{{data}}";

std::string fill_page(const std::string& title, const std::string& data) {
  const std::string_view page(reinterpret_cast<const char*>(embedded::kGalleryHtml), sizeof embedded::kGalleryHtml);
  const size_t title_at = page.find(kTitleMarker), data_at = page.find(kDataMarker);
  if (title_at == std::string_view::npos || data_at == std::string_view::npos || data_at < title_at)
    throw ReportError("reports/gallery.html: expected the markers " + std::string(kTitleMarker) + " and then " +
                      std::string(kDataMarker));
  const size_t after_title = title_at + kTitleMarker.size();
  std::string out;
  out.reserve(page.size() + title.size() + data.size());
  out.append(page.substr(0, title_at)).append(title);
  out.append(page.substr(after_title, data_at - after_title)).append(data);
  out.append(page.substr(data_at + kDataMarker.size()));
  return out;
}

}  // namespace

std::string image_link(const std::string& path, const fs::path& run_dir, const fs::path& page_dir) {
  if (path.empty()) return "";
  fs::path target(path);
  if (target.is_relative()) target = run_dir / target;
  target = fs::absolute(target).lexically_normal();
  const fs::path base = fs::absolute(page_dir).lexically_normal();
  if (target.root_path() != base.root_path()) return "file://" + percent_encode_path(target.generic_string());
  const fs::path relative = target.lexically_relative(base);
  if (relative.empty()) return "file://" + percent_encode_path(target.generic_string());
  return percent_encode_path(relative.generic_string());
}

namespace {

// The page's link to a run-relative thumbnail (reports/thumbnails.h) when the run has it, else "".
std::string thumbnail_link(const std::string& relative, const fs::path& run_dir, const fs::path& page_dir) {
  std::error_code ec;
  if (relative.empty() || !fs::exists(run_dir / relative, ec)) return "";
  return image_link(relative, run_dir, page_dir);
}

// One method's output on one sample, as the page shows it. A failed sample carries its error and no
// numbers: not the metric values its record may still hold, nor the latency of the failed call (the
// latency medians leave failed samples out too).
json gallery_output(const json& sample, const fs::path& run_dir, const fs::path& page_dir) {
  const std::string status = sample.value("status", "ok");
  const bool failed = status == "failed";
  const std::string file = string_field(sample, "output");
  json output = {{"src", image_link(file, run_dir, page_dir)},
                 {"thumb", thumbnail_link(output_thumbnail(file), run_dir, page_dir)},
                 {"status", status},
                 {"error", string_field(sample, "error")},
                 {"metrics", json::object()}};
  if (failed) return output;
  if (sample.contains("metrics") && sample["metrics"].is_object()) output["metrics"] = sample["metrics"];
  if (sample.contains("latency_ms")) output["latency_ms"] = sample["latency_ms"];
  return output;
}

// The per-image metrics the page sorts and shows, with their direction and precision.
json gallery_metrics(const std::vector<std::string>& names, const std::map<std::string, json>& info) {
  json metrics = json::array();
  for (const auto& name : names) {
    const auto it = info.find(name);
    bool higher = true;
    if (it != info.end()) higher = it->second.value("higher_is_better", true);
    else if (name == "lpips" || name == "cfd") higher = false;
    const int decimals = name == "psnr" ? 2 : 4;
    metrics.push_back({{"name", name}, {"higher_is_better", higher}, {"decimals", decimals}});
  }
  return metrics;
}

}  // namespace

std::string render_gallery(const json& results, const fs::path& run_dir, const fs::path& page_dir) {
  if (!results.is_object()) throw ReportError("run record is not a JSON object");
  const json config = results.value("config", json::object());
  std::vector<std::string> benches, methods, masks, metric_names;
  for (auto [key, list] : {std::make_pair("benches", &benches), std::make_pair("methods", &methods),
                            std::make_pair("masks", &masks)}) {
    if (!config.contains(key) || !config[key].is_array()) continue;
    for (const auto& item : config[key])
      if (item.is_string()) append_unique(*list, item.get<std::string>());
  }
  std::map<std::string, json> metric_info;
  if (results.contains("metrics") && results["metrics"].is_array())
    for (const auto& m : results["metrics"])
      if (m.value("per_image", true)) {
        append_unique(metric_names, string_field(m, "name"));
        metric_info[string_field(m, "name")] = m;
      }

  // One card per (bench, masks, id), in first-appearance order; the methods' outputs inside it.
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  std::map<std::tuple<std::string, std::string, std::string>, json> cards;
  const json samples = results.value("samples", json::array());
  for (const auto& s : samples) {
    const std::string bench = string_field(s, "bench"), mask = string_field(s, "masks"), id = string_field(s, "id");
    const std::string method = string_field(s, "method");
    append_unique(benches, bench);
    append_unique(methods, method);
    append_unique(masks, mask);
    const auto key = std::make_tuple(bench, mask, id);
    auto it = cards.find(key);
    if (it == cards.end()) {
      order.push_back(key);
      it = cards.emplace(key, json{{"bench", bench}, {"masks", mask}, {"id", id}, {"input", ""}, {"gt", ""},
                                   {"mask", ""}, {"mask_polarity", "white"}, {"outputs", json::object()},
                                   {"input_thumb", thumbnail_link(sample_thumbnail(bench, "input", id), run_dir, page_dir)},
                                   {"gt_thumb", thumbnail_link(sample_thumbnail(bench, "gt", id), run_dir, page_dir)}})
               .first;
    }
    json& card = it->second;
    for (const char* field : {"input", "gt", "mask"})
      if (card[field].get<std::string>().empty())
        card[field] = image_link(string_field(s, field), run_dir, page_dir);
    if (string_field(s, "mask_polarity") == "black") card["mask_polarity"] = "black";
    const json output = gallery_output(s, run_dir, page_dir);
    for (const auto& [name, value] : output["metrics"].items()) append_unique(metric_names, name);
    card["outputs"][method] = output;
  }
  json page_samples = json::array();
  for (const auto& key : order) page_samples.push_back(cards[key]);
  const json page = {{"run_id", string_field(results, "run_id")}, {"benches", benches}, {"methods", methods},
                     {"masks", masks}, {"metrics", gallery_metrics(metric_names, metric_info)},
                     {"samples", page_samples}};
  // Inside <script>, "</script" would end the block: every '<' in the JSON (only inside strings) is escaped.
  std::string data = page.dump();
  std::string safe;
  for (char c : data) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return fill_page(html_escape("OSOR gallery: " + string_field(results, "run_id")), safe);
}

}  // namespace osor::reports

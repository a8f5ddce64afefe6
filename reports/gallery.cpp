#include "reports/gallery.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "reports/table.h"

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

// The page: styles, the outline filter, the controls, and the script that renders the cards from the
// JSON block (textContent and attributes only, so names from the run are never parsed as HTML).
const char* const kPageHead = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)HTML";

const char* const kPageStyle = R"HTML(</title>
<style>
body { font: 13px/1.35 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 8px; }
#controls { position: sticky; top: 0; background: #fafafa; padding: 8px 0; border-bottom: 1px solid #ddd;
            z-index: 2; display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
#controls label { display: inline-flex; gap: 4px; align-items: center; }
.sample { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 12px 0; padding: 8px; }
.sample h2 { font-size: 14px; margin: 0 0 6px; font-weight: 600; }
.sample h2 .masks { color: #666; font-weight: 400; }
.images { display: flex; flex-wrap: wrap; gap: 8px; }
figure { margin: 0; width: 220px; }
figure.failed .frame { outline: 2px solid #c00; }
.frame { position: relative; width: 220px; background: #eee; line-height: 0; }
.frame img { width: 100%; height: auto; display: block; }
.frame svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.missing { height: 120px; display: flex; align-items: center; justify-content: center; color: #888;
           line-height: 1.2; }
figcaption { margin-top: 4px; }
figcaption .name { font-weight: 600; word-break: break-all; }
figcaption table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
figcaption td { padding: 0 8px 0 0; }
figcaption .error { color: #c00; word-break: break-word; }
.hide-masks .frame svg { display: none; }
</style>
</head>
<body>
<svg width="0" height="0" style="position:absolute" aria-hidden="true">
 <defs>
  <!-- Mask to outline: alpha from luminance (white = object), thresholded, dilated, minus itself; cyan,
       a colour objects rarely have. -->
  <filter id="osor-outline" x="-5%" y="-5%" width="110%" height="110%" primitiveUnits="objectBoundingBox"
          color-interpolation-filters="sRGB">
   <feColorMatrix type="matrix" values="0 0 0 0 0  0 0 0 0 0.9  0 0 0 0 1  0.2126 0.7152 0.0722 0 0"/>
   <feComponentTransfer result="object"><feFuncA type="discrete" tableValues="0 1"/></feComponentTransfer>
   <feMorphology in="object" operator="dilate" radius="0.006" result="grown"/>
   <feComposite in="grown" in2="object" operator="out" result="ring"/>
   <feComponentTransfer in="object" result="fill"><feFuncA type="linear" slope="0.18"/></feComponentTransfer>
   <feMerge><feMergeNode in="fill"/><feMergeNode in="ring"/></feMerge>
  </filter>
  <filter id="osor-outline-black" x="-5%" y="-5%" width="110%" height="110%" primitiveUnits="objectBoundingBox"
          color-interpolation-filters="sRGB">
   <feColorMatrix type="matrix" values="0 0 0 0 0  0 0 0 0 0.9  0 0 0 0 1  -0.2126 -0.7152 -0.0722 0 1"/>
   <feComponentTransfer result="object"><feFuncA type="discrete" tableValues="0 1"/></feComponentTransfer>
   <feMorphology in="object" operator="dilate" radius="0.006" result="grown"/>
   <feComposite in="grown" in2="object" operator="out" result="ring"/>
   <feComponentTransfer in="object" result="fill"><feFuncA type="linear" slope="0.18"/></feComponentTransfer>
   <feMerge><feMergeNode in="fill"/><feMergeNode in="ring"/></feMerge>
  </filter>
 </defs>
</svg>
<h1 id="title"></h1>
<div id="controls">
 <label>Benchmark <select id="bench"></select></label>
 <label>Mask setting <select id="masks"></select></label>
 <label>Sort by <select id="sort"></select></label>
 <label>Order <select id="order"><option value="asc">ascending</option><option value="desc">descending</option></select></label>
 <label><input type="checkbox" id="show-masks" checked> mask outline</label>
 <span id="count"></span>
</div>
<div id="samples"></div>
<script type="application/json" id="osor-data">)HTML";

const char* const kPageScript = R"HTML(</script>
<script>
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("osor-data").textContent);
  const metricInfo = {};
  for (const m of data.metrics) metricInfo[m.name] = m;
  const maskTitle = (m) => (m === "object" ? "Object mask" : m === "effect" ? "Object-Effect mask" : m + " mask");
  const num = (v) => (typeof v === "number" ? v : v === "inf" ? Infinity : v === "-inf" ? -Infinity : NaN);
  const fmt = (metric, v) => {
    if (Number.isNaN(v)) return "\u2014";
    if (!Number.isFinite(v)) return v > 0 ? "\u221e" : "-\u221e";
    const info = metricInfo[metric];
    return v.toFixed(info && info.decimals !== undefined ? info.decimals : 4);
  };
  const el = (tag, attrs, children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children || []) e.append(c);
    return e;
  };
  const option = (value, text) => el("option", { value: value }, [text]);

  document.getElementById("title").textContent = "OSOR run " + data.run_id;
  document.title = "OSOR gallery: " + data.run_id;
  const benchSel = document.getElementById("bench");
  const masksSel = document.getElementById("masks");
  const sortSel = document.getElementById("sort");
  const orderSel = document.getElementById("order");
  benchSel.append(option("", "all"));
  for (const b of data.benches) benchSel.append(option(b, b));
  masksSel.append(option("", "all"));
  for (const m of data.masks) masksSel.append(option(m, maskTitle(m)));
  sortSel.append(option("", "sample id"));
  for (const m of data.metrics)
    for (const method of data.methods)
      sortSel.append(option(JSON.stringify([method, m.name]),
                            m.name.toUpperCase() + (m.higher_is_better ? " \u2191" : " \u2193") + " of " + method));

  const frame = (src, mask, polarity) => {
    if (!src) return el("div", { class: "frame" }, [el("div", { class: "missing" }, ["no image"])]);
    const img = el("img", { src: src, alt: "", loading: "lazy", decoding: "async" });
    const f = el("div", { class: "frame" }, [img]);
    img.addEventListener("error", () => f.replaceChildren(el("div", { class: "missing" }, ["missing: " + src])));
    if (mask) {
      const ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", "0 0 100 100");
      svg.setAttribute("preserveAspectRatio", "none");
      const image = document.createElementNS(ns, "image");
      for (const [k, v] of [["href", mask], ["width", "100"], ["height", "100"], ["preserveAspectRatio", "none"],
                            ["filter", polarity === "black" ? "url(#osor-outline-black)" : "url(#osor-outline)"]])
        image.setAttribute(k, v);
      svg.append(image);
      f.append(svg);
    }
    return f;
  };

  const card = (s) => {
    const figures = [];
    const input = el("figure", { class: "input" }, [frame(s.input, s.mask, s.mask_polarity),
                                                     el("figcaption", {}, [el("div", { class: "name" }, ["input"])])]);
    figures.push(input);
    for (const method of data.methods) {
      const out = s.outputs[method];
      if (!out) continue;
      // A failed sample shows its error and a dash for every metric, never a number.
      const failed = out.status === "failed";
      const rows = [];
      for (const m of data.metrics)
        if (failed || (out.metrics && m.name in out.metrics))
          rows.push(el("tr", { "data-metric": m.name }, [el("td", {}, [m.name.toUpperCase()]),
                    el("td", {}, [failed ? "\u2014" : fmt(m.name, num(out.metrics[m.name]))])]));
      if (!failed && out.latency_ms !== undefined && out.latency_ms !== null)
        rows.push(el("tr", {}, [el("td", {}, ["ms"]), el("td", {}, [fmt("", num(out.latency_ms)).replace(/0+$/, "").replace(/\.$/, "")])]));
      const caption = el("figcaption", {}, [el("div", { class: "name" }, [method])]);
      if (failed) caption.append(el("div", { class: "error" }, ["failed: " + (out.error || "")]));
      if (rows.length) caption.append(el("table", {}, rows));
      figures.push(el("figure", { "data-method": method, class: failed ? "failed" : "" },
                      [frame(out.src, null, null), caption]));
    }
    figures.push(el("figure", { class: "gt" }, [frame(s.gt, null, null),
                                                el("figcaption", {}, [el("div", { class: "name" }, ["ground truth"])])]));
    return el("section", { class: "sample", "data-sample": s.id, "data-bench": s.bench, "data-masks": s.masks },
              [el("h2", {}, [s.bench + " / " + s.id + " ", el("span", { class: "masks" }, ["(" + maskTitle(s.masks) + ")"])]),
               el("div", { class: "images" }, figures)]);
  };

  const sortValue = (s, key) => {
    const out = s.outputs[key[0]];
    if (!out || out.status === "failed" || !out.metrics || !(key[1] in out.metrics)) return NaN;
    return num(out.metrics[key[1]]);
  };

  const render = () => {
    let list = data.samples.filter((s) => (!benchSel.value || s.bench === benchSel.value) &&
                                          (!masksSel.value || s.masks === masksSel.value));
    const sign = orderSel.value === "desc" ? -1 : 1;
    if (sortSel.value) {
      const key = JSON.parse(sortSel.value);
      list = list.map((s) => [sortValue(s, key), s]);
      // Samples without the value go last, whatever the order.
      list.sort((a, b) => (Number.isNaN(a[0]) - Number.isNaN(b[0])) ||
                          (a[0] === b[0] ? 0 : (a[0] < b[0] ? -1 : 1) * sign));
      list = list.map((p) => p[1]);
    } else {
      list = list.slice().sort((a, b) => sign * (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    document.getElementById("samples").replaceChildren(...list.map(card));
    document.getElementById("count").textContent = list.length + " of " + data.samples.length + " samples";
  };
  // The URL fragment can preset the controls: #bench=B&masks=object&sort=psnr@METHOD&order=desc.
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("bench")) benchSel.value = params.get("bench");
  if (params.get("masks")) masksSel.value = params.get("masks");
  if (params.get("order")) orderSel.value = params.get("order");
  const sortParam = params.get("sort") || "";
  const at = sortParam.indexOf("@");
  if (at > 0) sortSel.value = JSON.stringify([sortParam.slice(at + 1), sortParam.slice(0, at)]);
  for (const sel of [benchSel, masksSel, sortSel, orderSel]) sel.addEventListener("change", render);
  document.getElementById("show-masks").addEventListener("change", (e) =>
    document.body.classList.toggle("hide-masks", !e.target.checked));
  render();
})();
</script>
</body>
</html>
)HTML";

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

// One method's output on one sample, as the page shows it. A failed sample carries its error and no
// numbers: not the metric values its record may still hold, nor the latency of the failed call (the
// latency medians leave failed samples out too).
json gallery_output(const json& sample, const fs::path& run_dir, const fs::path& page_dir) {
  const std::string status = sample.value("status", "ok");
  const bool failed = status == "failed";
  json output = {{"src", image_link(string_field(sample, "output"), run_dir, page_dir)},
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
                                   {"mask", ""}, {"mask_polarity", "white"}, {"outputs", json::object()}})
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
  return std::string(kPageHead) + html_escape("OSOR gallery: " + string_field(results, "run_id")) + kPageStyle +
         safe + kPageScript;
}

}  // namespace osor::reports

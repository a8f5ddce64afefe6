#include "reports/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace osor::reports {

using nlohmann::json;

namespace {

const char* const kDash = "\u2014";  // "—": not computed
const char* const kUp = "\u2191";
const char* const kDown = "\u2193";
const char* const kInfinity = "\u221e";

struct MetricMeta {
  bool higher_is_better = true;
  std::string convention;
  int version = 1;
  bool listed = false;  // in the run's "metrics" list
};

// The paper's directions, for metrics a run does not list.
bool default_higher_is_better(const std::string& metric) {
  static const std::set<std::string> lower = {"fid", "cmmd", "lpips", "cfd", "kid", "dists"};
  return lower.count(metric) == 0;
}

// Decimals per metric: PSNR in dB to 0.01, SSIM/LPIPS to 1e-4, FID to 0.01, CMMD/CFD to 1e-3.
int metric_decimals(const std::string& metric) {
  static const std::map<std::string, int> decimals = {{"psnr", 2}, {"ssim", 4}, {"ssim-uniform", 4}, {"lpips", 4},
                                                      {"fid", 2},  {"cmmd", 3}, {"cfd", 3}};
  const auto it = decimals.find(metric);
  return it == decimals.end() ? 4 : it->second;
}

std::string format_fixed(double value, int decimals) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? kInfinity : std::string("-") + kInfinity;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string text = buf;
  // "-0.00" reads as a sign that is not there.
  if (text[0] == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

std::string format_latency(double ms) { return format_fixed(ms, ms < 10 ? 2 : ms < 100 ? 1 : 0); }

// The value as displayed, for ranking: equal-looking values tie.
double displayed_value(double value, int decimals) {
  if (!std::isfinite(value)) return value;
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string string_field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

void append_unique(std::vector<std::string>& list, const std::string& item) {
  if (!item.empty() && std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

const json& aggregates_of(const json& results) {
  if (!results.is_object() || !results.contains("aggregates") || !results["aggregates"].is_array())
    throw ReportError("run record has no \"aggregates\" list (is this a results.json written by osor eval?)");
  return results["aggregates"];
}

std::map<std::string, MetricMeta> metric_metas(const json& results) {
  std::map<std::string, MetricMeta> metas;
  if (results.contains("metrics") && results["metrics"].is_array())
    for (const auto& m : results["metrics"]) {
      MetricMeta meta;
      const std::string name = string_field(m, "name");
      meta.higher_is_better = m.value("higher_is_better", default_higher_is_better(name));
      meta.convention = string_field(m, "convention");
      meta.version = m.value("version", 1);
      meta.listed = true;
      metas[name] = meta;
    }
  return metas;
}

}  // namespace

double number_from_json(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::string mask_group_title(const std::string& masks) {
  if (masks == "object") return "Object mask";
  if (masks == "effect") return "Object-Effect mask";
  return masks + " mask";
}

std::string metric_title(const std::string& metric) {
  std::string title = metric;
  std::transform(title.begin(), title.end(), title.begin(), [](unsigned char c) { return std::toupper(c); });
  return title;
}

Table build_table(const json& results, const TableOptions& options) {
  const json& aggregates = aggregates_of(results);
  const auto metas = metric_metas(results);
  const json config = results.value("config", json::object());

  std::vector<std::string> benches, methods, masks = options.masks, metrics = options.metrics;
  for (auto [key, list] : {std::make_pair("benches", &benches), std::make_pair("methods", &methods)}) {
    if (!config.contains(key) || !config[key].is_array()) continue;
    for (const auto& item : config[key])
      if (item.is_string()) append_unique(*list, item.get<std::string>());
  }
  std::vector<std::string> other_metrics;
  if (results.contains("metrics") && results["metrics"].is_array())
    for (const auto& m : results["metrics"]) append_unique(other_metrics, string_field(m, "name"));
  // (bench, method, masks, metric) -> aggregate
  std::map<std::tuple<std::string, std::string, std::string, std::string>, const json*> by_key;
  for (const auto& a : aggregates) {
    const std::string bench = string_field(a, "bench"), method = string_field(a, "method");
    const std::string mask = string_field(a, "masks"), metric = string_field(a, "metric");
    append_unique(benches, bench);
    append_unique(methods, method);
    append_unique(masks, mask);
    append_unique(other_metrics, metric);
    by_key[{bench, method, mask, metric}] = &a;
  }
  std::map<std::pair<std::string, std::string>, std::vector<const json*>> latency;
  if (results.contains("latency") && results["latency"].is_array())
    for (const auto& l : results["latency"]) {
      append_unique(benches, string_field(l, "bench"));
      append_unique(methods, string_field(l, "method"));
      latency[{string_field(l, "bench"), string_field(l, "method")}].push_back(&l);
    }
  if (options.include_other_metrics)
    for (const auto& m : other_metrics) append_unique(metrics, m);

  Table table;
  table.mask_groups = masks;
  for (const auto& mask : masks)
    for (const auto& metric : metrics) {
      Column column{mask, metric, default_higher_is_better(metric), metric_decimals(metric)};
      const auto it = metas.find(metric);
      if (it != metas.end()) column.higher_is_better = it->second.higher_is_better;
      table.columns.push_back(column);
    }

  std::set<std::pair<std::string, std::string>> present;
  for (const auto& [key, a] : by_key) present.insert({std::get<0>(key), std::get<1>(key)});
  for (const auto& [key, l] : latency) present.insert(key);
  for (const auto& bench : benches)
    for (const auto& method : methods) {
      if (!present.count({bench, method})) continue;
      Row row{bench, method, std::nullopt, {}};
      const auto lat = latency.find({bench, method});
      if (lat != latency.end() && !lat->second.empty()) {
        // One latency per row: the object-mask run's when there is one (the method does the same work).
        const json* chosen = lat->second.front();
        for (const json* l : lat->second)
          if (string_field(*l, "masks") == "object") chosen = l;
        if (chosen->contains("median_ms")) row.latency_ms = number_from_json((*chosen)["median_ms"]);
      }
      for (const auto& column : table.columns) {
        Cell cell;
        const auto it = by_key.find({bench, method, column.masks, column.metric});
        if (it != by_key.end() && it->second->contains("mean")) {
          cell.mean = number_from_json((*it->second)["mean"]);
          cell.n = it->second->value("n", 0);
          cell.n_failed = it->second->value("n_failed", 0);
          cell.text = format_fixed(*cell.mean, column.decimals);
        } else {
          cell.text = kDash;
        }
        row.cells.push_back(cell);
      }
      table.rows.push_back(row);
    }

  // Best and second best per bench × column, among the values shown (NaN never ranks).
  for (size_t c = 0; c < table.columns.size(); ++c) {
    const Column& column = table.columns[c];
    for (const auto& bench : benches) {
      std::vector<Cell*> cells;
      std::vector<double> values;
      for (auto& row : table.rows)
        if (row.bench == bench && row.cells[c].mean && !std::isnan(*row.cells[c].mean)) {
          cells.push_back(&row.cells[c]);
          values.push_back(displayed_value(*row.cells[c].mean, column.decimals));
        }
      if (cells.size() < 2) continue;  // one method: nothing to compare
      std::vector<double> distinct = values;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      if (column.higher_is_better) std::reverse(distinct.begin(), distinct.end());
      for (size_t i = 0; i < cells.size(); ++i) {
        if (values[i] == distinct[0]) cells[i]->rank = 1;
        else if (distinct.size() > 1 && values[i] == distinct[1]) cells[i]->rank = 2;
      }
    }
  }

  // Notes: what the numbers are, how they were measured, and what is missing.
  table.notes.push_back(std::string("Means over samples; ") + kUp + " higher is better, " + kDown +
                        " lower is better; best in bold, second best underlined per dataset and mask setting "
                        "(compared at the precision shown); " + kDash + " not computed.");
  std::string conventions;
  for (const auto& metric : metrics) {
    const auto it = metas.find(metric);
    if (it == metas.end()) continue;
    if (!conventions.empty()) conventions += "; ";
    conventions += metric_title(metric) + ": " + (it->second.convention.empty() ? metric : it->second.convention) +
                   " (v" + std::to_string(it->second.version) + ")";
  }
  if (!conventions.empty()) table.notes.push_back("Metric conventions: " + conventions + ".");
  const std::string protocol = string_field(results, "latency_protocol");
  if (!protocol.empty()) table.notes.push_back("Latency (ms per image): " + protocol + ".");
  // The short form under each table: how many samples the medians hold and what they ran on.
  if (results.contains("latency") && results["latency"].is_array() && !results["latency"].empty()) {
    int n_min = -1, n_max = -1;
    bool warmup_recorded = false;
    for (const auto& l : results["latency"]) {
      const int n = l.value("n", 0);
      n_min = n_min < 0 ? n : std::min(n_min, n);
      n_max = std::max(n_max, n);
      warmup_recorded = warmup_recorded || l.contains("n_warmup");
    }
    std::string device;
    if (results.contains("provenance") && results["provenance"].is_object()) {
      device = string_field(results["provenance"], "device_name");
      if (device.empty()) device = string_field(results["provenance"], "device");
    }
    std::string note = "latency: median over " + std::to_string(n_min) +
                       (n_max != n_min ? "–" + std::to_string(n_max) : std::string()) + " samples";
    if (warmup_recorded) note += ", warm-up excluded";
    note += ", device-synchronised";
    if (!device.empty()) note += ", " + device;
    table.notes.push_back(note + ".");
  }
  if (results.contains("skipped_metrics") && results["skipped_metrics"].is_array())
    for (const auto& s : results["skipped_metrics"])
      table.notes.push_back("Skipped " + metric_title(string_field(s, "metric")) + ": " + string_field(s, "reason") +
                            ".");
  // n per bench, and failed samples per (bench, method, mask setting).
  std::map<std::string, int> n_per_bench;
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<int, int>> failed;  // n, n_failed
  for (const auto& [key, a] : by_key) {
    const int n = a->value("n", 0), n_failed = a->value("n_failed", 0);
    int& bench_n = n_per_bench[std::get<0>(key)];
    bench_n = std::max(bench_n, n + n_failed);
    if (n_failed > 0) {
      auto& f = failed[{std::get<0>(key), std::get<1>(key), std::get<2>(key)}];
      if (n_failed > f.second) f = {n, n_failed};
    }
  }
  std::string counts;
  for (const auto& bench : benches)
    if (n_per_bench.count(bench))
      counts += (counts.empty() ? "" : ", ") + bench + " " + std::to_string(n_per_bench[bench]);
  if (!counts.empty()) table.notes.push_back("Samples per dataset: " + counts + ".");
  for (const auto& bench : benches)
    for (const auto& method : methods)
      for (const auto& mask : masks) {
        const auto it = failed.find({bench, method, mask});
        if (it == failed.end()) continue;
        table.notes.push_back(bench + " / " + method + " / " + mask_group_title(mask) + ": " +
                              std::to_string(it->second.second) + " of " +
                              std::to_string(it->second.first + it->second.second) +
                              " samples failed; means are over the other " + std::to_string(it->second.first) + ".");
      }
  return table;
}

// ---------------------------------------------------------------------------------------------- Markdown

namespace {

std::string markdown_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|' || c == '*' || c == '_' || c == '<' || c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string arrow(const Column& column) { return column.higher_is_better ? kUp : kDown; }

}  // namespace

std::string render_markdown(const json& results, const TableOptions& options) {
  const Table table = build_table(results, options);
  std::string out;
  // Markdown has one header row: the mask groups head the columns, the metric names form the first row.
  out += "| Dataset | Method | Latency (ms) |";
  for (size_t c = 0; c < table.columns.size(); ++c)
    out += c == 0 || table.columns[c].masks != table.columns[c - 1].masks
               ? " " + mask_group_title(table.columns[c].masks) + " |"
               : " |";
  out += "\n|:--|:--|--:|";
  for (size_t c = 0; c < table.columns.size(); ++c) out += "--:|";
  out += "\n| | | |";
  for (const auto& column : table.columns) out += " " + metric_title(column.metric) + arrow(column) + " |";
  out += "\n";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const Row& row = table.rows[r];
    const bool first = r == 0 || table.rows[r - 1].bench != row.bench;
    out += "| " + (first ? markdown_escape(row.bench) : std::string()) + " | " + markdown_escape(row.method) + " | " +
           (row.latency_ms ? format_latency(*row.latency_ms) : std::string(kDash)) + " |";
    for (const auto& cell : row.cells) {
      const std::string text = cell.rank == 1 ? "**" + cell.text + "**"
                               : cell.rank == 2 ? "<u>" + cell.text + "</u>"
                                                : cell.text;
      out += " " + text + " |";
    }
    out += "\n";
  }
  out += "\n";
  for (const auto& note : table.notes) out += "- " + markdown_escape(note) + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------- LaTeX

namespace {

std::string latex_escape(const std::string& text) {
  static const std::map<std::string, std::string> unicode = {
      {kDash, "---"}, {kUp, "$\\uparrow$"}, {kDown, "$\\downarrow$"}, {kInfinity, "$\\infty$"},
      {"\u00d7", "$\\times$"}, {"\u2013", "--"}, {"\u2019", "'"}};
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    bool replaced = false;
    for (const auto& [from, to] : unicode)
      if (text.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size() - 1;
        replaced = true;
        break;
      }
    if (replaced) continue;
    const char c = text[i];
    switch (c) {
      case '\\': out += "\\textbackslash{}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '&': case '%': case '$': case '#': case '_': case '{': case '}': out += '\\'; out += c; break;
      case '<': out += "\\textless{}"; break;
      case '>': out += "\\textgreater{}"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string render_latex(const json& results, const TableOptions& options) {
  const Table table = build_table(results, options);
  std::string out = "% osor report of run " + string_field(results, "run_id") + "; needs \\usepackage{booktabs}\n";
  out += "\\begin{table*}[t]\n\\centering\n\\small\n\\setlength{\\tabcolsep}{3pt}\n\\begin{tabular}{llr";
  for (size_t c = 0; c < table.columns.size(); ++c) out += "c";
  out += "}\n\\toprule\n & & ";
  // Group headers with \cmidrule under each group.
  std::string rules;
  size_t start = 0;
  while (start < table.columns.size()) {
    size_t end = start;
    while (end + 1 < table.columns.size() && table.columns[end + 1].masks == table.columns[start].masks) ++end;
    const size_t span = end - start + 1;
    out += " & \\multicolumn{" + std::to_string(span) + "}{c}{" +
           latex_escape(mask_group_title(table.columns[start].masks)) + "}";
    rules += "\\cmidrule(lr){" + std::to_string(start + 4) + "-" + std::to_string(end + 4) + "}";
    start = end + 1;
  }
  out += " \\\\\n" + rules + "\nDataset & Method & Latency (ms)";
  for (const auto& column : table.columns)
    out += " & " + latex_escape(metric_title(column.metric)) + (column.higher_is_better ? "$\\uparrow$" : "$\\downarrow$");
  out += " \\\\\n\\midrule\n";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const Row& row = table.rows[r];
    const bool first = r == 0 || table.rows[r - 1].bench != row.bench;
    if (first && r > 0) out += "\\midrule\n";
    out += (first ? latex_escape(row.bench) : std::string()) + " & " + latex_escape(row.method) + " & " +
           (row.latency_ms ? latex_escape(format_latency(*row.latency_ms)) : std::string("---"));
    for (const auto& cell : row.cells) {
      const std::string text = latex_escape(cell.text);
      out += " & " + (cell.rank == 1 ? "\\textbf{" + text + "}" : cell.rank == 2 ? "\\underline{" + text + "}" : text);
    }
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}\n\\caption{";
  for (size_t i = 0; i < table.notes.size(); ++i) out += (i ? " " : "") + latex_escape(table.notes[i]);
  out += "}\n\\end{table*}\n";
  return out;
}

// ---------------------------------------------------------------------------------------------- CSV

namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Full precision, shortest form that reads back to the same double; inf/-inf/nan as words.
std::string csv_number(const json& j) {
  if (j.is_null()) return "";
  const double value = number_from_json(j);
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return json(value).dump();
}

}  // namespace

std::string render_csv(const json& results) {
  const json& aggregates = aggregates_of(results);
  const auto metas = metric_metas(results);
  std::string out = "bench,method,masks,metric,convention,higher_is_better,mean,std,ci95_lo,ci95_hi,n,n_failed\n";
  for (const auto& a : aggregates) {
    const std::string metric = string_field(a, "metric");
    const auto it = metas.find(metric);
    const bool higher = it != metas.end() ? it->second.higher_is_better : default_higher_is_better(metric);
    std::string convention = string_field(a, "convention");
    if (convention.empty() && it != metas.end()) convention = it->second.convention;
    const json ci = a.value("ci95", json());
    const bool has_ci = ci.is_array() && ci.size() == 2;
    out += csv_field(string_field(a, "bench")) + "," + csv_field(string_field(a, "method")) + "," +
           csv_field(string_field(a, "masks")) + "," + csv_field(metric) + "," + csv_field(convention) + "," +
           (higher ? "true" : "false") + "," + csv_number(a.value("mean", json())) + "," +
           csv_number(a.value("std", json())) + "," + (has_ci ? csv_number(ci[0]) : "") + "," +
           (has_ci ? csv_number(ci[1]) : "") + "," + std::to_string(a.value("n", 0)) + "," +
           std::to_string(a.value("n_failed", 0)) + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- JSON

namespace {

json number_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

}  // namespace

json render_json(const json& results, const TableOptions& options) {
  const Table table = build_table(results, options);
  json columns = json::array();
  for (const auto& c : table.columns)
    columns.push_back({{"masks", c.masks}, {"metric", c.metric}, {"title", metric_title(c.metric)},
                       {"group", mask_group_title(c.masks)}, {"higher_is_better", c.higher_is_better},
                       {"decimals", c.decimals}});
  json rows = json::array();
  for (const auto& row : table.rows) {
    json cells = json::array();
    for (size_t c = 0; c < row.cells.size(); ++c) {
      const Cell& cell = row.cells[c];
      cells.push_back({{"masks", table.columns[c].masks}, {"metric", table.columns[c].metric},
                       {"mean", cell.mean ? number_json(*cell.mean) : json(nullptr)}, {"text", cell.text},
                       {"rank", cell.rank}, {"n", cell.n}, {"n_failed", cell.n_failed}});
    }
    rows.push_back({{"bench", row.bench}, {"method", row.method},
                    {"latency_ms", row.latency_ms ? number_json(*row.latency_ms) : json(nullptr)}, {"cells", cells}});
  }
  return {{"format", "osor-report/1"},
          {"run_id", string_field(results, "run_id")},
          {"aggregates", aggregates_of(results)},
          {"table", {{"mask_groups", table.mask_groups}, {"columns", columns}, {"rows", rows}, {"notes", table.notes}}}};
}

}  // namespace osor::reports

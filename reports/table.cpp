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
const char* const kDagger = "\u2020";  // "†": some samples failed, or none was scored

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

// An aggregate of no scored sample: every sample failed, or a set-level metric failed. Its mean (0 or
// NaN in the record) is no value. An aggregate without "n" says nothing either way and is shown.
bool no_sample_scored(const json& aggregate) { return aggregate.is_object() && aggregate.value("n", -1) == 0; }

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

namespace {

using AggregateKey = std::tuple<std::string, std::string, std::string, std::string>;  // bench, method, masks, metric

// The run record looked up by key, with the table's order of benches, methods, mask settings and metrics:
// the options' and the run's config first, then first appearance in the aggregates and the latency list.
struct RunIndex {
  std::vector<std::string> benches, methods, masks, metrics;
  std::map<std::string, MetricMeta> metas;
  std::map<AggregateKey, const json*> aggregates;
  std::map<std::pair<std::string, std::string>, std::vector<const json*>> latency;  // per (bench, method)
};

// `preferred` members that are in `present`, then the other members of `present`, in their order.
std::vector<std::string> ordered_present(const std::vector<std::string>& preferred, const std::vector<std::string>& present) {
  std::vector<std::string> out;
  for (const auto& v : preferred)
    if (std::find(present.begin(), present.end(), v) != present.end()) out.push_back(v);
  for (const auto& v : present) append_unique(out, v);
  return out;
}

RunIndex index_run(const json& results, const TableOptions& options) {
  const json& aggregates = aggregates_of(results);
  RunIndex index;
  index.metas = metric_metas(results);
  const json config = results.value("config", json::object());
  // The run's benchmark names first: its config may name a spec file instead.
  if (results.contains("benches") && results["benches"].is_array())
    for (const auto& b : results["benches"]) append_unique(index.benches, string_field(b, "name"));
  for (auto [key, list] : {std::make_pair("benches", &index.benches), std::make_pair("methods", &index.methods)}) {
    if (!config.contains(key) || !config[key].is_array()) continue;
    for (const auto& item : config[key])
      if (item.is_string()) append_unique(*list, item.get<std::string>());
  }
  std::vector<std::string> run_metrics, run_masks;
  if (results.contains("metrics") && results["metrics"].is_array())
    for (const auto& m : results["metrics"]) append_unique(run_metrics, string_field(m, "name"));
  for (const auto& a : aggregates) {
    const std::string bench = string_field(a, "bench"), method = string_field(a, "method");
    const std::string mask = string_field(a, "masks"), metric = string_field(a, "metric");
    append_unique(index.benches, bench);
    append_unique(index.methods, method);
    append_unique(run_masks, mask);
    append_unique(run_metrics, metric);
    index.aggregates[{bench, method, mask, metric}] = &a;
  }
  if (results.contains("latency") && results["latency"].is_array())
    for (const auto& l : results["latency"]) {
      append_unique(index.benches, string_field(l, "bench"));
      append_unique(index.methods, string_field(l, "method"));
      index.latency[{string_field(l, "bench"), string_field(l, "method")}].push_back(&l);
    }
  if (options.only_computed) {
    index.metrics = ordered_present(options.metrics, run_metrics);
    index.masks = ordered_present(options.masks, run_masks);
    return index;
  }
  index.metrics = options.metrics;
  index.masks = options.masks;
  for (const auto& m : run_masks) append_unique(index.masks, m);
  if (options.include_other_metrics)
    for (const auto& m : run_metrics) append_unique(index.metrics, m);
  return index;
}

std::vector<Column> table_columns(const RunIndex& index) {
  std::vector<Column> columns;
  for (const auto& mask : index.masks)
    for (const auto& metric : index.metrics) {
      Column column{mask, metric, default_higher_is_better(metric), metric_decimals(metric)};
      const auto it = index.metas.find(metric);
      if (it != index.metas.end()) column.higher_is_better = it->second.higher_is_better;
      columns.push_back(column);
    }
  return columns;
}

// One latency per row: the object-mask run's when there is one (the method does the same work).
std::optional<double> row_latency(const RunIndex& index, const std::string& bench, const std::string& method) {
  const auto lat = index.latency.find({bench, method});
  if (lat == index.latency.end() || lat->second.empty()) return std::nullopt;
  const json* chosen = lat->second.front();
  for (const json* l : lat->second)
    if (string_field(*l, "masks") == "object") chosen = l;
  if (!chosen->contains("median_ms")) return std::nullopt;
  return number_from_json((*chosen)["median_ms"]);
}

// A cell with nothing to show: no aggregate, no sample scored (the record's mean is then 0 or NaN, which
// must not read as a value nor win a lower-is-better column), or a NaN mean.
Cell aggregate_cell(const json* aggregate, const Column& column) {
  Cell cell;
  cell.text = kDash;
  if (aggregate == nullptr || !aggregate->contains("mean")) return cell;
  const json& a = *aggregate;
  cell.n = a.value("n", 0);
  cell.n_failed = a.value("n_failed", 0);
  if (a.contains("error") && a["error"].is_string()) cell.error = a["error"].get<std::string>();
  const bool none_scored = no_sample_scored(a);
  cell.flagged = cell.n_failed > 0 || none_scored;
  const double mean = number_from_json(a["mean"]);
  if (none_scored || std::isnan(mean)) return cell;
  cell.mean = mean;
  cell.text = format_fixed(mean, column.decimals);
  return cell;
}

std::vector<Row> table_rows(const RunIndex& index, const std::vector<Column>& columns) {
  std::set<std::pair<std::string, std::string>> present;
  for (const auto& [key, a] : index.aggregates) present.insert({std::get<0>(key), std::get<1>(key)});
  for (const auto& [key, l] : index.latency) present.insert(key);
  std::vector<Row> rows;
  for (const auto& bench : index.benches)
    for (const auto& method : index.methods) {
      if (!present.count({bench, method})) continue;
      Row row{bench, method, row_latency(index, bench, method), {}};
      for (const auto& column : columns) {
        const auto it = index.aggregates.find({bench, method, column.masks, column.metric});
        row.cells.push_back(aggregate_cell(it == index.aggregates.end() ? nullptr : it->second, column));
      }
      rows.push_back(row);
    }
  return rows;
}

// Best and second best in column `c` among one bench's rows, among the values shown (cells without a
// value and NaN never rank; infinity does).
void rank_column(std::vector<Row>& rows, size_t c, const Column& column, const std::string& bench) {
  std::vector<Cell*> cells;
  std::vector<double> values;
  for (auto& row : rows)
    if (row.bench == bench && row.cells[c].mean && !std::isnan(*row.cells[c].mean)) {
      cells.push_back(&row.cells[c]);
      values.push_back(displayed_value(*row.cells[c].mean, column.decimals));
    }
  if (cells.size() < 2) return;  // one method: nothing to compare
  std::vector<double> distinct = values;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (column.higher_is_better) std::reverse(distinct.begin(), distinct.end());
  for (size_t i = 0; i < cells.size(); ++i) {
    if (values[i] == distinct[0]) cells[i]->rank = 1;
    else if (distinct.size() > 1 && values[i] == distinct[1]) cells[i]->rank = 2;
  }
}

void rank_cells(Table& table, const std::vector<std::string>& benches) {
  for (size_t c = 0; c < table.columns.size(); ++c)
    for (const auto& bench : benches) rank_column(table.rows, c, table.columns[c], bench);
}

std::string conventions_note(const RunIndex& index) {
  std::string conventions;
  for (const auto& metric : index.metrics) {
    const auto it = index.metas.find(metric);
    if (it == index.metas.end()) continue;
    if (!conventions.empty()) conventions += "; ";
    conventions += metric_title(metric) + ": " + (it->second.convention.empty() ? metric : it->second.convention) +
                   " (v" + std::to_string(it->second.version) + ")";
  }
  return conventions.empty() ? std::string() : "Metric conventions: " + conventions + ".";
}

// The short form under each table: how many samples the medians hold and what they ran on; empty
// without latency.
std::string latency_footnote(const json& results) {
  if (!results.contains("latency") || !results["latency"].is_array() || results["latency"].empty()) return "";
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
  return note + ".";
}

// Samples per bench: the most any aggregate of the bench counts, scored or failed.
std::string samples_note(const RunIndex& index) {
  std::map<std::string, int> n_per_bench;
  for (const auto& [key, a] : index.aggregates) {
    int& bench_n = n_per_bench[std::get<0>(key)];
    bench_n = std::max(bench_n, a->value("n", 0) + a->value("n_failed", 0));
  }
  std::string counts;
  for (const auto& bench : index.benches)
    if (n_per_bench.count(bench))
      counts += (counts.empty() ? "" : ", ") + bench + " " + std::to_string(n_per_bench[bench]);
  return counts.empty() ? std::string() : "Samples per dataset: " + counts + ".";
}

// "† bench / method / mask setting: n of N samples scored (k failed)." for each row and mask setting
// with a flagged cell, in table order. The metrics are named when the note is not about every value of
// the mask setting: flagged cells differ in their counts, or others show values (a set-level metric
// that failed on its own, say).
std::vector<std::string> failure_notes(const Table& table) {
  struct Count {
    int n, n_failed;
    std::vector<std::string> metrics;
  };
  std::vector<std::string> notes;
  for (const auto& row : table.rows)
    for (const auto& mask : table.mask_groups) {
      std::vector<Count> counts;  // in column order
      bool unflagged_values = false, failed_metrics = false;
      for (size_t c = 0; c < table.columns.size(); ++c) {
        const Cell& cell = row.cells[c];
        if (table.columns[c].masks != mask) continue;
        if (!cell.flagged) {
          unflagged_values = unflagged_values || cell.mean.has_value();
          continue;
        }
        if (!cell.error.empty()) {  // a metric that failed on its own: say why, not a sample count
          notes.push_back(std::string(kDagger) + " " + row.bench + " / " + row.method + " / " + mask_group_title(mask) +
                          " (" + metric_title(table.columns[c].metric) + "): not computed: " + cell.error + ".");
          failed_metrics = true;
          continue;
        }
        auto it = std::find_if(counts.begin(), counts.end(),
                               [&](const Count& k) { return k.n == cell.n && k.n_failed == cell.n_failed; });
        if (it == counts.end()) it = counts.insert(counts.end(), Count{cell.n, cell.n_failed, {}});
        it->metrics.push_back(metric_title(table.columns[c].metric));
      }
      for (const auto& count : counts) {
        std::string note = std::string(kDagger) + " " + row.bench + " / " + row.method + " / " + mask_group_title(mask);
        if (counts.size() > 1 || unflagged_values || failed_metrics) {
          std::string names;
          for (const auto& name : count.metrics) names += (names.empty() ? "" : ", ") + name;
          note += " (" + names + ")";
        }
        note += ": " + std::to_string(count.n) + " of " + std::to_string(count.n + count.n_failed) + " samples scored";
        if (count.n_failed > 0) note += " (" + std::to_string(count.n_failed) + " failed)";
        notes.push_back(note + ".");
      }
    }
  return notes;
}

// What the numbers are, how they were measured, and what is missing.
std::vector<std::string> table_notes(const json& results, const RunIndex& index, const Table& table) {
  std::vector<std::string> notes;
  notes.push_back(std::string("Means over samples; ") + kUp + " higher is better, " + kDown +
                  " lower is better; best in bold, second best underlined per dataset and mask setting "
                  "(compared at the precision shown); " + kDash + " not computed.");
  const std::string protocol = string_field(results, "latency_protocol");
  for (const std::string& note : {conventions_note(index),
                                  protocol.empty() ? std::string() : "Latency (ms per image): " + protocol + ".",
                                  latency_footnote(results)})
    if (!note.empty()) notes.push_back(note);
  if (results.contains("skipped_metrics") && results["skipped_metrics"].is_array())
    for (const auto& s : results["skipped_metrics"])
      notes.push_back("Skipped " + metric_title(string_field(s, "metric")) + ": " + string_field(s, "reason") + ".");
  const std::string samples = samples_note(index);
  if (!samples.empty()) notes.push_back(samples);
  for (const auto& note : failure_notes(table)) notes.push_back(note);
  return notes;
}

}  // namespace

Table build_table(const json& results, const TableOptions& options) {
  const RunIndex index = index_run(results, options);
  Table table;
  table.mask_groups = index.masks;
  table.columns = table_columns(index);
  table.rows = table_rows(index, table.columns);
  rank_cells(table, index.benches);
  table.notes = table_notes(results, index, table);
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
      out += " " + text + (cell.flagged ? kDagger : "") + " |";
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
      {kDash, "---"}, {kUp, "$\\uparrow$"}, {kDown, "$\\downarrow$"}, {kInfinity, "$\\infty$"}, {kDagger, "$^\\dagger$"},
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
      out += " & " + (cell.rank == 1 ? "\\textbf{" + text + "}" : cell.rank == 2 ? "\\underline{" + text + "}" : text) +
             (cell.flagged ? "$^\\dagger$" : "");
    }
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}\n\\caption{" + latex_escape(table.notes.front());
  bool flagged = false;
  for (const auto& row : table.rows)
    for (const auto& cell : row.cells) flagged = flagged || cell.flagged;
  if (flagged) out += " $^\\dagger$: some samples failed or none was scored (see the notes).";
  out += "}\n\\end{table*}\n";
  return out;
}

std::string render_notes(const json& results, const TableOptions& options) {
  std::string out;
  for (const auto& note : build_table(results, options).notes) out += "- " + note + "\n";
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
    // No sample scored: the record's mean, std and interval are no values.
    const bool scored = !no_sample_scored(a);
    const json ci = scored ? a.value("ci95", json()) : json();
    const bool has_ci = ci.is_array() && ci.size() == 2;
    out += csv_field(string_field(a, "bench")) + "," + csv_field(string_field(a, "method")) + "," +
           csv_field(string_field(a, "masks")) + "," + csv_field(metric) + "," + csv_field(convention) + "," +
           (higher ? "true" : "false") + "," + (scored ? csv_number(a.value("mean", json())) : "") + "," +
           (scored ? csv_number(a.value("std", json())) : "") + "," + (has_ci ? csv_number(ci[0]) : "") + "," +
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

// The run's aggregates, with null for the mean, std and interval of an aggregate of no scored sample.
json reported_aggregates(const json& aggregates) {
  json reported = aggregates;
  for (auto& a : reported)
    if (no_sample_scored(a)) {
      a["mean"] = nullptr;
      a["std"] = nullptr;
      a["ci95"] = nullptr;
    }
  return reported;
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
                       {"rank", cell.rank}, {"n", cell.n}, {"n_failed", cell.n_failed}, {"flagged", cell.flagged}});
    }
    rows.push_back({{"bench", row.bench}, {"method", row.method},
                    {"latency_ms", row.latency_ms ? number_json(*row.latency_ms) : json(nullptr)}, {"cells", cells}});
  }
  return {{"format", "osor-report/1"},
          {"run_id", string_field(results, "run_id")},
          {"aggregates", reported_aggregates(aggregates_of(results))},
          {"table", {{"mask_groups", table.mask_groups}, {"columns", columns}, {"rows", rows}, {"notes", table.notes}}}};
}

}  // namespace osor::reports

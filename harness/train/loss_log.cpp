#include "harness/train/loss_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/error.h"

namespace osor::harness::train {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFixedColumns[] = {"step", "phase", "time_s", "it_per_s"};

std::string format_number(double v, int digits) {
  if (std::isnan(v)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::string header_line(const LossTable& t) {
  std::string s = "step,phase,time_s,it_per_s";
  for (const auto& term : t.terms) s += "," + term;
  return s + "\n";
}

std::string row_line(const LossTable& t, const LossRow& r) {
  std::string s = std::to_string(r.step) + "," + r.phase + "," + format_number(r.time_s, 10) + "," +
                  format_number(r.it_per_s, 6);
  for (const auto& term : t.terms) {
    s += ",";
    for (const auto& [name, value] : r.values)
      if (name == term) s += format_number(value, 9);
  }
  return s + "\n";
}

std::string csv_text(const LossTable& t) {
  std::string s = header_line(t);
  for (const auto& r : t.rows) s += row_line(t, r);
  return s;
}

double parse_double(const fs::path& path, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw HarnessError("loss log " + path.string() + ": '" + text + "' is not a number");
  return v;
}

// One data line → a row; nullopt when it has the wrong number of fields or a bad number (a line cut short).
std::optional<LossRow> parse_row(const fs::path& path, const LossTable& t, const std::string& line) {
  const std::vector<std::string> f = split(line, ',');
  if (f.size() != 4 + t.terms.size()) return std::nullopt;
  try {
    LossRow r;
    r.step = static_cast<int64_t>(parse_double(path, f[0]));
    r.phase = f[1];
    r.time_s = parse_double(path, f[2]);
    r.it_per_s = parse_double(path, f[3]);
    for (size_t i = 0; i < t.terms.size(); ++i)
      if (!f[4 + i].empty()) r.values.emplace_back(t.terms[i], parse_double(path, f[4 + i]));
    return r;
  } catch (const HarnessError&) {
    return std::nullopt;
  }
}

}  // namespace

LossTable read_loss_csv(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessError("loss log " + path.string() + ": cannot be read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  LossTable t;
  if (text.empty()) return t;
  std::vector<std::string> lines = split(text, '\n');
  const bool complete_last = text.back() == '\n';
  if (complete_last && !lines.empty() && lines.back().empty()) lines.pop_back();
  const std::vector<std::string> header = split(lines[0], ',');
  if (header.size() < 4 || !std::equal(header.begin(), header.begin() + 4, std::begin(kFixedColumns)))
    throw HarnessError("loss log " + path.string() + ": the header is not step,phase,time_s,it_per_s,...");
  t.terms.assign(header.begin() + 4, header.end());
  for (size_t i = 1; i < lines.size(); ++i) {
    const bool last = i + 1 == lines.size();
    std::optional<LossRow> row = parse_row(path, t, lines[i]);
    if (row && !(last && !complete_last)) {
      t.rows.push_back(std::move(*row));
    } else if (!last) {
      throw HarnessError("loss log " + path.string() + ": line " + std::to_string(i + 1) + " is malformed");
    }
  }
  return t;
}

LossLog::LossLog(const fs::path& out_dir, std::optional<int64_t> resume_step, PlotOptions plot)
    : out_dir_(out_dir), plot_(std::move(plot)) {
  fs::create_directories(out_dir_);
  const fs::path csv = csv_path();
  if (fs::exists(csv)) {
    table_ = read_loss_csv(csv);
    if (resume_step)
      table_.rows.erase(std::remove_if(table_.rows.begin(), table_.rows.end(),
                                       [&](const LossRow& r) { return r.step > *resume_step; }),
                        table_.rows.end());
    // Rewrite when rows were dropped (resume, or a torn last line): the file then matches the table again.
    std::ifstream in(csv, std::ios::binary);
    std::stringstream current;
    current << in.rdbuf();
    if (current.str() != csv_text(table_)) rewrite();
  } else {
    rewrite();
  }
  open_for_append();
}

LossLog::~LossLog() {
  if (fd_ >= 0) ::close(fd_);
}

fs::path LossLog::csv_path() const { return out_dir_ / "losses.csv"; }

void LossLog::rewrite() {
  write_file_atomic(csv_path(), csv_text(table_));
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    open_for_append();
  }
}

void LossLog::open_for_append() {
  fd_ = ::open(csv_path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw HarnessError("loss log " + csv_path().string() + ": cannot open: " + std::strerror(errno));
}

void LossLog::append(const LossRow& row) {
  if (row.phase.find_first_of(",\n\r") != std::string::npos)
    throw HarnessError("loss log: phase '" + row.phase + "' contains a comma or a line break");
  bool new_term = false;
  for (const auto& [name, value] : row.values) {
    if (name.empty() || name.find_first_of(",\n\r") != std::string::npos)
      throw HarnessError("loss log: term name '" + name + "' is empty or contains a comma or a line break");
    if (std::find(table_.terms.begin(), table_.terms.end(), name) == table_.terms.end()) {
      table_.terms.push_back(name);
      new_term = true;
    }
  }
  table_.rows.push_back(row);
  if (new_term) {
    rewrite();  // the header widens: the whole table, atomically
    return;
  }
  const std::string line = row_line(table_, row);
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw HarnessError("loss log " + csv_path().string() + ": write failed: " + std::strerror(errno));
    written += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0)
    throw HarnessError("loss log " + csv_path().string() + ": sync failed: " + std::strerror(errno));
}

void LossLog::render() const {
  write_file_atomic(out_dir_ / "losses.html", loss_page_html(table_, plot_));
  write_file_atomic(out_dir_ / "losses.svg", loss_plots_combined_svg(table_, plot_));
}

void LossLog::render_every(int64_t step, int64_t every) const {
  if (every > 0 && step % every == 0) render();
}

}  // namespace osor::harness::train

// The loss plots of loss_log.h: hand-written SVG, so the page opens anywhere with nothing to fetch.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "harness/train/loss_log.h"

namespace osor::harness::train {
namespace {

constexpr double kWidth = 760, kHeight = 280;
constexpr double kLeft = 78, kRight = 24, kTop = 34, kBottom = 48;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

std::string coordinate(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// About `count` tick values covering [lo, hi] at a step of 1, 2 or 5 × 10^k.
std::vector<double> nice_ticks(double lo, double hi, int count) {
  const double span = hi - lo;
  const double raw = span / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

struct Series {
  std::vector<double> x, y;  // y NaN where the term has no finite value
};

Series series_of(const LossTable& table, const std::string& term) {
  Series s;
  for (const LossRow& r : table.rows) {
    double v = std::numeric_limits<double>::quiet_NaN();
    for (const auto& [name, value] : r.values)
      if (name == term && std::isfinite(value)) v = value;
    s.x.push_back(static_cast<double>(r.step));
    s.y.push_back(v);
  }
  return s;
}

// Trailing mean over the last `window` finite values (NaN where there are none yet).
std::vector<double> moving_average(const std::vector<double>& y, int64_t window) {
  std::vector<double> out(y.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> recent;
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isfinite(y[i])) {
      recent.push_back(y[i]);
      sum += y[i];
      if (static_cast<int64_t>(recent.size()) > window) {
        sum -= recent[recent.size() - static_cast<size_t>(window) - 1];
      }
    }
    const size_t n = std::min(recent.size(), static_cast<size_t>(std::max<int64_t>(window, 1)));
    if (n > 0) out[i] = sum / static_cast<double>(n);
  }
  return out;
}

struct Frame {
  double x0, x1, y0, y1;
  double px(double x) const { return kLeft + (x - x0) / (x1 - x0) * (kWidth - kLeft - kRight); }
  double py(double y) const { return kHeight - kBottom - (y - y0) / (y1 - y0) * (kHeight - kTop - kBottom); }
};

Frame frame_of(const Series& s) {
  Frame f{0, 1, 0, 1};
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : s.y)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!s.x.empty()) f.x0 = s.x.front(), f.x1 = s.x.back();
  if (f.x1 <= f.x0) f.x1 = f.x0 + 1;
  if (std::isfinite(lo)) {
    const double pad = hi > lo ? 0.05 * (hi - lo) : std::max(std::abs(lo) * 0.05, 1e-12);
    f.y0 = lo - pad, f.y1 = hi + pad;
  }
  return f;
}

// Polylines broken at missing values.
std::string polylines(const Frame& f, const std::vector<double>& x, const std::vector<double>& y,
                      const std::string& style) {
  std::string out, points;
  auto flush = [&] {
    if (!points.empty()) out += "<polyline fill=\"none\" " + style + " points=\"" + points + "\"/>\n";
    points.clear();
  };
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(y[i])) {
      flush();
      continue;
    }
    points += (points.empty() ? "" : " ") + coordinate(f.px(x[i])) + "," + coordinate(f.py(y[i]));
  }
  flush();
  return out;
}

std::string axes(const Frame& f, const std::string& term) {
  std::ostringstream o;
  const double bottom = kHeight - kBottom, right = kWidth - kRight;
  o << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << right - kLeft << "\" height=\""
    << bottom - kTop << "\" fill=\"#fff\" stroke=\"#444\"/>\n";
  for (double t : nice_ticks(f.y0, f.y1, 5)) {
    const std::string y = coordinate(f.py(t));
    o << "<line x1=\"" << kLeft << "\" x2=\"" << right << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#e3e3e3\"/>\n<text x=\"" << kLeft - 6 << "\" y=\"" << y
      << "\" text-anchor=\"end\" dominant-baseline=\"middle\">" << number(t) << "</text>\n";
  }
  for (double t : nice_ticks(f.x0, f.x1, 6)) {
    const std::string x = coordinate(f.px(t));
    o << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << bottom << "\" y2=\"" << bottom + 5
      << "\" stroke=\"#444\"/>\n<text x=\"" << x << "\" y=\"" << bottom + 18 << "\" text-anchor=\"middle\">"
      << number(t) << "</text>\n";
  }
  o << "<text x=\"" << (kLeft + right) / 2 << "\" y=\"" << kHeight - 8 << "\" text-anchor=\"middle\">step</text>\n"
    << "<text x=\"" << kLeft << "\" y=\"" << kTop - 12 << "\" font-weight=\"bold\">" << escape(term) << "</text>\n";
  return o.str();
}

std::string legend(int64_t window) {
  std::ostringstream o;
  const double x = kWidth - kRight - 250, y = kTop - 16;
  o << "<line x1=\"" << x << "\" x2=\"" << x + 18 << "\" y1=\"" << y << "\" y2=\"" << y
    << "\" stroke=\"#9ecae1\" stroke-width=\"1.5\"/><text x=\"" << x + 22 << "\" y=\"" << y + 4 << "\">raw</text>\n";
  if (window > 1)
    o << "<line x1=\"" << x + 60 << "\" x2=\"" << x + 78 << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#08519c\" stroke-width=\"2.5\"/><text x=\"" << x + 82 << "\" y=\"" << y + 4
      << "\">moving average (" << window << ")</text>\n";
  return o.str();
}

std::string plot_body(const LossTable& table, const std::string& term, int64_t window) {
  const Series s = series_of(table, term);
  const Frame f = frame_of(s);
  std::string body = axes(f, term) + legend(window);
  body += polylines(f, s.x, s.y, "stroke=\"#9ecae1\" stroke-width=\"1.5\"");
  if (window > 1) body += polylines(f, s.x, moving_average(s.y, window), "stroke=\"#08519c\" stroke-width=\"2.5\"");
  return body;
}

std::string svg_open(double height) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << kWidth << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  return o.str();
}

}  // namespace

std::vector<std::string> loss_plots_svg(const LossTable& table, const PlotOptions& options) {
  std::vector<std::string> out;
  for (const std::string& term : table.terms)
    out.push_back(svg_open(kHeight) + "<title>" + escape(term) + "</title>\n" +
                  plot_body(table, term, options.moving_average) + "</svg>\n");
  return out;
}

std::string loss_plots_combined_svg(const LossTable& table, const PlotOptions& options) {
  std::string out = svg_open(kHeight * static_cast<double>(std::max<size_t>(table.terms.size(), 1)));
  out += "<title>" + escape(options.title) + "</title>\n";
  for (size_t i = 0; i < table.terms.size(); ++i)
    out += "<g transform=\"translate(0," + coordinate(kHeight * static_cast<double>(i)) + ")\">\n" +
           plot_body(table, table.terms[i], options.moving_average) + "</g>\n";
  return out + "</svg>\n";
}

std::string loss_page_html(const LossTable& table, const PlotOptions& options) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escape(options.title) << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}</style></head><body>\n"
    << "<h1>" << escape(options.title) << "</h1>\n";
  if (table.rows.empty()) {
    o << "<p>No steps logged yet.</p>\n";
  } else {
    const LossRow& last = table.rows.back();
    o << "<p>Step " << last.step << " (phase " << escape(last.phase) << "), " << number(last.time_s) << " s, "
      << number(last.it_per_s) << " it/s; " << table.rows.size() << " rows.</p>\n<table><tr><th>term</th><th>last</th>"
      << "<th>mean of last " << options.moving_average << "</th></tr>\n";
    for (const std::string& term : table.terms) {
      const Series s = series_of(table, term);
      const std::vector<double> avg = moving_average(s.y, std::max<int64_t>(options.moving_average, 1));
      o << "<tr><th>" << escape(term) << "</th><td>" << number(s.y.back()) << "</td><td>" << number(avg.back())
        << "</td></tr>\n";
    }
    o << "</table>\n";
  }
  for (const std::string& svg : loss_plots_svg(table, options)) o << "<div>\n" << svg << "</div>\n";
  o << "</body></html>\n";
  return o.str();
}

}  // namespace osor::harness::train

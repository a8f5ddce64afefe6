// Where a run keeps the small JPEG copies of the images its gallery shows (written by `osor eval` while it runs,
// harness/sample_pass.cpp): the page shows the thumbnail and opens the full image on click, so a benchmark-size
// gallery (hundreds of samples × several 1024² images) loads a few megabytes for its first screen instead of
// gigabytes. Paths are relative to the run folder:
//   a method's output  outputs/<bench>/<method>/<masks>/<id>.png  →  thumbs/outputs/<bench>/<method>/<masks>/<id>.jpg
//   a sample's input / ground truth                               →  thumbs/<bench>/input/<id>.jpg, thumbs/<bench>/gt/<id>.jpg
// A missing thumbnail (a run from an older osor, a resumed removal) makes the page show the full image instead.
#pragma once

#include <string>

namespace osor::reports {

constexpr int kThumbnailLongSide = 256;

// Of a run-relative output path; empty when `output` is not under outputs/.
std::string output_thumbnail(const std::string& output);

// Of a sample's input or ground truth: `role` is "input" or "gt".
std::string sample_thumbnail(const std::string& bench, const std::string& role, const std::string& id);

}  // namespace osor::reports

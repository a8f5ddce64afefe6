// The HTML gallery of a run: one self-contained page (inline CSS and JavaScript, no network) that
// shows, per sample (bench, mask setting, id), the input with the mask outlined, each method's output
// with its per-image metric values, and the ground truth; samples can be filtered by bench and mask
// setting and sorted by any per-image metric of any method.
//
// Images are linked, not embedded, by paths relative to the page, so the page works from file:// as
// long as it stays in the run folder. The mask outline is drawn by an SVG filter over the mask image
// (white = object, or black when the sample's "mask_polarity" is "black"): a canvas could not read the
// mask's pixels from file:// (tainted by the opaque origin), a filter renders them without reading.
//
// Sample record fields used: "bench", "masks", "id", "method", "status", "error", "output" (relative to
// the run folder), "latency_ms", "metrics", and where the runner writes them "input", "gt", "mask",
// "mask_polarity" (absolute or run-relative paths). What is absent is shown as "no image". A failed
// sample ("status": "failed") shows its error text and "—" for every metric, never a number (neither
// the values its record may hold nor its latency), so a method that failed everywhere reads as dashes.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace osor::reports {

// `run_dir`: the folder results.json is in (run-relative paths start there); `page_dir`: the folder
// the page will be written to (links are made relative to it).
std::string render_gallery(const nlohmann::json& results, const std::filesystem::path& run_dir,
                           const std::filesystem::path& page_dir);

// The link from `page_dir` to an image at `path` (absolute, or relative to `run_dir`), percent-encoded;
// empty for an empty path. A path on another root stays absolute (as a file:// URL).
std::string image_link(const std::string& path, const std::filesystem::path& run_dir,
                       const std::filesystem::path& page_dir);

}  // namespace osor::reports

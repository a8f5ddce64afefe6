// `osor weights fetch`: every manifest file that has a public download, fetched, verified and installed.
// Per file: the published file is downloaded to `<name>.part` (resumable, harness/http_download.h), its sha256 is
// checked against the manifest (in full, or as the prefix a torch-hub file name carries) before the `.part` is
// renamed into place, and a `.pth` is converted natively to the safetensors the loaders read (harness/
// weights_convert.h; the converted file's sha256 is checked too where the manifest pins it; the verified .pth is
// removed afterwards). A file already installed is kept (re-fetched when its pinned sha256 does not match).
// A failure (HTTP status, truncated transfer, sha256 mismatch naming both hashes) affects that file only.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model/weights_manifest.h"

namespace osor::harness {

struct WeightsFetchOptions {
  std::filesystem::path weights_dir;
  std::string mirror;  // when set, https://HOST/PATH is fetched from MIRROR/HOST/PATH
};

enum class FetchOutcome { Installed, AlreadyPresent, NoDownload, Failed };

struct WeightsFetchReport {
  std::string id;
  std::filesystem::path path;  // the installed file
  std::string url;             // what was (or would be) requested, after --mirror
  FetchOutcome outcome = FetchOutcome::Failed;
  std::string verification;    // e.g. "sha256 verified", "sha256 prefix 7be5be79 verified", "unverified: ..."
  std::string sha256;          // of the installed file, when one was written or checked
  std::string message;         // the error, or what happened
};

// "installed", "present", "no-download", "failed".
const char* fetch_outcome_name(FetchOutcome outcome);

// MIRROR/HOST/PATH for http(s)://HOST/PATH (a trailing '/' of the mirror is dropped); `url` when `mirror` is empty.
std::string mirror_url(const std::string& url, const std::string& mirror);

// Fetches one file; never throws for a problem of that file (the report says Failed and why).
WeightsFetchReport fetch_weights_file(const model::WeightsFileInfo& file, const WeightsFetchOptions& options);

// Fetches each file in order, calling `on_report` after each.
std::vector<WeightsFetchReport> fetch_weights(const std::vector<model::WeightsFileInfo>& files,
                                              const WeightsFetchOptions& options,
                                              const std::function<void(const WeightsFetchReport&)>& on_report = {});

}  // namespace osor::harness

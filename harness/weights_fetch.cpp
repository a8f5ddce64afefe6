#include "harness/weights_fetch.h"

#include "harness/error.h"
#include "harness/http_download.h"
#include "harness/sha256.h"
#include "harness/weights_convert.h"

namespace osor::harness {
namespace fs = std::filesystem;

const char* fetch_outcome_name(FetchOutcome outcome) {
  switch (outcome) {
    case FetchOutcome::Installed: return "installed";
    case FetchOutcome::AlreadyPresent: return "present";
    case FetchOutcome::NoDownload: return "no-download";
    default: return "failed";
  }
}

std::string mirror_url(const std::string& url, const std::string& mirror) {
  if (mirror.empty()) return url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) throw HarnessError("cannot mirror " + url + ": not an http(s) URL");
  std::string base = mirror;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + url.substr(scheme_end + 3);
}

namespace {

// The published file's expected sha256: the download's own, else (for a file installed as published) the
// installed file's.
std::string expected_source_sha256(const model::WeightsFileInfo& file) {
  if (!file.download.sha256.empty()) return file.download.sha256;
  return file.download.conversion == model::WeightsConversion::None ? file.sha256 : "";
}

// Checks `path` against the manifest; returns how it was verified, throws naming both hashes on a mismatch.
std::string verify_source(const model::WeightsFileInfo& file, const fs::path& path, const std::string& url) {
  const std::string expected = expected_source_sha256(file), actual = sha256_file(path);
  if (expected.empty()) return "unverified: the manifest pins no sha256 for " + url;
  const bool prefix = file.download.sha256_is_prefix && !file.download.sha256.empty();
  const bool ok = prefix ? actual.compare(0, expected.size(), expected) == 0 : actual == expected;
  if (!ok)
    throw HarnessError("sha256 mismatch for " + url + ": expected " + (prefix ? "prefix " : "") + expected + ", got " +
                       actual + " (the download is deleted)");
  return prefix ? "sha256 prefix " + expected + " verified (only the prefix is published)" : "sha256 verified";
}

void rename_into_place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) throw HarnessError("cannot rename " + from.string() + " to " + to.string() + ": " + ec.message());
}

// The published file, downloaded (or resumed) into `<target>.part`, verified, renamed to `target`.
std::string download_verified(const model::WeightsFileInfo& file, const std::string& url, const fs::path& target) {
  const fs::path part = target.string() + ".part";
  fs::create_directories(target.parent_path());
  download_to_part(url, part);
  std::string verification;
  try {
    verification = verify_source(file, part, url);
  } catch (const Error&) {
    fs::remove(part);  // resuming onto bytes of the wrong file could never succeed
    throw;
  }
  rename_into_place(part, target);
  return verification;
}

// Converts the verified .pth to `dest`, checking the converted file's sha256 where the manifest pins it.
std::string convert_into_place(const model::WeightsFileInfo& file, const fs::path& pth, const fs::path& dest) {
  const fs::path part = dest.string() + ".part";
  const CheckpointConversion c = convert_checkpoint_to_safetensors(pth, part, file.download.strip_prefix);
  if (!file.sha256.empty() && c.sha256 != file.sha256) {
    fs::remove(part);
    throw HarnessError("converted " + pth.string() + " has sha256 " + c.sha256 + ", the manifest pins " + file.sha256 +
                       " (the .pth is kept)");
  }
  rename_into_place(part, dest);
  fs::remove(pth);
  return c.sha256;
}

// A verified .pth left by an earlier fetch whose conversion failed is used again; anything else is downloaded.
std::string obtain_published_pth(const model::WeightsFileInfo& file, const std::string& url, const fs::path& target) {
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) {
    try {
      return verify_source(file, target, url) + " (kept from an earlier fetch)";
    } catch (const Error&) {
      fs::remove(target);
    }
  }
  return download_verified(file, url, target);
}

fs::path published_file_path(const std::string& url, const fs::path& dest) {
  const std::string name = url.substr(url.find_last_of('/') + 1);
  return dest.parent_path() / (name.empty() ? dest.filename().string() + ".source" : name);
}

}  // namespace

WeightsFetchReport fetch_weights_file(const model::WeightsFileInfo& file, const WeightsFetchOptions& options) {
  WeightsFetchReport r{file.id, options.weights_dir / file.relative_path, "", FetchOutcome::Failed, "", "", ""};
  if (file.download.url.empty()) {
    r.outcome = FetchOutcome::NoDownload;
    r.message = "no public download; get it from " + file.source;
    return r;
  }
  try {
    r.url = mirror_url(file.download.url, options.mirror);
    std::error_code ec;
    if (fs::is_regular_file(r.path, ec)) {
      r.sha256 = sha256_file(r.path);
      if (file.sha256.empty() || r.sha256 == file.sha256) {
        r.outcome = FetchOutcome::AlreadyPresent;
        r.verification = file.sha256.empty() ? "unverified: the manifest pins no sha256 for it" : "sha256 verified";
        r.message = "already installed; kept";
        return r;
      }
    }
    const bool convert = file.download.conversion == model::WeightsConversion::PthToSafetensors;
    const fs::path target = convert ? published_file_path(r.url, r.path) : r.path;
    r.verification = convert ? obtain_published_pth(file, r.url, target) : download_verified(file, r.url, target);
    r.sha256 = convert ? convert_into_place(file, target, r.path) : sha256_file(r.path);
    r.outcome = FetchOutcome::Installed;
    r.message = convert ? "downloaded and converted to safetensors" : "downloaded";
  } catch (const std::exception& e) {
    r.outcome = FetchOutcome::Failed;
    r.message = e.what();
  }
  return r;
}

std::vector<WeightsFetchReport> fetch_weights(const std::vector<model::WeightsFileInfo>& files,
                                              const WeightsFetchOptions& options,
                                              const std::function<void(const WeightsFetchReport&)>& on_report) {
  std::vector<WeightsFetchReport> reports;
  for (const auto& file : files) {
    reports.push_back(fetch_weights_file(file, options));
    if (on_report) on_report(reports.back());
  }
  return reports;
}

}  // namespace osor::harness

// osor weights check: every file of the weights manifest and what is known of it. "verified": present and its
// sha256 matches the one the manifest pins; "present": a file of that name exists but the manifest pins no sha256,
// so its content is unverified (any file of the right name passes); "missing"; "sha256-mismatch".
// Exit code 1 when a file is missing or mismatched, and with --strict also when one is only present.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/sha256.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct WeightsArgs {
  std::string weights;
  bool json = false, strict = false;
};

enum class FileStatus { Verified, Present, Missing, Mismatch };

const char* status_name(FileStatus status) {
  switch (status) {
    case FileStatus::Verified: return "verified";
    case FileStatus::Present: return "present";
    case FileStatus::Missing: return "missing";
    default: return "sha256-mismatch";
  }
}

FileStatus file_status(const model::WeightsFileInfo& w, const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return FileStatus::Missing;
  if (w.sha256.empty()) return FileStatus::Present;
  return harness::sha256_file(path) == w.sha256 ? FileStatus::Verified : FileStatus::Mismatch;
}

struct StatusCounts {
  int verified = 0, present = 0, missing = 0, mismatch = 0;
  void add(FileStatus s) {
    int& count = s == FileStatus::Verified ? verified
                 : s == FileStatus::Present ? present
                 : s == FileStatus::Missing ? missing
                                            : mismatch;
    ++count;
  }
  // An unverified file is accepted unless --strict: no hash is pinned yet for most files, and refusing them
  // all would make the check useless; --strict is for a machine whose weights must be exactly the published ones.
  bool ok(bool strict) const { return missing == 0 && mismatch == 0 && (!strict || present == 0); }
};

void print_row(const model::WeightsFileInfo& w, FileStatus status) {
  std::printf("%-16s %-28s %s  (%s)\n", status_name(status), w.id.c_str(), w.relative_path.c_str(), w.needed_by.c_str());
  if (status == FileStatus::Present) std::printf("%-16s %-28s unverified: the manifest pins no sha256 for it\n", "", "");
  if (status == FileStatus::Missing) std::printf("%-16s %-28s get it from %s\n", "", "", w.source.c_str());
  if (status == FileStatus::Mismatch) std::printf("%-16s %-28s expected sha256 %s\n", "", "", w.sha256.c_str());
}

void print_summary(const StatusCounts& c, bool strict) {
  std::printf("summary: %d verified, %d present-unverified, %d missing, %d sha256-mismatch%s\n", c.verified, c.present,
              c.missing, c.mismatch, strict ? " (--strict: present-unverified files fail the check)" : "");
}

void run_check(const WeightsArgs& args) {
  const std::filesystem::path dir = model::resolve_weights_dir(args.weights);
  nlohmann::json rows = nlohmann::json::array();
  StatusCounts counts;
  if (!args.json) std::printf("# weights folder %s\n", dir.string().c_str());
  for (const auto& w : model::weights_manifest()) {
    const std::filesystem::path path = dir / w.relative_path;
    const FileStatus status = file_status(w, path);
    counts.add(status);
    if (args.json) {
      rows.push_back({{"id", w.id}, {"file", w.relative_path}, {"path", path.string()}, {"status", status_name(status)},
                      {"verified", status == FileStatus::Verified}, {"needed_by", w.needed_by},
                      {"source", w.source}, {"sha256", w.sha256}});
    } else {
      print_row(w, status);
    }
  }
  const bool ok = counts.ok(args.strict);
  if (args.json) {
    const nlohmann::json summary = {{"verified", counts.verified}, {"present_unverified", counts.present},
                                    {"missing", counts.missing}, {"sha256_mismatch", counts.mismatch}};
    std::printf("%s\n", nlohmann::json{{"weights_dir", dir.string()}, {"files", rows}, {"summary", summary},
                                       {"strict", args.strict}, {"ok", ok}}.dump(2).c_str());
  } else {
    print_summary(counts, args.strict);
  }
  if (!ok) throw ExitStatus{1};
}

void add_weights_command(CLI::App& app) {
  auto args = std::make_shared<WeightsArgs>();
  CLI::App* cmd = app.add_subcommand("weights", "Weights files: `osor weights check`");
  cmd->require_subcommand(1);
  CLI::App* check = cmd->add_subcommand(
      "check",
      "List every weights file of the manifest as verified (sha256 matches), present (no sha256 pinned: unverified), "
      "missing or sha256-mismatch, then a summary line. Exit code 1 when a file is missing or mismatched (with "
      "--strict also when one is only present), else 0");
  add_weights_option(*check, args->weights);
  add_json_flag(*check, args->json, "a status per file, the summary counts and ok");
  check->add_flag("--strict", args->strict, "also fail (exit 1) when a file is present but unverified");
  check->callback([args] { run_check(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("weights", add_weights_command);

}  // namespace osor::cli

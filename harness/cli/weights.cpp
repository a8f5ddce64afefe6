// osor weights check | fetch | convert.
// check: every file of the weights manifest and what is known of it. "verified": present and its sha256 matches the
// one the manifest pins; "present": a file of that name exists but the manifest pins no sha256, so its content is
// unverified (any file of the right name passes); "missing"; "sha256-mismatch". Exit code 1 when a file is missing
// or mismatched, and with --strict also when one is only present.
// fetch: downloads, verifies and converts the manifest's files (harness/weights_fetch.h); exit code 1 when any
// failed, after trying all of them.
// convert: one .pth to safetensors, natively (harness/weights_convert.h); prints the output's sha256.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/http_download.h"
#include "harness/sha256.h"
#include "harness/weights_convert.h"
#include "harness/weights_fetch.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct WeightsArgs {
  std::string weights;
  bool json = false, strict = false;
  std::vector<std::string> only;  // fetch --only ID...
  std::string mirror;             // fetch --mirror URL
  std::string input, out, strip_prefix;  // convert IN --out OUT --strip-prefix P
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

std::vector<model::WeightsFileInfo> files_to_fetch(const std::vector<std::string>& only) {
  if (only.empty()) return model::weights_manifest();
  std::vector<model::WeightsFileInfo> files;
  for (const auto& id : only) files.push_back(model::weights_file_info(id));  // throws listing the known ids
  return files;
}

void print_fetch_row(const harness::WeightsFetchReport& r) {
  std::printf("%-12s %-28s %s\n", harness::fetch_outcome_name(r.outcome), r.id.c_str(), r.path.string().c_str());
  if (!r.verification.empty()) std::printf("%-12s %-28s %s\n", "", "", r.verification.c_str());
  if (!r.message.empty()) std::printf("%-12s %-28s %s\n", "", "", r.message.c_str());
  // The installed file's hash, so that an unpinned one can be pinned in the manifest from this line.
  if (!r.sha256.empty()) std::printf("%-12s %-28s sha256 %s\n", "", "", r.sha256.c_str());
  std::fflush(stdout);
}

nlohmann::json fetch_row_json(const harness::WeightsFetchReport& r) {
  return {{"id", r.id},         {"path", r.path.string()},         {"url", r.url},
          {"status", harness::fetch_outcome_name(r.outcome)}, {"verification", r.verification},
          {"sha256", r.sha256}, {"message", r.message}};
}

void run_fetch(const WeightsArgs& args) {
  if (!harness::http_downloader_available())
    throw HarnessError("osor weights fetch: this build has no downloader (built without libcurl: install "
                       "libcurl4-openssl-dev and reconfigure with -DOSOR_WITH_CURL=ON)");
  const std::vector<model::WeightsFileInfo> files = files_to_fetch(args.only);
  const harness::WeightsFetchOptions options{model::resolve_weights_dir(args.weights), args.mirror};
  if (!args.json) std::printf("# weights folder %s\n", options.weights_dir.string().c_str());
  const auto reports = harness::fetch_weights(files, options, [&](const harness::WeightsFetchReport& r) {
    if (!args.json) print_fetch_row(r);
  });
  int failed = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : reports) {
    failed += r.outcome == harness::FetchOutcome::Failed ? 1 : 0;
    rows.push_back(fetch_row_json(r));
  }
  if (args.json)
    std::printf("%s\n", nlohmann::json{{"weights_dir", options.weights_dir.string()}, {"files", rows},
                                       {"failed", failed}, {"ok", failed == 0}}.dump(2).c_str());
  else
    std::printf("summary: %zu files, %d failed\n", reports.size(), failed);
  if (failed > 0) throw ExitStatus{1};
}

void run_convert(const WeightsArgs& args) {
  const harness::CheckpointConversion c =
      harness::convert_checkpoint_to_safetensors(args.input, args.out, args.strip_prefix);
  for (const auto& s : c.skipped) std::fprintf(stderr, "osor: skipped non-tensor value %s\n", s.c_str());
  std::printf("%s: %zu tensors from %s (%s format), sha256 %s\n", args.out.c_str(), c.tensors, args.input.c_str(),
              c.format.c_str(), c.sha256.c_str());
}

void add_fetch_command(CLI::App& cmd, const std::shared_ptr<WeightsArgs>& args) {
  CLI::App* fetch = cmd.add_subcommand(
      "fetch",
      "Download every manifest file that has a public source (or those of --only), resuming a <file>.part, check its "
      "sha256 before renaming it into place, and convert .pth files to safetensors natively. Exit code 1 when any "
      "file failed (the others are still fetched)");
  fetch->add_option("--only", args->only, "fetch only these manifest ids (see `osor weights check`)");
  add_weights_option(*fetch, args->weights);
  fetch->add_option("--mirror", args->mirror,
                    "fetch https://HOST/PATH from URL/HOST/PATH instead (a mirror for machines without internet)");
  add_json_flag(*fetch, args->json, "a status per file, then failed and ok");
  fetch->callback([args] { run_fetch(*args); });
}

void add_convert_command(CLI::App& cmd, const std::shared_ptr<WeightsArgs>& args) {
  CLI::App* convert = cmd.add_subcommand(
      "convert",
      "Convert a PyTorch checkpoint (.pth: zip or legacy format, read without Python; nested dicts flattened with "
      "'.') to safetensors, deterministically (sorted keys, fixed metadata), and print the output's sha256");
  convert->add_option("input", args->input, "the .pth file")->required();
  convert->add_option("--out", args->out, "the .safetensors file to write")->required();
  convert->add_option("--strip-prefix", args->strip_prefix, "remove this prefix from every key that has it "
                                                            "(e.g. 'module.' or 'state_dict.')");
  convert->callback([args] { run_convert(*args); });
}

void add_weights_command(CLI::App& app) {
  auto args = std::make_shared<WeightsArgs>();
  CLI::App* cmd = app.add_subcommand("weights", "Weights files: `osor weights check | fetch | convert`");
  cmd->require_subcommand(1);
  add_fetch_command(*cmd, args);
  add_convert_command(*cmd, args);
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

// End-to-end: `osor weights check` keeps "present" (a file of the right name, no sha256 pinned, so unverified)
// apart from "verified", counts each status in a summary line, exits 1 when a file is missing, and with
// --strict also when one is only present.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/weights_manifest.h"
#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::test::run_osor;

TEST_CASE("osor weights check: present is not verified, a missing file exits 1, --strict also fails unverified files") {
  const fs::path dir = osor::test::scratch_dir("cli_weights_check");
  const auto& manifest = osor::model::weights_manifest();
  const int n = static_cast<int>(manifest.size());
  const auto& alexnet = osor::model::weights_file_info("alexnet");
  REQUIRE(alexnet.sha256.empty());  // an empty file is "present" only while the manifest pins no hash for it
  { std::ofstream touch(dir / alexnet.relative_path); }
  const std::string check = "weights check --weights " + dir.string();

  auto r = run_osor(check + " --json");
  CAPTURE(r.err);
  CHECK(r.exit_code == 1);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["files"].size() == manifest.size());
  for (const auto& row : j["files"]) {
    CAPTURE(row.dump());
    CHECK(row["status"] == (row["id"] == "alexnet" ? "present" : "missing"));
    CHECK(row["verified"] == false);
  }
  const nlohmann::json summary = {{"verified", 0}, {"present_unverified", 1}, {"missing", n - 1}, {"sha256_mismatch", 0}};
  CHECK(j["summary"] == summary);
  CHECK(j["ok"] == false);
  CHECK(j["strict"] == false);

  r = run_osor(check);
  CHECK(r.exit_code == 1);
  CHECK(r.err.empty());
  CHECK(r.out.find("summary: 0 verified, 1 present-unverified, " + std::to_string(n - 1) + " missing, 0 sha256-mismatch\n") !=
        std::string::npos);
  CHECK(r.out.find("unverified: the manifest pins no sha256 for it") != std::string::npos);

  // Every file present: accepted by default, refused by --strict while any is unverified. An empty file cannot
  // match a pinned hash, so a pinned entry (none today) is a mismatch.
  int pinned = 0;
  for (const auto& f : manifest) {
    fs::create_directories((dir / f.relative_path).parent_path());
    { std::ofstream touch(dir / f.relative_path); }
    pinned += f.sha256.empty() ? 0 : 1;
  }
  r = run_osor(check);
  CHECK(r.exit_code == (pinned ? 1 : 0));
  CHECK(r.out.find("summary: 0 verified, " + std::to_string(n - pinned) + " present-unverified, 0 missing, " +
                   std::to_string(pinned) + " sha256-mismatch\n") != std::string::npos);
  r = run_osor(check + " --strict");
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("(--strict: present-unverified files fail the check)") != std::string::npos);
  r = run_osor(check + " --strict --json");
  CHECK(r.exit_code == 1);
  const auto strict = nlohmann::json::parse(r.out);
  CHECK(strict["strict"] == true);
  CHECK(strict["ok"] == false);
  CHECK(strict["summary"]["present_unverified"] == n - pinned);
}

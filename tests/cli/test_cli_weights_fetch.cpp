// End-to-end: `osor weights convert` writes the same safetensors (and prints its sha256) on every run, and
// `osor weights fetch --mirror` requests MIRROR/HOST/PATH for a real manifest entry and fails (exit 1) on a file
// whose sha256 does not match the pinned one, naming the URL and both hashes.
#include <doctest/doctest.h>

#include <string>

#include "harness/http_download.h"
#include "harness/sha256.h"
#include "model/weights_manifest.h"
#include "tests/cli/osor_command.h"
#include "tests/http_test_server.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::test::run_osor;

TEST_CASE("osor weights convert: a legacy .pth becomes safetensors, the same bytes on every run, sha256 printed") {
  const fs::path dir = osor::test::process_scratch_dir("cli_weights_convert");
  const fs::path in = osor::test::fixtures_dir() / "checkpoints" / "legacy_nested.pth";
  std::string first_sha;
  for (const std::string name : {"a.safetensors", "b.safetensors"}) {
    const auto r = run_osor("weights convert " + in.string() + " --out " + (dir / name).string() +
                            " --strip-prefix state_dict.");
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string sha = osor::harness::sha256_file(dir / name);
    CHECK(r.out.find("3 tensors from " + in.string() + " (legacy format), sha256 " + sha) != std::string::npos);
    CHECK(r.err.find("skipped non-tensor value epoch (int)") != std::string::npos);
    if (first_sha.empty()) first_sha = sha;
    CHECK(sha == first_sha);
  }
  const auto bad = run_osor("weights convert " + (osor::test::fixtures_dir() / "checkpoints" / "checkpoints.json").string() +
                            " --out " + (dir / "c.safetensors").string());
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("neither a zip archive nor a legacy torch.save stream") != std::string::npos);
}

TEST_CASE("osor weights fetch --mirror: requests MIRROR/HOST/PATH, a wrong file fails with both hashes, exit 1") {
  const fs::path dir = osor::test::process_scratch_dir("cli_weights_fetch");
  if (!osor::harness::http_downloader_available()) {
    const auto r = run_osor("weights fetch --only alexnet --weights " + dir.string());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("this build has no downloader") != std::string::npos);
    return;
  }
  const std::string body = "not alexnet";
  osor::test::HttpTestServer server(
      [&](const osor::test::HttpRequest&) { return osor::test::HttpResponse{200, body, -1, ""}; });
  const auto& alexnet = osor::model::weights_file_info("alexnet");
  const auto r = run_osor("weights fetch --only alexnet --weights " + dir.string() + " --mirror " + server.url());
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exit_code == 1);
  const std::string url = server.url() + "/download.pytorch.org/models/alexnet-owt-7be5be79.pth";
  CHECK(server.requests().at(0).path == "/download.pytorch.org/models/alexnet-owt-7be5be79.pth");
  CHECK(r.out.find("sha256 mismatch for " + url + ": expected " + alexnet.download.sha256 + ", got " +
                   osor::harness::sha256_hex(body.data(), body.size())) != std::string::npos);
  CHECK(r.out.find("summary: 1 files, 1 failed") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / alexnet.relative_path));
}

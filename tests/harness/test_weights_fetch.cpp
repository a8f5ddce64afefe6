// harness/weights_fetch against a local HTTP server (tests/http_test_server.h): the right file is verified and
// renamed into place, a wrong one names both hashes and leaves nothing, a truncated answer keeps its bytes and the
// next fetch resumes with Range, a server that ignores Range restarts from 0, a 404 names the URL and the status
// without stopping the other files, --mirror maps the URL, and a .pth is converted natively.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "harness/http_download.h"
#include "harness/sha256.h"
#include "harness/weights_fetch.h"
#include "model/io/safetensors.h"
#include "tests/http_test_server.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::harness::FetchOutcome;
using osor::harness::WeightsFetchOptions;
using osor::model::WeightsFileInfo;
using osor::test::HttpRequest;
using osor::test::HttpResponse;
using osor::test::HttpTestServer;

namespace {

const std::string kBody = std::string(5000, 'w') + "weights" + std::string(3000, 'z');

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

WeightsFileInfo entry(const std::string& id, const std::string& url, const std::string& sha256) {
  WeightsFileInfo w{id, id + ".bin", "a test", "the test server", "", "", {}};
  w.download.url = url;
  w.download.sha256 = sha256;
  return w;
}

// Skips the calling test (after saying so) when this build has no downloader.
bool downloader_or_skip() {
  if (osor::harness::http_downloader_available()) return true;
  MESSAGE("SKIPPED: this build has no downloader (OSOR_WITH_CURL off)");
  return false;
}

}  // namespace

TEST_CASE("weights fetch: the right file is verified and installed, a wrong hash names both and leaves nothing") {
  if (!downloader_or_skip()) return;
  HttpTestServer server([](const HttpRequest&) { return HttpResponse{200, kBody, -1, ""}; });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_hash");
  const std::string sha = osor::harness::sha256_hex(kBody.data(), kBody.size());
  const WeightsFetchOptions options{dir, ""};

  auto r = osor::harness::fetch_weights_file(entry("good", server.url() + "/good.bin", sha), options);
  CAPTURE(r.message);
  CHECK(r.outcome == FetchOutcome::Installed);
  CHECK(r.verification == "sha256 verified");
  CHECK((read_text(dir / "good.bin") == kBody));
  CHECK_FALSE(fs::exists(dir / "good.bin.part"));

  const std::string wrong(64, 'a');
  r = osor::harness::fetch_weights_file(entry("bad", server.url() + "/bad.bin", wrong), options);
  CHECK(r.outcome == FetchOutcome::Failed);
  CHECK(r.message.find("sha256 mismatch for " + server.url() + "/bad.bin: expected " + wrong + ", got " + sha) !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir / "bad.bin"));
  CHECK_FALSE(fs::exists(dir / "bad.bin.part"));

  // A prefix (torch hub file names carry 8 hex digits) is checked as a prefix and reported as one.
  WeightsFileInfo prefixed = entry("prefixed", server.url() + "/p.bin", sha.substr(0, 8));
  prefixed.download.sha256_is_prefix = true;
  r = osor::harness::fetch_weights_file(prefixed, options);
  CHECK(r.outcome == FetchOutcome::Installed);
  CHECK(r.verification.find("sha256 prefix " + sha.substr(0, 8) + " verified") != std::string::npos);
}

TEST_CASE("weights fetch: a truncated answer fails and keeps its bytes, the next fetch resumes with Range") {
  if (!downloader_or_skip()) return;
  int calls = 0;
  HttpTestServer server([&](const HttpRequest& request) {
    if (++calls == 1) return HttpResponse{200, kBody.substr(0, 3000), static_cast<long long>(kBody.size()), ""};
    return osor::test::serve_with_range(request, kBody);
  });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_resume");
  const WeightsFileInfo w = entry("resume", server.url() + "/resume.bin", osor::harness::sha256_hex(kBody.data(), kBody.size()));

  auto r = osor::harness::fetch_weights_file(w, {dir, ""});
  CHECK(r.outcome == FetchOutcome::Failed);
  CHECK(r.message.find("download of " + w.download.url + " truncated") != std::string::npos);
  CHECK(fs::file_size(dir / "resume.bin.part") == 3000);
  CHECK_FALSE(fs::exists(dir / "resume.bin"));

  r = osor::harness::fetch_weights_file(w, {dir, ""});
  CAPTURE(r.message);
  CHECK(r.outcome == FetchOutcome::Installed);
  CHECK((read_text(dir / "resume.bin") == kBody));
  const auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].range.empty());
  CHECK(requests[1].range == "bytes=3000-");
}

TEST_CASE("weights fetch: a server that ignores Range restarts the file from 0") {
  if (!downloader_or_skip()) return;
  HttpTestServer server([](const HttpRequest&) { return HttpResponse{200, kBody, -1, ""}; });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_no_range");
  std::ofstream(dir / "full.bin.part") << "stale bytes of an earlier try";
  const auto r = osor::harness::fetch_weights_file(
      entry("full", server.url() + "/full.bin", osor::harness::sha256_hex(kBody.data(), kBody.size())), {dir, ""});
  CAPTURE(r.message);
  CHECK(r.outcome == FetchOutcome::Installed);
  CHECK((read_text(dir / "full.bin") == kBody));
  CHECK(server.requests().at(0).range == "bytes=29-");
}

TEST_CASE("weights fetch: a 404 names the URL and the status, the other files are still fetched") {
  if (!downloader_or_skip()) return;
  HttpTestServer server([](const HttpRequest& request) {
    return request.path == "/missing.bin" ? HttpResponse{404, "not here", -1, ""} : HttpResponse{200, kBody, -1, ""};
  });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_404");
  WeightsFileInfo manual{"manual", "manual.bin", "a test", "ask a colleague", "", "", {}};
  const auto reports = osor::harness::fetch_weights(
      {entry("missing", server.url() + "/missing.bin", ""), entry("present", server.url() + "/present.bin", ""), manual},
      {dir, ""});
  REQUIRE(reports.size() == 3);
  CHECK(reports[0].outcome == FetchOutcome::Failed);
  CHECK(reports[0].message == "download of " + server.url() + "/missing.bin failed: HTTP 404");
  CHECK_FALSE(fs::exists(dir / "missing.bin.part"));
  CHECK(reports[1].outcome == FetchOutcome::Installed);
  CHECK(reports[1].verification.find("unverified") == 0);
  CHECK(reports[2].outcome == FetchOutcome::NoDownload);
  CHECK(reports[2].message == "no public download; get it from ask a colleague");
}

TEST_CASE("weights fetch: --mirror maps https://HOST/PATH to MIRROR/HOST/PATH") {
  CHECK(osor::harness::mirror_url("https://download.pytorch.org/models/a.pth", "http://m.local/w/") ==
        "http://m.local/w/download.pytorch.org/models/a.pth");
  CHECK(osor::harness::mirror_url("https://x.org/a", "") == "https://x.org/a");
  if (!downloader_or_skip()) return;
  HttpTestServer server([](const HttpRequest&) { return HttpResponse{200, kBody, -1, ""}; });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_mirror");
  const auto r = osor::harness::fetch_weights_file(entry("m", "https://example.org/models/m.bin", ""), {dir, server.url()});
  CAPTURE(r.message);
  CHECK(r.outcome == FetchOutcome::Installed);
  CHECK(r.url == server.url() + "/example.org/models/m.bin");
  CHECK(server.requests().at(0).path == "/example.org/models/m.bin");
}

TEST_CASE("weights fetch: a .pth is verified, converted natively to safetensors and removed") {
  if (!downloader_or_skip()) return;
  const std::string pth = read_text(osor::test::fixtures_dir() / "checkpoints" / "legacy_nested.pth");
  HttpTestServer server([&](const HttpRequest&) { return HttpResponse{200, pth, -1, ""}; });
  const fs::path dir = osor::test::process_scratch_dir("weights_fetch_convert");
  WeightsFileInfo w = entry("nested", server.url() + "/ckpt/nested-1234.pth", osor::harness::sha256_hex(pth.data(), pth.size()));
  w.relative_path = "nested.safetensors";
  w.download.conversion = osor::model::WeightsConversion::PthToSafetensors;
  w.download.strip_prefix = "state_dict.";
  const auto r = osor::harness::fetch_weights_file(w, {dir, ""});
  CAPTURE(r.message);
  REQUIRE(r.outcome == FetchOutcome::Installed);
  CHECK(r.sha256 == osor::harness::sha256_file(dir / "nested.safetensors"));
  CHECK_FALSE(fs::exists(dir / "nested-1234.pth"));
  const auto st = osor::model::SafetensorsFile::open(dir / "nested.safetensors");
  CHECK(st.names().size() == 3);
  CHECK(st.contains("conv.weight"));
  CHECK(st.contains("conv.bias"));
  CHECK(st.contains("7"));
  CHECK((st.metadata() == std::map<std::string, std::string>{{"format", "pt"}}));

  // Installed and unpinned: a second fetch keeps it and says it is unverified.
  const auto again = osor::harness::fetch_weights_file(w, {dir, ""});
  CHECK(again.outcome == FetchOutcome::AlreadyPresent);
  CHECK(server.requests().size() == 1);
}

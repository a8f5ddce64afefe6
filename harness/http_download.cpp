#include "harness/http_download.h"

#include "harness/error.h"

#ifdef OSOR_WITH_CURL
#include <curl/curl.h>

#include <cstdio>
#include <fstream>
#endif

namespace osor::harness {

#ifndef OSOR_WITH_CURL

bool http_downloader_available() { return false; }

HttpDownload download_to_part(const std::string& url, const std::filesystem::path&) {
  throw HarnessError("cannot download " + url + ": this build of osor has no downloader (configured without "
                     "libcurl; install libcurl4-openssl-dev and reconfigure with -DOSOR_WITH_CURL=ON), or download "
                     "the file yourself into the weights folder");
}

#else

namespace {

// Where the body goes: the .part opened on the first bytes, appending after a 206, from 0 after a 200; the body of
// an error answer is dropped.
struct PartSink {
  CURL* curl = nullptr;
  std::filesystem::path path;
  uint64_t offset = 0;
  FILE* file = nullptr;
  long status = 0;
  bool opened = false, open_failed = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  PartSink& sink = *static_cast<PartSink*>(user);
  if (!sink.file) {
    curl_easy_getinfo(sink.curl, CURLINFO_RESPONSE_CODE, &sink.status);
    if (sink.status == 200) sink.offset = 0;
    else if (sink.status != 206) return size * count;
    sink.file = std::fopen(sink.path.c_str(), sink.offset > 0 ? "ab" : "wb");
    sink.opened = sink.file != nullptr;
    if (!sink.file) {
      sink.open_failed = true;
      return 0;  // aborts the transfer
    }
  }
  return std::fwrite(data, size, count, sink.file) * size;
}

uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

void configure(CURL* curl, const std::string& url, PartSink& sink, std::string& range, char* error_text) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "osor-weights-fetch");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // give up after 60 s without a byte
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  if (sink.offset > 0) {
    range = std::to_string(sink.offset) + "-";
    curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  }
}

// One request; returns the HTTP status, throws on transfer errors.
long request_once(const std::string& url, PartSink& sink) {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CURL* curl = initialised ? curl_easy_init() : nullptr;
  if (!curl) throw HarnessError("cannot download " + url + ": libcurl failed to initialise");
  sink.curl = curl;
  std::string range;
  char error_text[CURL_ERROR_SIZE] = "";
  configure(curl, url, sink, range, error_text);
  const CURLcode code = curl_easy_perform(curl);
  if (sink.status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &sink.status);
  curl_off_t expected = -1;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
  curl_easy_cleanup(curl);
  if (sink.file) std::fclose(sink.file);
  sink.file = nullptr;
  if (sink.open_failed) throw HarnessError("cannot download " + url + ": cannot write " + sink.path.string());
  if (code == CURLE_PARTIAL_FILE)
    throw HarnessError("download of " + url + " truncated: the server announced " + std::to_string(expected) +
                       " bytes and closed the connection early; " + std::to_string(file_size_or_zero(sink.path)) +
                       " bytes are kept in " + sink.path.string() + " and the next fetch resumes from there");
  if (code != CURLE_OK)
    throw HarnessError("download of " + url + " failed: " + (*error_text ? error_text : curl_easy_strerror(code)));
  return sink.status;
}

}  // namespace

bool http_downloader_available() { return true; }

HttpDownload download_to_part(const std::string& url, const std::filesystem::path& part) {
  HttpDownload result;
  for (int attempt = 0; attempt < 2; ++attempt) {
    PartSink sink;
    sink.path = part;
    sink.offset = file_size_or_zero(part);
    result.resumed_from = sink.offset;
    result.http_status = request_once(url, sink);
    if (result.http_status == 416 && sink.offset > 0 && attempt == 0) {
      std::filesystem::remove(part);  // the kept bytes do not fit this file: start again
      continue;
    }
    if (result.http_status != 200 && result.http_status != 206)
      throw HarnessError("download of " + url + " failed: HTTP " + std::to_string(result.http_status));
    if (result.http_status == 200) {
      result.resumed_from = 0;
      if (!sink.opened) std::ofstream(part, std::ios::binary | std::ios::trunc);  // an empty body
    }
    result.size = file_size_or_zero(part);
    return result;
  }
  throw HarnessError("download of " + url + " failed: HTTP 416 twice");
}

#endif

}  // namespace osor::harness

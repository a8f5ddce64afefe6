// One resumable HTTP(S) download with libcurl, for `osor weights fetch`. The body goes to a `.part` file: when it
// already holds N bytes the request carries `Range: bytes=N-` and a 206 answer is appended; a server that ignores
// Range (200) restarts the file from 0; 416 (the range does not fit) restarts once from 0. Redirects are followed
// (GitHub releases and Hugging Face answer with one). Built without libcurl (-DOSOR_WITH_CURL=OFF, or libcurl not
// found), http_downloader_available() is false and download_to_part() throws saying so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace osor::harness {

struct HttpDownload {
  long http_status = 0;
  uint64_t resumed_from = 0;  // bytes of the .part kept from an earlier, interrupted download
  uint64_t size = 0;          // size of the .part afterwards
};

bool http_downloader_available();

// Downloads `url` into `part`. Throws HarnessError naming the URL and the problem: HTTP status >= 400, the
// transfer cut short ("truncated": the bytes received stay in `part`, so the next call resumes), any other
// transfer error (libcurl's words), or no downloader in this build.
HttpDownload download_to_part(const std::string& url, const std::filesystem::path& part);

}  // namespace osor::harness

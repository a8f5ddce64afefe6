// A tiny HTTP/1.1 server for download tests: 127.0.0.1, a port the kernel picks, one thread, one request per
// connection (Connection: close). The test decides every answer through a handler, so it can send the right file,
// a wrong one, a 404, a body cut short (Content-Length larger than what is sent, then close), or honour Range.
// Every request's path and Range header are recorded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace osor::test {

struct HttpRequest {
  std::string path;   // as requested, e.g. "/download.pytorch.org/models/x.pth"
  std::string range;  // the Range header's value, empty when absent
};

struct HttpResponse {
  int status = 200;
  std::string body;
  long long content_length = -1;  // -1: body.size(); larger than the body: the connection closes early
  std::string content_range;      // for a 206
};

class HttpTestServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpTestServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("HttpTestServer: cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~HttpTestServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stopping_) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      answer(fd);
      ::close(fd);
    }
  }

  static std::string header_value(const std::string& head, const std::string& name) {
    const size_t at = head.find("\r\n" + name + ":");
    if (at == std::string::npos) return "";
    size_t begin = at + name.size() + 3;
    while (begin < head.size() && head[begin] == ' ') ++begin;
    return head.substr(begin, head.find("\r\n", begin) - begin);
  }

  void answer(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<size_t>(n));
    }
    const size_t sp = head.find(' ');
    HttpRequest request{head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1), header_value(head, "Range")};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
    }
    const HttpResponse r = handler_(request);
    const long long length = r.content_length >= 0 ? r.content_length : static_cast<long long>(r.body.size());
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Length: " + std::to_string(length) +
                      "\r\nConnection: close\r\n";
    if (!r.content_range.empty()) out += "Content-Range: " + r.content_range + "\r\n";
    out += "\r\n" + r.body;
    for (size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
};

// The answer of a server that honours "Range: bytes=N-" on `body` (206 with the rest), else 200 with all of it.
inline HttpResponse serve_with_range(const HttpRequest& request, const std::string& body) {
  const std::string prefix = "bytes=";
  if (request.range.rfind(prefix, 0) != 0) return {200, body, -1, ""};
  const size_t from = std::stoul(request.range.substr(prefix.size()));
  if (from >= body.size()) return {416, "", -1, "bytes */" + std::to_string(body.size())};
  return {206, body.substr(from), -1,
          "bytes " + std::to_string(from) + "-" + std::to_string(body.size() - 1) + "/" + std::to_string(body.size())};
}

}  // namespace osor::test

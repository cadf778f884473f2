#include "benchmarks/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "shm/clock.h"

namespace ringserve::bench {

namespace {

constexpr int kReadTimeoutMs = 600'000;

// The value of header `name` in a response head, "" when absent (names case-insensitive).
std::string header_value(std::string_view head, std::string_view name) {
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at < head.size()) {
    const size_t start = at + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, (end == std::string_view::npos ? head.size() : end) - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        ::strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return std::string(value);
    }
    at = end;
  }
  return "";
}

}  // namespace

HttpClient::~HttpClient() { disconnect(); }

void HttpClient::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpClient::ensure_connected(std::string* error) {
  if (fd_ >= 0) return true;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (fd_ < 0 || ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = "cannot connect to " + host_ + ":" + std::to_string(port_);
    disconnect();
    return false;
  }
  // A request is one small write; without this Nagle could hold it behind the previous ACK.
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return true;
}

bool HttpClient::fill(uint64_t* read_ns) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, kReadTimeoutMs) <= 0) return false;
  char chunk[16384];
  const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
  if (n <= 0) return false;
  if (read_ns != nullptr) *read_ns = shm::monotonic_ns();
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

int HttpClient::post(const std::string& path, const std::string& body, const EventFn& on_event,
                     std::string* response_body, std::string* error) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure_connected(error)) return 0;
    std::string request = "POST " + path;
    request += " HTTP/1.1\r\nHost: ";
    request += host_;
    request += "\r\nContent-Type: application/json\r\nContent-Length: ";
    request += std::to_string(body.size());
    request += "\r\n\r\n";
    request += body;
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()) &&
        fill(nullptr)) {
      break;
    }
    // A kept-alive connection the server had closed: once more on a new one.
    disconnect();
    if (attempt == 1) {
      *error = "connection closed before a response";
      return 0;
    }
  }
  uint64_t read_ns = shm::monotonic_ns();
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(&read_ns)) {
      *error = "connection closed in the response head";
      disconnect();
      return 0;
    }
  }
  const std::string head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end + 4);
  const int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  const bool chunked = header_value(head, "Transfer-Encoding") == "chunked";
  const bool close = header_value(head, "Connection") == "close";
  response_body->clear();
  if (!chunked) {
    const size_t length = std::strtoul(header_value(head, "Content-Length").c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      if (!fill(&read_ns)) break;
    }
    *response_body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    if (close) disconnect();
    return status;
  }
  // Chunked: decode chunks as they complete, and hand on each "\n\n"-terminated event.
  std::string events;
  for (;;) {
    const size_t line_end = buffer_.find("\r\n");
    size_t size = 0;
    if (line_end != std::string::npos) size = std::strtoul(buffer_.c_str(), nullptr, 16);
    if (line_end == std::string::npos || buffer_.size() < line_end + 2 + size + 2) {
      if (!fill(&read_ns)) {
        *error = "connection closed in a chunked body";
        disconnect();
        return status;
      }
      continue;
    }
    events.append(buffer_, line_end + 2, size);
    buffer_.erase(0, line_end + 2 + size + 2);
    for (size_t end; (end = events.find("\n\n")) != std::string::npos;) {
      const std::string_view event(events.data(), end);
      if (event.substr(0, 6) == "data: ") on_event(event.substr(6), read_ns);
      events.erase(0, end + 2);
    }
    if (size == 0) break;  // the last chunk (no trailers from the gateway)
  }
  *response_body = events;
  if (close) disconnect();
  return status;
}

}  // namespace ringserve::bench

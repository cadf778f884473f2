#include "tests/gateway/gateway_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {

Gateway::Gateway(const std::string& daemon, const std::vector<std::string>& extra) {
  log_path_ = "/tmp/" + unique_name("ringserve-http") + ".log";
  std::vector<std::string> argv = {RINGSERVE_HTTP_PATH, "--name", daemon, "--port", "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_ = ::fork();
  if (pid_ == 0) exec_logging_to(log_path_, /*append=*/false, argv);
  const std::string marker = "listening on http://127.0.0.1:";
  eventually(
      [&] {
        const std::string text = log();
        const size_t at = text.find(marker);
        if (at != std::string::npos) port_ = std::atoi(text.c_str() + at + marker.size());
        return port_ != 0;
      },
      std::chrono::milliseconds(5000));
}

Gateway::~Gateway() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  ::unlink(log_path_.c_str());
}

std::string Gateway::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string Gateway::log() const {
  std::ifstream f(log_path_);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

int Gateway::threads() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

nlohmann::json HttpResult::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::string HttpResult::header(const std::string& name) const {
  std::istringstream lines(headers);
  std::string line;
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  while (std::getline(lines, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || lower(line.substr(0, colon)) != lower(name)) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    return value;
  }
  return "";
}

HttpResult parse_http(const std::string& raw) {
  HttpResult r;
  size_t start = 0;
  // Skip "100 Continue" heads.
  for (;;) {
    const size_t end = raw.find("\r\n\r\n", start);
    if (end == std::string::npos) return r;
    r.headers = raw.substr(start, end - start);
    start = end + 4;
    if (r.headers.rfind("HTTP/1.1 100", 0) != 0) break;
  }
  if (r.headers.size() > 12) r.status = std::atoi(r.headers.c_str() + 9);
  r.body = raw.substr(start);
  return r;
}

std::vector<std::string> curl_argv(const std::string& url, const std::string& body,
                                   const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-i", "-N", "--max-time", "60", url};
  if (!body.empty()) {
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

HttpResult curl(const std::string& url, const std::string& body,
                const std::vector<std::string>& extra) {
  return parse_http(run(curl_argv(url, body, extra)).output);
}

std::vector<nlohmann::json> sse_events(const std::string& body, bool* done) {
  std::vector<nlohmann::json> events;
  *done = false;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) break;
    const std::string event = body.substr(at, end - at);
    at = end + 2;
    if (event == "data: [DONE]") {
      *done = true;
    } else if (event.rfind("data: ", 0) == 0) {
      events.push_back(nlohmann::json::parse(event.substr(6), nullptr, false));
    }
  }
  return events;
}

std::string sse_text(const std::vector<nlohmann::json>& events) {
  std::string text;
  for (const nlohmann::json& e : events) {
    if (!e.contains("choices") || e["choices"].empty()) continue;
    const nlohmann::json& c = e["choices"][0];
    if (c.contains("text")) text += c["text"].get<std::string>();
    if (c.contains("delta") && c["delta"].contains("content")) {
      text += c["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string read_until(int fd, const std::string& needle, std::chrono::milliseconds timeout,
                       bool* closed) {
  std::string got;
  if (closed != nullptr) *closed = false;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (got.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (closed != nullptr) *closed = true;
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string post_request(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

size_t requests_held(const std::string& daemon) {
  std::unique_ptr<Client> client;
  std::vector<RequestSummary> held;
  if (!Client::connect(daemon, &client).ok() || !client->requests(&held).ok()) return 999;
  return held.size();
}

std::string write_temp(const std::string& prefix, const std::string& text) {
  std::string path = "/tmp/" + unique_name(prefix);
  std::ofstream(path) << text;
  return path;
}

}  // namespace ringserve::testing

// For the gateway's integration tests: a ringserve-http process on a free port, curl runs
// parsed into status, headers and body, SSE bodies parsed into their events, and raw sockets
// for the clients curl cannot play (slow, hostile, hundreds at once).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ringserve::testing {

class Gateway {
 public:
  // Starts ringserve-http --name daemon --port 0 (plus extra args); ready() once it listens.
  explicit Gateway(const std::string& daemon, const std::vector<std::string>& extra = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  bool ready() const { return port_ != 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url(const std::string& path) const;
  std::string log() const;
  // Threads of the process (/proc/PID/status).
  int threads() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct HttpResult {
  int status = 0;
  std::string headers;  // the head as received, lower-cased names not guaranteed
  std::string body;
  nlohmann::json json() const;
  std::string header(const std::string& name) const;  // "" when absent (case-insensitive)
};

// curl -s -i URL [-d BODY] [extra...]; a POST when body is given.
HttpResult curl(const std::string& url, const std::string& body = "",
                const std::vector<std::string>& extra = {});
std::vector<std::string> curl_argv(const std::string& url, const std::string& body,
                                   const std::vector<std::string>& extra);
HttpResult parse_http(const std::string& raw);

// The JSON of every "data: {...}" event of an SSE body; `done` set when "data: [DONE]" ended it.
std::vector<nlohmann::json> sse_events(const std::string& body, bool* done);
// The concatenated delta content (chat) or text (completion) of the events.
std::string sse_text(const std::vector<nlohmann::json>& events);

// Raw TCP to 127.0.0.1:port; -1 on failure.
int connect_to(int port);
bool send_all(int fd, const std::string& data);
// Reads until `needle` appears, the peer closes or the timeout; returns what was read.
std::string read_until(int fd, const std::string& needle, std::chrono::milliseconds timeout,
                       bool* closed = nullptr);
// A POST request with a JSON body, as bytes.
std::string post_request(const std::string& path, const std::string& body);

// How many requests `daemon` holds, running or waiting, from any client (999: cannot tell).
size_t requests_held(const std::string& daemon);
// Writes `text` to a new file under /tmp named after `prefix`; returns its path.
std::string write_temp(const std::string& prefix, const std::string& text);

}  // namespace ringserve::testing

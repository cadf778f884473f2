// A minimal HTTP/1.1 client over one kept-alive TCP connection, for measuring ringserve-http
// against the shared-memory client: it POSTs a JSON body and hands each server-sent event's
// data to a callback with the CLOCK_MONOTONIC time of the read that completed it, so token
// times are taken as the shm client takes them (when the client can first see the token).
// Plain POSIX sockets: nothing between the wire and the clock but a chunked-encoding and SSE
// parser. Not thread-safe: one client per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace ringserve::bench {

class HttpClient {
 public:
  // Called with the text after "data: " of each event, and when it was read.
  using EventFn = std::function<void(std::string_view data, uint64_t read_ns)>;

  HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `path` and reads the whole response, calling on_event for each SSE event
  // of a text/event-stream body. Returns the HTTP status (0 when the connection failed or the
  // response was malformed, with *error saying why). A non-SSE body is left in *body.
  int post(const std::string& path, const std::string& body, const EventFn& on_event,
           std::string* response_body, std::string* error);

 private:
  bool ensure_connected(std::string* error);
  void disconnect();
  // Reads more bytes into buffer_; false at end of file or on an error (timeout 600 s).
  bool fill(uint64_t* read_ns);

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet parsed
};

}  // namespace ringserve::bench

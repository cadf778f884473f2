// HTTP/1.1 responses as bytes: a whole response with Content-Length, and the head and chunks of
// a chunked Server-Sent Events stream. Pure; the server writes what these return.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringserve::gateway {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones (Retry-After, Allow)
};

// The whole response; `keep_alive` false adds "Connection: close".
std::string serialize(const HttpResponse& response, bool keep_alive);

// The head of a 200 text/event-stream response whose body is chunked.
std::string sse_head(bool keep_alive);
// One chunk of a chunked body ("" gives nothing: an empty chunk would end the body).
std::string http_chunk(std::string_view data);
// The chunk that ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

const char* reason_phrase(int status);

}  // namespace ringserve::gateway

#include "tests/gateway/http_fuzz.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>
#include <vector>

#include "gateway/routes.h"

namespace ringserve::fuzz {

void run_http_input(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  // As http_server.cc sets them, smaller so the fuzzer reaches them.
  http::request_parser<http::string_body> parser;
  parser.header_limit(1024);
  parser.body_limit(4096);
  parser.eager(true);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  boost::beast::error_code ec;
  while (!rest.empty() && !parser.is_done()) {
    const size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec || used == 0) return;
    rest.remove_prefix(used);
  }
  if (!parser.is_done()) return;
  const http::request<http::string_body>& req = parser.get();
  // The route only; a /health or /metrics request asks a daemon that does not exist.
  static gateway::DaemonLink link("ringserve-fuzz-no-daemon");
  static const std::vector<std::string> keys = {"key"};
  const gateway::RequestView view{req.method_string(), req.target(),
                                  req[http::field::authorization], req.body()};
  (void)gateway::route(view, keys, &link);
  (void)gateway::route(view, {}, &link);
  // And the body as every endpoint's JSON, whatever the target said.
  gateway::CompletionRequest out;
  (void)gateway::parse_completion_request(gateway::Endpoint::kChat, req.body(), &out);
  (void)gateway::parse_completion_request(gateway::Endpoint::kCompletion, req.body(), &out);
  gateway::TextRequest text;
  (void)gateway::parse_text_request(gateway::TextRequest::Kind::kTokenize, req.body(), &text);
  (void)gateway::parse_text_request(gateway::TextRequest::Kind::kDetokenize, req.body(), &text);
}

}  // namespace ringserve::fuzz

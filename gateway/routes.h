// Which endpoint a request is for and the answer of every endpoint that is not a generation:
// authentication, 404 / 405, the chat page, /health, /metrics, /v1/models, and the parsing of
// completion bodies. The server calls route() once per request; a kGenerate result goes to the
// daemon.
//
// Thread-safety: route() may run on several event loops at once (DaemonLink is thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/daemon_link.h"
#include "gateway/http_message.h"
#include "gateway/openai_request.h"
#include "gateway/text_requests.h"

namespace ringserve::gateway {

struct RequestView {
  std::string_view method;
  std::string_view target;         // path and query
  std::string_view authorization;  // the Authorization header, "" when absent
  std::string_view body;
};

struct RouteResult {
  bool generate = false;       // true: start `request`
  bool ask_tokenizer = false;  // true: answer `text_request` off the event loop
  HttpResponse response;       // neither: send this
  CompletionRequest request;
  TextRequest text_request;
};

// `api_keys` empty: no authentication. /health needs no key (load balancers probe it), nor do
// the chat page's files.
RouteResult route(const RequestView& req, const std::vector<std::string>& api_keys,
                  DaemonLink* link);

// A response with OpenAI's error body.
HttpResponse error_response(const ApiError& error);

}  // namespace ringserve::gateway

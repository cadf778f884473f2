#include "gateway/routes.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "gateway/openai_response.h"
#include "gateway/web_page.h"
#include "tools/prometheus_text.h"

namespace ringserve::gateway {
namespace {

// A heartbeat older than this means the daemon's loop is stuck: unhealthy.
constexpr uint64_t kStaleHeartbeatNs = 3'000'000'000;

// Compares without an early exit, so the time taken does not say how much of a key matched.
bool same_key(std::string_view a, std::string_view b) {
  if (b.empty()) return false;
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i % b.size()]);
  }
  return diff == 0;
}

bool authorized(std::string_view header, const std::vector<std::string>& keys) {
  if (keys.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.substr(0, kBearer.size()) != kBearer) return false;
  const std::string_view key = header.substr(kBearer.size());
  bool ok = false;
  for (const std::string& k : keys) ok = same_key(key, k) || ok;
  return ok;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse health(DaemonLink* link) {
  DaemonStatus st;
  const Status s = link->read(&st, nullptr);
  std::string problem;
  if (!s.ok()) {
    problem = s.to_string();
  } else if (st.heartbeat_age_ns > kStaleHeartbeatNs) {
    problem = "daemon not responding (heartbeat " +
              std::to_string(st.heartbeat_age_ns / 1'000'000) + " ms old)";
  }
  if (problem.empty()) return json_response(200, R"({"status":"ok"})");
  const nlohmann::json body = {{"status", "unavailable"}, {"error", problem}};
  return json_response(503, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse metrics(DaemonLink* link) {
  DaemonStatus st;
  DaemonMetrics m;
  const Status s = link->read(&st, &m);
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  // A daemon that cannot be read is `ringserve_up 0` with a 200: the scrape itself worked.
  r.body = s.ok() ? prometheus::render(link->daemon_name(), st, m)
                  : prometheus::render_down(link->daemon_name());
  return r;
}

HttpResponse models(DaemonLink* link) {
  DaemonStatus st;
  const Status s = link->read(&st, nullptr);
  if (!s.ok()) return error_response(error_from_status(s));
  return json_response(200,
                       render_models(link->model_id(), static_cast<int64_t>(std::time(nullptr))));
}

ApiError api_error(int status, const std::string& type, const std::string& message,
                   const std::string& code = "") {
  return {status, message, type, "", code, 0};
}

}  // namespace

HttpResponse error_response(const ApiError& error) {
  HttpResponse r = json_response(error.status, render_error(error));
  if (error.retry_after_s != 0)
    r.headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  return r;
}

RouteResult route(const RequestView& req, const std::vector<std::string>& api_keys,
                  DaemonLink* link) {
  RouteResult out;
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  // The chat page needs no key: it holds nothing secret, and its requests send the key.
  if (const WebAsset* asset = find_web_asset(path)) {
    if (req.method == "GET") {
      out.response = web_response(*asset);
    } else {
      out.response =
          error_response(api_error(405, "invalid_request_error",
                                   std::string(path) + " takes GET only", "method_not_allowed"));
      out.response.headers.emplace_back("Allow", "GET");
    }
    return out;
  }
  struct Endpoint_ {
    std::string_view path;
    std::string_view method;
  };
  static constexpr Endpoint_ kEndpoints[] = {
      {"/health", "GET"},          {"/metrics", "GET"},
      {"/v1/models", "GET"},       {"/v1/chat/completions", "POST"},
      {"/v1/completions", "POST"}, {"/tokenize", "POST"},
      {"/detokenize", "POST"}};
  const Endpoint_* found = nullptr;
  for (const Endpoint_& e : kEndpoints) {
    if (e.path == path) found = &e;
  }
  if (found == nullptr) {
    out.response = error_response(
        api_error(404, "invalid_request_error", "no endpoint " + std::string(path), "not_found"));
    return out;
  }
  if (found->method != req.method) {
    out.response = error_response(
        api_error(405, "invalid_request_error",
                  std::string(path) + " takes " + std::string(found->method) + " only",
                  "method_not_allowed"));
    out.response.headers.emplace_back("Allow", std::string(found->method));
    return out;
  }
  if (path == "/health") {
    out.response = health(link);
    return out;
  }
  if (!authorized(req.authorization, api_keys)) {
    out.response = error_response(
        api_error(401, "invalid_request_error",
                  req.authorization.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                            : "incorrect API key",
                  "invalid_api_key"));
    return out;
  }
  if (path == "/metrics") {
    out.response = metrics(link);
  } else if (path == "/v1/models") {
    out.response = models(link);
  } else if (path == "/tokenize" || path == "/detokenize") {
    const ApiError e = parse_text_request(
        path == "/tokenize" ? TextRequest::Kind::kTokenize : TextRequest::Kind::kDetokenize,
        req.body, &out.text_request);
    if (e.ok()) {
      out.ask_tokenizer = true;
    } else {
      out.response = error_response(e);
    }
  } else {
    const Endpoint endpoint =
        path == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletion;
    const ApiError e = parse_completion_request(endpoint, req.body, &out.request);
    if (e.ok()) {
      out.generate = true;
    } else {
      out.response = error_response(e);
    }
  }
  return out;
}

}  // namespace ringserve::gateway

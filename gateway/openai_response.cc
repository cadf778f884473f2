#include "gateway/openai_response.h"

#include <nlohmann/json.hpp>

namespace ringserve::gateway {
namespace {

using nlohmann::json;

// Token texts are whole UTF-8 characters, and the daemon's model id is sanitized; replacing
// invalid bytes is the belt to those braces (a throwing dump() would end the process).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json envelope(const ResponseIds& ids, bool chunk) {
  const char* object = ids.endpoint == Endpoint::kChat
                           ? (chunk ? "chat.completion.chunk" : "chat.completion")
                           : "text_completion";
  return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", ids.model}};
}

json nullable(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

const char* finish_reason_name(FinishReason reason) {
  return reason == FinishReason::kLength ? "length" : "stop";
}

std::string render_error(const ApiError& error) {
  return dump({{"error",
                {{"message", error.message},
                 {"type", error.type},
                 {"param", nullable(error.param)},
                 {"code", nullable(error.code)}}}});
}

std::string render_completion(const ResponseIds& ids, const std::string& text, FinishReason reason,
                              const Usage& usage) {
  json j = envelope(ids, false);
  json choice = {
      {"index", 0}, {"finish_reason", finish_reason_name(reason)}, {"logprobs", nullptr}};
  if (ids.endpoint == Endpoint::kChat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string render_chunk_event(const ResponseIds& ids, const std::string& text, bool first,
                               FinishReason finish, bool include_usage) {
  json j = envelope(ids, true);
  json choice = {{"index", 0}, {"logprobs", nullptr}};
  choice["finish_reason"] =
      finish == FinishReason::kNone ? json(nullptr) : json(finish_reason_name(finish));
  if (ids.endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (finish == FinishReason::kNone || !text.empty()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  if (include_usage) j["usage"] = nullptr;
  return "data: " + dump(j) + "\n\n";
}

std::string render_usage_event(const ResponseIds& ids, const Usage& usage) {
  json j = envelope(ids, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(usage);
  return "data: " + dump(j) + "\n\n";
}

std::string render_error_event(const ApiError& error) {
  return "data: " + render_error(error) + "\n\n";
}

std::string render_models(const std::string& model, int64_t created) {
  return dump({{"object", "list"},
               {"data", json::array({{{"id", model},
                                      {"object", "model"},
                                      {"created", created},
                                      {"owned_by", "ringserve"}}})}});
}

}  // namespace ringserve::gateway

// The body of POST /v1/chat/completions and /v1/completions, parsed and checked: pure, no I/O,
// so it is unit-tested and fuzzed (tests/gateway/). Every error is a 400 that names the field.
//
// Accepted: model (ignored: the daemon serves one model), messages / prompt, stream,
// stream_options.include_usage, max_tokens / max_completion_tokens, temperature, top_p, seed,
// stop (a string or up to 8 strings), user (ignored), and the extensions top_k, min_p and
// repetition_penalty. Rejected as not supported: n > 1, tools, functions, logprobs,
// logit_bias, non-text response_format, non-zero presence/frequency penalty, echo, best_of > 1,
// suffix. Unknown fields are ignored, as the SDKs send new ones.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/api_error.h"
#include "ringserve/client.h"

namespace ringserve::gateway {

enum class Endpoint { kChat, kCompletion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::vector<ChatMessage> messages;  // kChat
  std::string prompt;                 // kCompletion
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  std::optional<uint32_t> max_tokens;  // absent: the daemon's max_tokens_limit
  GenerateParams params;               // max_tokens filled in by the caller when absent
};

// Largest nesting of arrays and objects accepted in a body (deeper ones are not requests).
inline constexpr int kMaxJsonDepth = 32;

// A request body that is a JSON object no deeper than kMaxJsonDepth, parsed into *out; else a
// 400. Shared by every endpoint that takes a JSON body.
ApiError parse_json_object(std::string_view body, nlohmann::json* out);
// "'field' must be EXPECTED, not TYPE": the 400 of a field of the wrong JSON type.
ApiError wrong_type(const std::string& field, const char* expected, const nlohmann::json& value);

// Parses `body` for `endpoint`. Returns an ApiError with status 0 when *out holds the request.
ApiError parse_completion_request(Endpoint endpoint, std::string_view body, CompletionRequest* out);

}  // namespace ringserve::gateway
